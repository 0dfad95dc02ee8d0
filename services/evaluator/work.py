"""Work messages as a shard sees them: CEP_WORK payloads decoded into typed items (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.common import codec
from services.common.domain.events import Event, parse_time
from services.common.domain.rules import Rule


class WorkError(ValueError):
    """A work message that cannot be decoded: poison, acknowledged and counted, never retried."""


@dataclass(frozen=True)
class EventWork:
    seq: int
    event: Event


@dataclass(frozen=True)
class RuleWork:
    """A rule change; `rule` is the validated rule of an upsert (None for a delete)."""

    seq: int
    change: codec.RuleChange
    rule: Rule | None


@dataclass(frozen=True)
class TickWork:
    seq: int
    now: datetime


@dataclass(frozen=True)
class TriggerWork:
    seq: int
    event: Event
    rule_id: str
    reply: str


Work = EventWork | RuleWork | TickWork | TriggerWork


def decode(seq: int, data: bytes) -> Work:
    """Decode one work message (`codec.work_*`) found at stream sequence `seq`; WorkError when it is malformed."""
    try:
        body = codec.loads(data)
        return _decode(seq, body)
    except WorkError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
        raise WorkError(f"malformed work message: {type(exc).__name__}: {exc}") from None


def _decode(seq: int, body: Any) -> Work:
    if not isinstance(body, dict):
        raise WorkError("a work message is a JSON object")
    kind = body.get("kind")
    if kind == "event":
        return EventWork(seq, codec.event_from_dict(body["event"]))
    if kind == "rule":
        change = codec.RuleChange.from_dict(body["change"])
        rule = None if change.op == "delete" else Rule.model_validate(change.rule)
        return RuleWork(seq, change, rule)
    if kind == "tick":
        return TickWork(seq, parse_time(body["now"]))
    if kind == "trigger":
        return TriggerWork(seq, codec.event_from_dict(body["event"]), str(body["rule_id"]), str(body["reply"]))
    raise WorkError(f"unknown work kind {kind!r}")


def steps(items: Sequence[Work], chunk: int, careful_through: int = 0) -> Iterator[list[Work]]:
    """Group items into engine calls, in order: runs of consecutive events up to `chunk` long, anything else alone.

    Items at or below `careful_through` go one per call, so a replay after an engine failure finds the culprit.
    """
    run: list[Work] = []
    for item in items:
        single = item.seq <= careful_through
        if isinstance(item, EventWork) and not single:
            run.append(item)
            if len(run) >= chunk:
                yield run
                run = []
            continue
        if run:
            yield run
            run = []
        yield [item]
    if run:
        yield run
