"""Metric polling targets: the validation of a target body, and when a target is next polled.

Pure: the gateway validates target bodies with `parse_target`; what a poll's answer becomes (samples, metric
events, the snapshot) is in poll_answers.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from services.common.domain.rules.durations import format_duration, parse_duration
from services.common.domain.rules.errors import FieldError, display_name
from services.common.domain.rules.paths import validate_path

Format = Literal["json", "prometheus"]
FORMATS: tuple[str, ...] = ("json", "prometheus")
NAME_MAX = 200
URL_MAX = 2048
MIN_INTERVAL_SECONDS = 1.0
MAX_INTERVAL_SECONDS = 86_400.0
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_TIMEOUT_SECONDS = 60.0
MAX_JSON_METRICS = 100
MAX_KEEP_NAMES = 500
MAX_LABELS = 20
LABEL_VALUE_MAX = 200
# Keys a metric event sets itself: a static label of that name would overwrite the sample.
RESERVED_LABELS = frozenset({"metric", "value", "target", "target_id", "timestamp", "event_type", "labels"})
READ_ONLY = frozenset(
    {"target_id", "tenant", "version", "created_at", "updated_at", "last_error", "last_poll_at", "last_status"}
)
_LABEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_FIELDS = frozenset({"name", "url", "interval", "timeout", "format", "metrics", "labels", "active"})


class PollingValidationError(Exception):
    """A target body that cannot be accepted; `errors` names every offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.msg}" for e in errors) or "invalid polling target")
        self.errors = errors


@dataclass(frozen=True)
class JsonMetric:
    """One value of a JSON answer: the metric name it becomes and the dotted path it is read at."""

    name: str
    path: str


@dataclass(frozen=True)
class TargetSpec:
    """A validated polling target (without its id): where, how often, how to read it and what to add."""

    name: str
    url: str
    interval: float  # seconds
    timeout: float  # seconds, never above the interval
    format: Format
    metrics: tuple[JsonMetric, ...] = ()  # json: what to read
    keep: tuple[str, ...] = ()  # prometheus: family or sample names to keep (empty: every sample, bounded)
    labels: Mapping[str, str | int | float | bool] = field(default_factory=dict)
    active: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The canonical JSON form (durations as strings), as stored, mirrored and returned."""
        metrics: list[Any] = (
            [{"name": m.name, "path": m.path} for m in self.metrics] if self.format == "json" else list(self.keep)
        )
        return {
            "name": self.name,
            "url": self.url,
            "interval": format_duration(self.interval),
            "timeout": format_duration(self.timeout),
            "format": self.format,
            "metrics": metrics,
            "labels": dict(self.labels),
            "active": self.active,
        }


# -- validation ------------------------------------------------------------------------------------------------
def parse_target(body: Any) -> TargetSpec:
    """Validate a target body; raise PollingValidationError naming every bad field.

    Read-only fields of a target as GET returns it are ignored, so a read-modify-write round trip works.
    """
    if not isinstance(body, Mapping):
        raise PollingValidationError([FieldError((), "the body must be a JSON object")])
    errors: list[FieldError] = [FieldError((str(k),), "unknown field") for k in body if k not in _FIELDS | READ_ONLY]
    name = display_name(body.get("name"), errors, NAME_MAX)
    url = _url(body.get("url"), errors)
    interval = _duration(body.get("interval"), "interval", MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS, errors)
    raw_timeout = body.get("timeout")
    if raw_timeout is None:
        timeout = min(DEFAULT_TIMEOUT_SECONDS, interval or DEFAULT_TIMEOUT_SECONDS)
    else:
        timeout = _duration(raw_timeout, "timeout", 0.001, MAX_TIMEOUT_SECONDS, errors)
        if interval and timeout and timeout > interval:
            errors.append(FieldError(("timeout",), "must not be longer than the interval"))
    kind = body.get("format", "json")
    if kind not in FORMATS:
        errors.append(FieldError(("format",), f"must be one of: {', '.join(FORMATS)}"))
    metrics: tuple[JsonMetric, ...] = ()
    keep: tuple[str, ...] = ()
    if kind == "json":
        metrics = _json_metrics(body.get("metrics"), errors)
    elif kind == "prometheus":
        keep = _keep_names(body.get("metrics"), errors)
    labels = _labels(body.get("labels"), errors)
    active = body.get("active", True)
    if not isinstance(active, bool):
        errors.append(FieldError(("active",), "must be true or false"))
    if errors:
        raise PollingValidationError(errors)
    fmt: Format = "json" if kind == "json" else "prometheus"
    return TargetSpec(name, url, interval, timeout, fmt, metrics, keep, labels, bool(active))


def _url(value: Any, errors: list[FieldError]) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(("url",), "required: an http(s) URL"))
        return ""
    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        errors.append(FieldError(("url",), "not a valid URL"))
        return text
    if len(text) > URL_MAX or any(ord(c) <= 32 for c in text):
        errors.append(FieldError(("url",), f"at most {URL_MAX} characters, no spaces"))
    elif parts.scheme not in ("http", "https") or not parts.hostname:
        errors.append(FieldError(("url",), "must be an http:// or https:// URL with a host"))
    elif parts.username is not None or parts.password is not None:
        # The URL is shown to every viewer and logged on errors: credentials in it would leak.
        errors.append(FieldError(("url",), "credentials in the URL are not supported"))
    return text


def _duration(value: Any, name: str, low: float, high: float, errors: list[FieldError]) -> float:
    if value is None:
        errors.append(FieldError((name,), "required: a duration like '30s'"))
        return 0.0
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        errors.append(FieldError((name,), str(exc)))
        return 0.0
    if not low <= seconds <= high:
        errors.append(FieldError((name,), f"must be between {format_duration(low)} and {format_duration(high)}"))
        return 0.0
    return seconds


def _json_metrics(value: Any, errors: list[FieldError]) -> tuple[JsonMetric, ...]:
    if not isinstance(value, list) or not value:
        errors.append(FieldError(("metrics",), 'required for json: a list of {"name", "path"}'))
        return ()
    if len(value) > MAX_JSON_METRICS:
        errors.append(FieldError(("metrics",), f"at most {MAX_JSON_METRICS} metrics"))
        return ()
    out: list[JsonMetric] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            errors.append(FieldError(("metrics", index), 'must be an object {"name", "path"}'))
            continue
        for key in item:
            if key not in ("name", "path"):
                errors.append(FieldError(("metrics", index, str(key)), "unknown field"))
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
            errors.append(FieldError(("metrics", index, "name"), f"required: a metric name of 1-{NAME_MAX} chars"))
            continue
        if name in seen:
            errors.append(FieldError(("metrics", index, "name"), "used twice"))
        seen.add(name)
        path = item.get("path", name)
        try:
            validate_path(path)
        except ValueError as exc:
            errors.append(FieldError(("metrics", index, "path"), str(exc)))
            continue
        out.append(JsonMetric(name, path))
    return tuple(out)


def _keep_names(value: Any, errors: list[FieldError]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_KEEP_NAMES:
        errors.append(FieldError(("metrics",), f"for prometheus: a list of at most {MAX_KEEP_NAMES} metric names"))
        return ()
    names: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip() or len(item) > NAME_MAX:
            errors.append(FieldError(("metrics", index), "must be a metric family or sample name"))
            continue
        names.append(item.strip())
    return tuple(dict.fromkeys(names))


def _labels(value: Any, errors: list[FieldError]) -> dict[str, str | int | float | bool]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.append(FieldError(("labels",), "must be an object of label names to values"))
        return {}
    if len(value) > MAX_LABELS:
        errors.append(FieldError(("labels",), f"at most {MAX_LABELS} labels"))
        return {}
    labels: dict[str, str | int | float | bool] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            errors.append(FieldError(("labels", str(key)), "a label name is [A-Za-z_][A-Za-z0-9_]{0,63}"))
        elif key in RESERVED_LABELS:
            errors.append(FieldError(("labels", key), "reserved: every metric event sets this key itself"))
        elif isinstance(item, float) and not math.isfinite(item):
            errors.append(FieldError(("labels", key), "must be a finite number"))
        elif not isinstance(item, str | int | float | bool) or (isinstance(item, str) and len(item) > LABEL_VALUE_MAX):
            errors.append(FieldError(("labels", key), f"a string (at most {LABEL_VALUE_MAX} chars), number or bool"))
        else:
            labels[key] = item
    return labels


def next_due(due: datetime, interval: float, now: datetime) -> datetime:
    """When a target is next polled after a poll due at `due`: one interval later, on the same grid.

    A leader that fell behind (a slow poll, a pause) skips the missed slots instead of polling in a burst:
    the answer is the first grid point after `now`.
    """
    step = timedelta(seconds=interval)
    following = due + step
    if following > now:
        return following
    behind = (now - due) // step
    return due + step * (behind + 1)
