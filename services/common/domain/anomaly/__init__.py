"""Streaming anomaly detection: scores explained, the detector methods, and backtests of draft rules."""
