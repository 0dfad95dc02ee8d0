"""Response models of the dead-letter routes (`/cep/dead-letters`), for /openapi.json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class DeadLetterReplay(BaseModel):
    """What a replay republishes: the subject, the headers, and the bytes (as JSON when they are JSON)."""

    subject: str
    headers: dict[str, str]
    payload: Any = Field(None, description="the bytes as JSON, when they are JSON")
    data_base64: str = Field(description="the bytes themselves")


class DeadLetterRecord(BaseModel):
    id: str
    tenant: str
    source: str = Field(
        description="rule_failure | series_refused | pattern_dropped | undecodable | poison | alert_dropped"
        " | max_deliveries | delivery_failed"
    )
    rule_id: str | None
    error: str
    at: str = Field(description="when the failure happened (RFC 3339)")
    recorded_at: str
    event: dict[str, Any] | None = Field(description="the event (or original subject and payload), when known")
    origin: dict[str, Any] | None = Field(description="where the message was: stream, seq, subject, consumer")
    replay: DeadLetterReplay | None = Field(description="what a replay republishes; null: nothing to replay")
    replay_count: int
    replayed_at: str | None
    replayed_by: str | None


class DeadLetterList(BaseModel):
    items: list[DeadLetterRecord]
    total: int
    next_cursor: str | None


class DeadLetterReplayed(BaseModel):
    """`POST /cep/dead-letters/{id}/replay`: the letter as now recorded and the message published."""

    dead_letter: DeadLetterRecord
    published: dict[str, Any] = Field(description="subject, msg_id, stream and seq of the republished message")
