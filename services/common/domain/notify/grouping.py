"""Grouped notifications, pure: which group an alert's notification joins, and when a group's batch goes out.

Grouping is on for a rule when its `suppression` sets `group_by` or `group_wait`. Notifications of alerts whose
payloads agree on the `group_by` paths join one group: the first batch goes out `group_wait` after the first
notification, later batches at most every `group_interval`, each as ONE message per channel listing every
member. While a group has alerts firing that nobody acknowledged, it is sent again every `repeat_interval`
(when set); an ACK or a resolution takes an alert out of the repeats. The state lives in the notifier's KV
bucket; timers are delayed messages in the delivery stream that carry the flush number they were set for, so
a timer made stale by a later flush does nothing.

A notification policy route groups the same way with `whole` set (services/common/domain/routing/route_groups.py),
as Alertmanager's dispatcher does: a batch is then the group's whole alert set, its firing alerts and those
resolved since the last batch (the resolved ones then leave the group), not only the transitions since the last.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.common.domain.rules.durations import parse_duration
from services.common.domain.rules.paths import MISSING, lookup

DEFAULT_WAIT = 30.0
DEFAULT_INTERVAL = 300.0
PENDING_KEPT = 500  # members per batch; more are counted ("and N more"), so a state stays a few hundred KB
RECENT_KEPT = 2000


@dataclass(frozen=True)
class GroupPolicy:
    by: tuple[str, ...]
    wait: float = DEFAULT_WAIT
    interval: float = DEFAULT_INTERVAL
    repeat: float | None = None
    whole: bool = False  # a batch carries every alert of the group, as Alertmanager's notifications do

    @classmethod
    def of(cls, suppression: Mapping[str, Any] | None) -> GroupPolicy | None:
        """The rule's grouping, or None when it does not group (neither `group_by` nor `group_wait` set)."""
        if not suppression or not (suppression.get("group_by") or suppression.get("group_wait")):
            return None

        def seconds(name: str, default: float | None) -> float | None:
            value = suppression.get(name)
            return parse_duration(value) if isinstance(value, str) else default

        return cls(
            tuple(str(p) for p in suppression.get("group_by") or []),
            seconds("group_wait", DEFAULT_WAIT) or 0.0,
            seconds("group_interval", DEFAULT_INTERVAL) or DEFAULT_INTERVAL,
            seconds("repeat_interval", None),
        )

    def labels(self, payload: Mapping[str, Any]) -> str:
        """The group's labels: `host=gt-01,region=eu` in `group_by` order ("" groups every alert of the rule)."""
        parts = []
        for path in self.by:
            value = lookup(payload, path)
            parts.append(f"{path}={'<missing>' if value is MISSING else value}")
        return ",".join(parts)


def group_id(labels: str) -> str:
    """A KV-safe id of a group's labels."""
    return hashlib.sha256(labels.encode()).hexdigest()[:24]


@dataclass
class GroupState:
    """One group: the members waiting for the next batch, the alerts firing un-acknowledged, and the timers."""

    labels: str
    pending: list[dict[str, Any]] = field(default_factory=list)  # transitions (as_dict) for the next batch
    dropped: int = 0  # members past PENDING_KEPT, counted in the next batch
    open: dict[str, dict[str, Any]] = field(default_factory=dict)  # fingerprint -> the firing transition
    last_flush: float | None = None
    timer_due: float | None = None  # a flush timer is waiting until then
    flushes: int = 0
    recent: list[str] = field(default_factory=list)  # transition ids of recent batches: a redelivery joins once
    # batches taken but not yet published, by flush number: a crash between the two publishes them on restart
    inflight: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupState:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def join(state: GroupState, transition: Mapping[str, Any], now: float, policy: GroupPolicy) -> float | None:
    """Add a notified transition to the group; the due time of the flush timer to set, or None (one is set)."""
    tid = transition["transition_id"]
    if tid in state.recent or any(m.get("transition_id") == tid for m in state.pending):
        return None  # a redelivered alert joins once
    if len(state.pending) < PENDING_KEPT:
        state.pending.append(dict(transition))
    else:
        state.dropped += 1
    fingerprint = str(transition.get("fingerprint"))
    if transition.get("kind") == "fired":
        state.open[fingerprint] = _slim(transition)
    elif transition.get("kind") == "resolved":
        state.open.pop(fingerprint, None)
    if state.timer_due is not None:
        return None
    first = state.last_flush is None
    state.timer_due = now + policy.wait if first else max(now, (state.last_flush or 0.0) + policy.interval)
    return state.timer_due


def flush(state: GroupState, now: float, policy: GroupPolicy) -> tuple[list[dict[str, Any]], int, float | None]:
    """Take the batch due now: (members, how many more were dropped, the repeat timer's due time or None)."""
    members, dropped = state.pending, state.dropped
    state.pending, state.dropped, state.timer_due = [], 0, None
    if not members and not dropped:
        return [], 0, None
    if policy.whole:
        members, dropped = alert_set(state, members, dropped)
    state.last_flush = now
    state.flushes += 1
    state.recent = [*state.recent, *(str(m.get("transition_id")) for m in members)][-RECENT_KEPT:]
    return members, dropped, _repeat_due(state, now, policy)


def repeat(
    state: GroupState, flushes: int, now: float, policy: GroupPolicy
) -> tuple[list[dict[str, Any]], float | None]:
    """The alerts to send again for a repeat timer set at flush number `flushes` (none when a later flush or
    repeat superseded it, or nothing is firing un-acknowledged), and the next repeat's due time."""
    if flushes != state.flushes or not state.open or policy.repeat is None:
        return [], None
    state.flushes += 1
    state.last_flush = now
    return list(state.open.values()), _repeat_due(state, now, policy)


def alert_set(state: GroupState, pending: list[dict[str, Any]], dropped: int) -> tuple[list[dict[str, Any]], int]:
    """A whole-set batch: each firing alert of the group (its latest transition), then each alert resolved since
    the last batch, at most PENDING_KEPT of them (the others counted as dropped, with the pending ones dropped)."""
    latest = {str(m.get("fingerprint")): m for m in pending}
    firing = [latest.get(fingerprint, alert) for fingerprint, alert in state.open.items()]
    resolved = [m for fingerprint, m in latest.items() if fingerprint not in state.open and m.get("kind") == "resolved"]
    members = firing + resolved
    return members[:PENDING_KEPT], dropped + max(0, len(members) - PENDING_KEPT)


def acknowledge(state: GroupState, fingerprint: str) -> bool:
    """An ACK takes the alert out of the repeats; whether it was in them."""
    return state.open.pop(fingerprint, None) is not None


def _repeat_due(state: GroupState, now: float, policy: GroupPolicy) -> float | None:
    return now + policy.repeat if policy.repeat is not None and state.open else None


def _slim(transition: Mapping[str, Any]) -> dict[str, Any]:
    """What a repeat needs of a firing alert (not its explanation or full history)."""
    keep = (
        "transition_id",
        "kind",
        "tenant",
        "rule_id",
        "rule_version",
        "rule_name",
        "severity",
        "priority",
        "trigger_type",
        "event_id",
        "fingerprint",
        "group_key",
        "at",
        "started_at",
        "last_seen",
        "count",
        "payload",
        "value",
        "summary",
        "source_event_id",
        "reason",
        "labels",  # a repeat is muted by the silences and inhibitions of its labels
        "policy_channels",  # a policy group's member: the route's channels it goes to
    )
    out = {k: transition[k] for k in keep if k in transition}
    out["explanation"] = []
    return out
