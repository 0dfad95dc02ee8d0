"""Delivery by the tenants' notification policies: the notifier's copy of the policies and the jobs they add."""
