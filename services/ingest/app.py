"""The ingest service shell: holds the NATS connection the ingest pipeline publishes through."""

from __future__ import annotations

from services.common.service import NatsService


class IngestService(NatsService):
    """Ingest: validates events and persists them to JetStream before anyone gets a 202."""

    name = "ingest"
