"""Alerts posted to Alertmanager's v2 API: what a postable alert becomes, and the built-in rule that handles it."""
