"""Sliding event-time windows and what a metric or anomaly rule measures over them."""
