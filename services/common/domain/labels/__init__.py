"""Alertmanager's label sets, their fingerprints, and label matchers (`=`, `!=`, `=~`, `!~`) with their syntax."""
