"""Ingest service: validates, persists and routes incoming events."""
