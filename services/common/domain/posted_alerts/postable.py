"""Alertmanager's `postableAlerts` (the body of `POST /api/v2/alerts`) read into events of the pipeline.

Each alert becomes one event of type `alertmanager.alert` whose payload holds the posted `labels` and `annotations`
(objects of string -> string) and `startsAt`, `endsAt` and `generatorURL`, with Alertmanager's defaults applied at
receipt: no `startsAt` starts now (or at `endsAt` when only that is given), no `endsAt` ends `RESOLVE_TIMEOUT` after
this receipt (a re-send pushes it on, as Alertmanager's `resolve_timeout`). The body is checked whole, as
Alertmanager checks it (at least one label, valid label names, `endsAt` not before `startsAt`), plus the size
limits below; the first problem is reported naming the field (`[2].labels.foo-bar: invalid label name`), and then
no alert of the body is taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.domain.events.model import format_time, parse_time
from services.common.domain.labels.label_set import is_valid_name
from services.common.domain.posted_alerts.builtin_rule import ALERT_EVENT_TYPE, RESOLVE_TIMEOUT

MAX_ALERTS = 1_000  # alerts in one post (Prometheus sends at most 64 per post by default)
MAX_LABELS = 64  # labels of one alert
MAX_LABEL_NAME = 1_024  # characters of a label or annotation name
MAX_LABEL_VALUE = 4_096  # characters of a label value
MAX_ANNOTATIONS = 64  # annotations of one alert
MAX_ANNOTATION = 16_384  # characters of an annotation value
MAX_GENERATOR_URL = 4_096  # characters of `generatorURL`
_FIELDS = ("labels", "annotations", "startsAt", "endsAt", "generatorURL")


@dataclass(frozen=True)
class PostLimits:
    """How much one post may hold (gateway settings `CEP_AM_ALERTS_MAX_PER_POST`, ...; docs/alertmanager.md)."""

    alerts: int = MAX_ALERTS
    labels: int = MAX_LABELS
    name: int = MAX_LABEL_NAME
    value: int = MAX_LABEL_VALUE
    annotations: int = MAX_ANNOTATIONS
    annotation: int = MAX_ANNOTATION


class PostableError(ValueError):
    """Why a body of postable alerts was refused, naming the field (Alertmanager's 400 text)."""


def posted_alert_events(data: Any, limits: PostLimits, now: datetime) -> list[dict[str, Any]]:
    """The events of a `postableAlerts` body received at `now`; PostableError naming the first bad field."""
    if not isinstance(data, list):
        raise PostableError("the body must be a JSON array of alerts (postableAlerts)")
    if len(data) > limits.alerts:
        raise PostableError(f"at most {limits.alerts} alerts in one post, got {len(data)}")
    return [_event(alert, f"[{i}]", limits, now) for i, alert in enumerate(data)]


def _event(alert: Any, at: str, limits: PostLimits, now: datetime) -> dict[str, Any]:
    if not isinstance(alert, Mapping):
        raise PostableError(f"{at}: an alert must be a JSON object")
    unknown = sorted(str(key) for key in alert if key not in _FIELDS)
    if unknown:
        raise PostableError(f"{at}.{unknown[0]}: unknown field of a postableAlert")
    labels = _strings(alert.get("labels"), f"{at}.labels", limits.labels, limits.name, limits.value, labels=True)
    if not any(labels.values()):
        raise PostableError(f"{at}.labels: at least one label pair required")
    annotations = _strings(
        alert.get("annotations") or {}, f"{at}.annotations", limits.annotations, limits.name, limits.annotation
    )
    starts, ends = _time(alert, "startsAt", at), _time(alert, "endsAt", at)
    if starts is None:
        starts = ends if ends is not None else now
    if ends is not None and ends < starts:
        raise PostableError(f"{at}.endsAt: start time must be before end time")
    url = alert.get("generatorURL") or ""
    if not isinstance(url, str) or len(url) > MAX_GENERATOR_URL:
        raise PostableError(f"{at}.generatorURL: a string of at most {MAX_GENERATOR_URL} characters")
    return {
        "event_type": ALERT_EVENT_TYPE,
        "labels": labels,
        "annotations": annotations,
        "startsAt": format_time(starts),
        "endsAt": format_time(ends if ends is not None else now + RESOLVE_TIMEOUT),
        "generatorURL": url,
    }


def _strings(raw: Any, at: str, count: int, name_size: int, value_size: int, labels: bool = False) -> dict[str, str]:
    if raw is None:
        raise PostableError(f"{at} in body is required")
    if not isinstance(raw, Mapping):
        raise PostableError(f"{at}: an object of names to strings")
    if len(raw) > count:
        raise PostableError(f"{at}: at most {count} entries, got {len(raw)}")
    out: dict[str, str] = {}
    for name, value in raw.items():
        if labels and not is_valid_name(name):
            raise PostableError(f"{at}.{name}: invalid label name (it must match [a-zA-Z_][a-zA-Z0-9_]*)")
        if len(name) > name_size:
            raise PostableError(f"{at}.{name[:40]}...: a name is at most {name_size} characters")
        if not isinstance(value, str):
            raise PostableError(f"{at}.{name}: the value must be a string")
        if len(value) > value_size:
            raise PostableError(f"{at}.{name}: a value is at most {value_size} characters, got {len(value)}")
        out[name] = value
    return out


def _time(alert: Mapping[str, Any], name: str, at: str) -> datetime | None:
    raw = alert.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise PostableError(f"{at}.{name}: an RFC 3339 time")
    try:
        parsed = parse_time(raw)
    except ValueError as exc:
        raise PostableError(f"{at}.{name}: {exc}") from None
    return None if parsed.year == 1 else parsed  # Go's zero time (`0001-01-01T00:00:00.000Z`, amtool's): not set
