"""Noise controls the notifier applies before it sends anything, pure: the storm budget and the cooldown.

- Storm budget (per rule, always on): at most `budget` notifications per window (default 20 per 5 minutes). A
  window opens with the first notification after the previous one ended. Past the budget, notifications are
  suppressed and counted per group key; when the window ends, one digest with the counts and the top keys goes
  out instead of the thousands of messages the storm would have sent.
- Cooldown (per rule and alert fingerprint, when the rule sets `suppression.cooldown`): a firing within the
  cooldown after the last firing that was sent for the same alert is suppressed, and so is its resolution; a
  resolution is sent only for the episode whose firing was sent.

Schedule runs are never suppressed (the contract: every run is its own event), and ACK notices bypass both.
The state lives in the notifier's KV bucket; these functions only read and change it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.common.domain.rules.durations import parse_duration

DEFAULT_BUDGET = 20
DEFAULT_WINDOW_SECONDS = 300.0
TOP_KEYS = 5
KEYS_KEPT = 100  # suppressed counts per group key kept per window: the largest, so the top keys stay right
CLOSED_KEPT = 10  # ended windows whose digest has not gone out yet (a notifier down for an hour catches up)


@dataclass(frozen=True)
class NoisePolicy:
    """A rule's noise settings, from its `suppression` (absent fields take the defaults)."""

    budget: int = DEFAULT_BUDGET
    window: float = DEFAULT_WINDOW_SECONDS
    cooldown: float | None = None

    @classmethod
    def of(cls, suppression: Mapping[str, Any] | None) -> NoisePolicy:
        if not suppression:
            return cls()
        budget = suppression.get("storm_budget")
        window = suppression.get("storm_window")
        cooldown = suppression.get("cooldown")
        return cls(
            budget=int(budget) if isinstance(budget, int) and budget >= 1 else DEFAULT_BUDGET,
            window=parse_duration(window) if isinstance(window, str) else DEFAULT_WINDOW_SECONDS,
            cooldown=parse_duration(cooldown) if isinstance(cooldown, str) else None,
        )


@dataclass
class StormWindow:
    """One budget window of a rule: how many notifications it sent and suppressed, and for which keys."""

    start: float
    sent: int = 0
    suppressed: int = 0
    keys: dict[str, int] = field(default_factory=dict)
    digested: bool = False

    def top(self, n: int = TOP_KEYS) -> list[tuple[str, int]]:
        """The group keys with the most suppressed notifications, most first (ties by key, for stable output)."""
        return sorted(self.keys.items(), key=lambda item: (-item[1], item[0]))[:n]

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "sent": self.sent,
            "suppressed": self.suppressed,
            "keys": dict(self.keys),
            "digested": self.digested,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StormWindow:
        keys = data.get("keys") or {}
        return cls(
            float(data["start"]),
            int(data.get("sent", 0)),
            int(data.get("suppressed", 0)),
            {str(k): int(v) for k, v in keys.items()},
            bool(data.get("digested", False)),
        )


@dataclass
class StormState:
    """A rule's current window and the ended ones whose digest is still due."""

    current: StormWindow | None = None
    closed: list[StormWindow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "current": None if self.current is None else self.current.as_dict(),
            "closed": [w.as_dict() for w in self.closed],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> StormState:
        if not data:
            return cls()
        current = data.get("current")
        return cls(
            StormWindow.from_dict(current) if current else None,
            [StormWindow.from_dict(w) for w in data.get("closed") or []],
        )


@dataclass(frozen=True)
class Admission:
    """The storm stage's verdict on one notification; `digest_due` is set on a window's first suppression."""

    send: bool
    reason: str
    window_start: float
    digest_due: float | None = None


def admit(state: StormState, now: float, policy: NoisePolicy, key: str) -> Admission:
    """Count one notification of the rule into its window (changing `state`) and say whether it may be sent."""
    current = state.current
    if current is None or now >= current.start + policy.window or now < current.start - policy.window:
        if current is not None and current.suppressed and not current.digested:
            state.closed = [*state.closed, current][-CLOSED_KEPT:]
        current = state.current = StormWindow(now)
    if current.sent < policy.budget:
        current.sent += 1
        return Admission(True, "within the storm budget", current.start)
    current.suppressed += 1
    _count_key(current.keys, key)
    reason = (
        f"storm budget of {policy.budget} notifications per {policy.window:g}s used up; "
        "counted in the digest sent when the window ends"
    )
    due = current.start + policy.window if current.suppressed == 1 else None
    return Admission(False, reason, current.start, due)


def _count_key(keys: dict[str, int], key: str) -> None:
    """Count a suppressed key in a bounded table (Space-Saving: a new key takes the place of the smallest and
    inherits its count, so a key that keeps coming always reaches the top; a count may be over by that much)."""
    if key in keys or len(keys) < KEYS_KEPT:
        keys[key] = keys.get(key, 0) + 1
        return
    smallest, count = min(keys.items(), key=lambda item: (item[1], item[0]))
    del keys[smallest]
    keys[key] = count + 1


def take_digest(state: StormState, start: float, now: float, policy: NoisePolicy) -> StormWindow | None:
    """The ended window that started at `start`, marked as digested (changing `state`); None when there is no
    digest to send (already sent, nothing suppressed, or the window has not ended)."""
    current = state.current
    if current is not None and current.start == start:
        if current.digested or not current.suppressed or now < start + policy.window:
            return None
        current.digested = True
        return current
    for window in state.closed:
        if window.start == start:
            state.closed = [w for w in state.closed if w.start != start]
            return window if window.suppressed and not window.digested else None
    return None


def digest_text(rule_name: str, window: StormWindow, policy: NoisePolicy) -> str:
    """The digest's message: what the storm was, in one line an operator can act on."""
    total = window.sent + window.suppressed
    keys = ", ".join(f"{key or '(no group)'} ({count})" for key, count in window.top())
    return (
        f"Storm digest for {rule_name}: {total} notifications in {policy.window:g}s, {window.sent} sent, "
        f"{window.suppressed} suppressed. Top keys: {keys or '-'}"
    )


@dataclass(frozen=True)
class CooldownMark:
    """The last firing sent for one alert: when, and for which episode."""

    at: float
    event_id: str

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "event_id": self.event_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> CooldownMark | None:
        if not data:
            return None
        return cls(float(data["at"]), str(data["event_id"]))


def cool(mark: CooldownMark | None, kind: str, event_id: str, now: float, cooldown: float) -> tuple[bool, str]:
    """Whether a `fired` or `resolved` notification passes the cooldown, and why not."""
    if kind == "resolved":
        if mark is None or mark.event_id == event_id:
            return True, "its firing was sent"
        return False, "its firing was suppressed by the cooldown"
    if mark is None or now - mark.at >= cooldown:
        return True, "outside the cooldown"
    return False, f"cooldown of {cooldown:g}s: the same alert was notified {now - mark.at:.0f}s ago"
