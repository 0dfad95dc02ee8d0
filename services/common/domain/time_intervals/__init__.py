"""Alertmanager's `time_intervals`: when a route is muted or active, and the windows of recurring silences."""
