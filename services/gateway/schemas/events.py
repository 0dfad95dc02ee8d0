"""Wire models of the Events routes: the request bodies (validated) and the Event shape (for the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventStatus = Literal["open", "acked", "resolved"]
FeedbackLabel = Literal["true_positive", "false_positive"]
FeedbackFilter = Literal["true_positive", "false_positive", "any", "none"]
NotificationStatus = Literal["pending", "sent", "failed", "retrying", "suppressed"]


class AckBody(BaseModel):
    """`POST /cep/events/{event_id}/ack`: an optional note, kept in the event's history."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)


class FeedbackBody(BaseModel):
    """`POST /cep/events/{event_id}/feedback`: whether the event was a real problem (feeds precision figures)."""

    model_config = ConfigDict(extra="forbid")

    label: FeedbackLabel
    note: str | None = Field(default=None, max_length=2000)


class AttemptLine(BaseModel):
    n: int
    at: str
    status: str
    latency_ms: float | None = None
    error: str | None = None


class EventNotification(BaseModel):
    """One (transition, action) delivery: `status` follows the newest attempt; `attempt_log` has a line per attempt."""

    channel: str
    channel_id: str | None
    type: str
    status: NotificationStatus
    attempts: int
    last_error: str | None
    last_attempt_at: str | None
    attempt_log: list[AttemptLine]
    transition: Literal["fired", "resolved", "updated", "acked"] = "fired"
    action_index: int = 0
    reason: str | None = Field(
        default=None, description="why a stage stopped or delayed it (storm budget, cooldown) or why it failed"
    )
    response_excerpt: str | None = Field(default=None, description="the start of the answer (api_call channels)")
    via: str | None = Field(
        default=None, description="`policy:<route>` when the tenant's notification policy sent it (no rule action)"
    )


class HistoryEntry(BaseModel):
    at: str
    status: str
    actor: str
    note: str | None = None


class Feedback(BaseModel):
    label: FeedbackLabel
    note: str | None
    by: str | None
    at: str | None


class EventRecord(BaseModel):
    """An event (one episode of one rule for one group key) as `GET /cep/events/{event_id}` returns it."""

    event_id: str
    rule_id: str
    rule_name: str
    rule_version: int
    tenant: str
    trigger_type: str
    severity: str
    priority: str
    status: EventStatus
    fired_at: str
    last_seen: str
    resolved_at: str | None
    count: int
    group_key: str
    fingerprint: str
    summary: str
    payload: dict[str, Any]
    value: Any = None
    explanation: list[dict[str, Any]]
    notifications: list[EventNotification]
    suppressed: int = Field(default=0, description="notifications of this event a noise stage suppressed")
    history: list[HistoryEntry]
    acked_by: str | None
    acked_at: str | None
    feedback: Feedback | None = None
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="the episode's labels: severity, priority, alertname, the rule's, its group key's",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="the rule's annotations as rendered when the event fired (or the error text)"
    )
    silenced_by: list[str] = Field(
        default_factory=list, description="ids of the silences that mute this open event now (query time)"
    )
    inhibited_by: list[str] = Field(
        default_factory=list, description="ids of the open events that inhibit this one now (query time)"
    )


class EventRecordList(BaseModel):
    items: list[EventRecord]
    total: int
    next_cursor: str | None
