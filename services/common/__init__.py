"""Shared code: the pure domain core and the few adapters every service uses."""
