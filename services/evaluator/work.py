"""Work messages as a shard sees them: CEP_WORK payloads decoded into typed items (pure, no I/O).

A work message holds one item, or (kind `events`) a router batch of events for the shard. Events and rule
changes carry their position on the raw stream, `(raw sequence, index among that message's events)`; the
router routes in raw order, so a shard that remembers the last position it applied (`raw_done`) recognises
the copies a router replay publishes again under other batch boundaries (`fresh`). An item is known by
`(work sequence, index in its message)` (`item_id`): poison is per item, not per message.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.common import codec
from services.common.domain.events.model import Event, parse_time
from services.common.domain.rules.model import Rule


class WorkError(ValueError):
    """A work message that cannot be decoded: poison, acknowledged and counted, never retried."""


RawPosition = tuple[int, int]  # (raw stream sequence, index among the events of that raw message)
ItemId = tuple[int, int]  # (work stream sequence, index in the work message)
NOWHERE: RawPosition = (0, 0)  # before the first raw message


@dataclass(frozen=True)
class EventWork:
    """An event; `index` is its place in a batched message, `raw` its raw position (None: an old single one)."""

    seq: int
    event: Event
    index: int = 0
    raw: RawPosition | None = None


@dataclass(frozen=True)
class RuleWork:
    """A rule change; `rule` is the validated rule of an upsert (None for a delete)."""

    seq: int
    change: codec.RuleChange
    rule: Rule | None
    raw: RawPosition | None = None


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


_MALFORMED = (ValueError, KeyError, TypeError, AttributeError, ValidationError)


def item_id(item: Work) -> ItemId:
    return item.seq, item.index if isinstance(item, EventWork) else 0


def decode(seq: int, data: bytes) -> Work:
    """Decode a one-item work message (`codec.work_*`) found at stream sequence `seq`; WorkError when malformed."""
    items, bad = decode_message(seq, data)
    if bad or len(items) != 1:
        raise WorkError(next(iter(bad.values()), "not a one-item work message"))
    return items[0]


def decode_message(seq: int, data: bytes) -> tuple[list[Work], dict[int, str]]:
    """The items of the work message at stream sequence `seq`, and the malformed items of a batch by index.

    WorkError when the message as a whole is malformed; one bad event of a batch leaves the others decoded.
    """
    try:
        body = codec.loads(data)
        if isinstance(body, dict) and body.get("kind") == "events":
            return _events(seq, body["events"])
        return [_decode(seq, body)], {}
    except WorkError:
        raise
    except _MALFORMED as exc:
        raise WorkError(f"malformed work message: {type(exc).__name__}: {exc}") from None


def _events(seq: int, entries: Any) -> tuple[list[Work], dict[int, str]]:
    if not isinstance(entries, list):
        raise WorkError("`events` of a work message is a list")
    items: list[Work] = []
    bad: dict[int, str] = {}
    for index, entry in enumerate(entries):
        try:
            raw = (int(entry["seq"]), int(entry["index"]))
            items.append(EventWork(seq, codec.event_from_dict(entry["event"]), index, raw))
        except _MALFORMED as exc:
            bad[index] = f"malformed work item: {type(exc).__name__}: {exc}"
    return items, bad


def _raw(body: dict[str, Any]) -> RawPosition | None:
    raw = body.get("raw")
    return None if raw is None else (int(raw[0]), int(raw[1]))


def _decode(seq: int, body: Any) -> Work:
    if not isinstance(body, dict):
        raise WorkError("a work message is a JSON object")
    kind = body.get("kind")
    if kind == "event":
        return EventWork(seq, codec.event_from_dict(body["event"]))
    if kind == "rule":
        change = codec.RuleChange.from_dict(body["change"])
        rule = None if change.op == "delete" else Rule.model_validate(change.rule)
        return RuleWork(seq, change, rule, _raw(body))
    if kind == "tick":
        return TickWork(seq, parse_time(body["now"]))
    if kind == "trigger":
        return TriggerWork(seq, codec.event_from_dict(body["event"]), str(body["rule_id"]), str(body["reply"]))
    raise WorkError(f"unknown work kind {kind!r}")


def fresh(items: Sequence[Work], raw_done: RawPosition) -> tuple[list[Work], RawPosition]:
    """The items not applied yet, and the raw position applied once they are.

    An event or rule change at or before `raw_done` is a copy from a router replay: left out. Items without
    a raw position (ticks, triggers, messages of earlier versions) always count.
    """
    out: list[Work] = []
    for item in items:
        raw = item.raw if isinstance(item, EventWork | RuleWork) else None
        if raw is not None:
            if raw <= raw_done:
                continue
            raw_done = raw
        out.append(item)
    return out, raw_done


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
