"""Alert transitions (fired, updated, resolved) with ids derived from their content, so replays reproduce them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, Literal

from services.common.domain.events.model import format_time, parse_time

# `acked` is never produced by the engine: the notifier builds it from an ACK notice, to tell channels that track
# incidents (PagerDuty) that someone is on it.
TransitionKind = Literal["fired", "updated", "resolved", "acked"]
_TIME_FIELDS = ("at", "started_at", "last_seen")


def _digest(*parts: Any) -> str:
    # JSON of a list keeps the parts unambiguous ("a,b" + "c" never equals "a" + "b,c").
    return hashlib.sha256(
        _compact_json([p if not isinstance(p, datetime) else format_time(p) for p in parts]).encode()
    ).hexdigest()[:32]


def _compact_json(parts: list[Any]) -> str:
    """`json.dumps(parts, separators=(",", ":"))`, written directly when every part is a str or an int (the ids'
    parts, one `json.dumps` call costing more than the hash): the same text, so the same ids."""
    pieces = []
    for part in parts:
        kind = type(part)
        if kind is str:
            pieces.append(encode_basestring_ascii(part))
        elif kind is int:
            pieces.append(int.__repr__(part))
        else:
            return json.dumps(parts, separators=(",", ":"))
    return "[" + ",".join(pieces) + "]"


# Fingerprints and episode ids are asked for again at each transition of a series and episode: the latest ones are
# remembered (pure functions of their arguments; equal datetimes are one instant, so one id).
IDS_REMEMBERED = 4096


@lru_cache(maxsize=IDS_REMEMBERED)
def fingerprint(tenant: str, rule_id: str, group_key: str) -> str:
    """The identity of an alert series: one rule, one group key, in one tenant."""
    return _digest("fingerprint", tenant, rule_id, group_key)


@lru_cache(maxsize=IDS_REMEMBERED)
def episode_id(tenant: str, rule_id: str, rule_version: int, group_key: str, started_at: datetime) -> str:
    """The id of one episode (the event on /cep/events): the series plus the episode start in event time."""
    return _digest("episode", tenant, rule_id, rule_version, group_key, started_at)


def transition_id(
    tenant: str,
    rule_id: str,
    rule_version: int,
    group_key: str,
    started_at: datetime,
    kind: str,
    sequence: int = 0,
) -> str:
    """The id of one transition of an episode; `sequence` tells the `updated` transitions of one episode apart."""
    return _digest("transition", tenant, rule_id, rule_version, group_key, started_at, kind, sequence)


def group_key_of(names: list[str] | None, values: list[Any]) -> str:
    """`host=gt-01,region=eu` in group_by order; "" without group_by. Non-strings are written as JSON."""
    if not names:
        return ""
    return ",".join(f"{name}={_label(value)}" for name, value in zip(names, values, strict=True))


# In group key text a comma starts a new pair only before `name=`: a value may hold commas (not `,<name>=`).
_PAIR_START = re.compile(r",(?=[^,=]+=)")


def group_pairs(group_key: str) -> list[tuple[str, str]]:
    """The (group-by path, value text) pairs of a group key, in order: what `group_key_of` wrote. A value holding
    `,<name>=` reads as two pairs (the text cannot tell); JSON-written values stay text."""
    return (
        [(name, value) for name, _, value in (pair.partition("=") for pair in _PAIR_START.split(group_key))]
        if group_key
        else []
    )


def _label(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Transition:
    """One change of an episode, as published on the alert stream.

    `event_id` is the episode (the event on /cep/events); `at` is the event time of the change;
    `notify` says whether the notifier should send it (a resolution of an event rule only with
    `notify_resolved`; schedule runs resolve silently); `reason` says why it happened. `labels` are the
    episode's labels (labels/event_labels.py), fixed when it opened; a message from before labels has none.
    """

    transition_id: str
    kind: TransitionKind
    tenant: str
    rule_id: str
    rule_version: int
    rule_name: str
    severity: str
    trigger_type: str
    event_id: str
    fingerprint: str
    group_key: str
    at: datetime
    started_at: datetime
    count: int
    last_seen: datetime
    payload: Mapping[str, Any]
    value: Any
    explanation: list[dict[str, Any]]
    summary: str
    source_event_id: str | None
    reason: str
    notify: bool = True
    priority: str = "P3"
    # Rule-over-alerts hops: 1 for a transition caused by an ordinary event (or a timer), the causing alert event's
    # depth + 1 for one caused by a `cep.alert.*` event (domain/events/alert_events.py).
    depth: int = 1
    labels: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict; times as RFC 3339 'Z' strings."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _TIME_FIELDS:
            out[name] = format_time(out[name])
        out["payload"] = dict(self.payload)
        out["explanation"] = list(self.explanation)
        out["labels"] = dict(self.labels)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transition:
        """Rebuild a transition from `as_dict()` output (unknown keys are ignored, for forward compatibility)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for name in _TIME_FIELDS:
            values[name] = parse_time(values[name])
        return cls(**values)
