"""Prometheus remote_write and OTLP bodies turned into the contract's flat events (docs/ingest.md)."""
