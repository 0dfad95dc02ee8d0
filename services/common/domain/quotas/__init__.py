"""Quotas: what one tenant may hold or send, and the active-series quotas of a rule engine."""
