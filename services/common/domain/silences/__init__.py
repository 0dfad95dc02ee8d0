"""Silences as Alertmanager keeps them: state at a time, muting, creation, edits, expiry; plus recurring ones."""
