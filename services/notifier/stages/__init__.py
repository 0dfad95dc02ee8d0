"""The notifier's stages between an alert and its delivery jobs, one module each, composed in `multistage.py`."""
