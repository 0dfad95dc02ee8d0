"""The entries of the muting buckets as the notifier reads them: silences (`cep-silences`), inhibit rules
(`cep-inhibit-rules`), both written by the gateway's publishers, and open alerts (`cep-open-alerts`), written by
the notifier itself. Each bucket's key is `<tenant>.<id>`; a value that does not decode raises MessageError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from services.common.domain.events.model import parse_time
from services.common.domain.inhibition.inhibit_rules import InhibitRule
from services.common.domain.inhibition.source_index import OpenAlert
from services.common.domain.labels.matchers import Matcher, MatchType
from services.common.domain.rules.durations import parse_duration
from services.common.domain.silences.model import Silence
from services.common.domain.silences.recurring import CronWindow, RecurringSilence
from services.common.domain.time_intervals.model import TimeIntervalError, parse_time_interval
from services.common.messages.codec import MessageError, dumps, loads


@dataclass(frozen=True)
class SilenceEntry:
    """A silence of the bucket: fixed (`Silence`) or recurring (`RecurringSilence`), with its version."""

    silence: Silence | RecurringSilence
    version: int


@dataclass(frozen=True)
class InhibitRuleEntry:
    """An inhibit rule of the bucket, with its version."""

    rule: InhibitRule
    version: int


@dataclass(frozen=True)
class OpenAlertEntry:
    """An open alert of the notifier's bucket; `version` is constant: the bucket's watch keeps the order."""

    alert: OpenAlert
    rule_id: str
    version: int = 0

    def encode(self) -> bytes:
        return dumps({"event_id": self.alert.event_id, "rule_id": self.rule_id, "labels": dict(self.alert.labels)})


def decode_silence(data: bytes) -> SilenceEntry:
    """A silence entry (`silence_id`, `matchers`, `starts_at`, `ends_at`, `recurrence`, `version`, ...)."""
    raw = _object(data)
    try:
        matchers = _matchers(raw["matchers"])
        starts_at = parse_time(raw["starts_at"])
        ends_at = parse_time(raw["ends_at"]) if raw.get("ends_at") else None
        common = {
            "id": str(raw["silence_id"]),
            "matchers": matchers,
            "starts_at": starts_at,
            "created_by": str(raw.get("created_by") or ""),
            "comment": str(raw.get("comment") or ""),
        }
        recurrence = raw.get("recurrence")
        if recurrence is None:
            silence: Silence | RecurringSilence = Silence(ends_at=ends_at, updated_at=starts_at, **common)
        else:
            silence = _recurring(recurrence, ends_at, common)
        return SilenceEntry(silence, int(raw["version"]))
    except (KeyError, TypeError, ValueError, ValidationError, TimeIntervalError) as exc:
        raise MessageError(f"silence entry: {exc}") from None


def decode_inhibit_rule(data: bytes) -> InhibitRuleEntry:
    """An inhibit rule entry (`source_matchers`, `target_matchers`, `equal`, `version`)."""
    raw = _object(data)
    try:
        rule = InhibitRule(
            source=_matchers(raw["source_matchers"]),
            target=_matchers(raw["target_matchers"]),
            equal=tuple(str(name) for name in raw.get("equal") or ()),
        )
        return InhibitRuleEntry(rule, int(raw["version"]))
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise MessageError(f"inhibit rule entry: {exc}") from None


def decode_open_alert(data: bytes) -> OpenAlertEntry:
    """An open alert entry (`event_id`, `rule_id`, `labels`)."""
    raw = _object(data)
    try:
        labels = {str(name): str(value) for name, value in raw["labels"].items()}
        return OpenAlertEntry(OpenAlert(str(raw["event_id"]), labels), str(raw["rule_id"]))
    except (KeyError, TypeError, AttributeError) as exc:
        raise MessageError(f"open alert entry: {exc}") from None


def _object(data: bytes) -> Mapping[str, Any]:
    try:
        raw = loads(data)
    except ValueError as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise MessageError("not a JSON object")
    return raw


def _matchers(raw: Any) -> tuple[Matcher, ...]:
    """Matchers in their stored form `[{name, type, value}]` (the gateway's `matcher_json`)."""
    return tuple(Matcher(name=m["name"], type=MatchType(m["type"]), value=m["value"]) for m in raw)


def _recurring(spec: Mapping[str, Any], ends_at: Any, common: dict[str, Any]) -> RecurringSilence:
    zone = str(spec.get("timezone") or "UTC")
    duration = spec.get("duration")
    cron = CronWindow(cron=spec["cron"], duration=timedelta(seconds=parse_duration(duration))) if duration else None
    windows = tuple(parse_time_interval({**w, "location": zone}) for w in spec.get("windows") or ())
    return RecurringSilence(timezone=zone, windows=windows, cron=cron, ends_at=ends_at, **common)
