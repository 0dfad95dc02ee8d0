"""Ingest figures shared by the HTTP route (gateway process) and the router (ingest process)."""

from __future__ import annotations

from prometheus_client import Counter

# result: accepted (durable), rejected (an invalid item), unavailable (NATS failed before its PubAck)
INGEST_EVENTS = Counter("cep_ingest_events", "Ingested items by outcome", ["result"])
