"""Notifier service: the delivery pipeline and one module per channel type."""
