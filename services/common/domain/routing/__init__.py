"""Alertmanager's routing tree: which routes a label set takes, with which receiver, grouping and timings."""
