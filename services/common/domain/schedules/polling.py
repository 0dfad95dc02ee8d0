"""Metric polling targets and what a poll's answer becomes: validation, sample reading and metric events.

Pure: the gateway validates target bodies with `parse_target`; the scheduler leader turns each answer into
samples with `read_samples` (a JSON document read at dotted value paths, or Prometheus text exposition read by
prometheus-client's own parser) and the samples into metric events with `sample_events`, shaped
`{"metric": name, "value": v, ...}` so metric rules match them like any ingested metric.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from prometheus_client.parser import text_string_to_metric_families

from services.common.domain.events.model import format_time
from services.common.domain.rules.durations import format_duration, parse_duration
from services.common.domain.rules.errors import FieldError
from services.common.domain.rules.paths import MISSING, lookup, validate_path

Format = Literal["json", "prometheus"]
FORMATS: tuple[str, ...] = ("json", "prometheus")
NAME_MAX = 200
URL_MAX = 2048
MIN_INTERVAL_SECONDS = 1.0
MAX_INTERVAL_SECONDS = 86_400.0
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_TIMEOUT_SECONDS = 60.0
MAX_JSON_METRICS = 100
MAX_SAMPLES = 500  # samples kept per poll (a Prometheus exporter may expose thousands)
MAX_KEEP_NAMES = 500
MAX_LABELS = 20
LABEL_VALUE_MAX = 200
MAX_BODY_BYTES = 4 << 20  # a larger answer is refused (kind `parse`), never read whole into memory
# Keys a metric event sets itself: a static label of that name would overwrite the sample.
RESERVED_LABELS = frozenset({"metric", "value", "target", "target_id", "timestamp", "event_type", "labels"})
READ_ONLY = frozenset(
    {"target_id", "tenant", "version", "created_at", "updated_at", "last_error", "last_poll_at", "last_status"}
)
_LABEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_FIELDS = frozenset({"name", "url", "interval", "timeout", "format", "metrics", "labels", "active"})

ErrorKind = Literal["timeout", "network", "http", "egress", "parse", "value", "publish"]


class PollingValidationError(Exception):
    """A target body that cannot be accepted; `errors` names every offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.msg}" for e in errors) or "invalid polling target")
        self.errors = errors


class SourceError(Exception):
    """A poll answer that yields no samples at all: `kind` (`http`, `parse`, ...) and a short detail."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


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


@dataclass(frozen=True)
class Sample:
    """One reading: the metric name, its value, and the source's own labels (Prometheus sample labels)."""

    metric: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The sample's name in a snapshot: `name` or `name{a="x",b="y"}` (Prometheus notation)."""
        if not self.labels:
            return self.metric
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.metric}{{{inner}}}"


@dataclass(frozen=True)
class Reading:
    """What one answer yielded: the samples, and the values that could not be read (`name: why`)."""

    samples: tuple[Sample, ...]
    problems: tuple[str, ...] = ()
    truncated: bool = False


# -- validation ------------------------------------------------------------------------------------------------
def parse_target(body: Any) -> TargetSpec:
    """Validate a target body; raise PollingValidationError naming every bad field.

    Read-only fields of a target as GET returns it are ignored, so a read-modify-write round trip works.
    """
    if not isinstance(body, Mapping):
        raise PollingValidationError([FieldError((), "the body must be a JSON object")])
    errors: list[FieldError] = [FieldError((str(k),), "unknown field") for k in body if k not in _FIELDS | READ_ONLY]
    name = _name(body.get("name"), errors)
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


def _name(value: Any, errors: list[FieldError]) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(("name",), "required: a non-empty string"))
        return ""
    if len(value) > NAME_MAX or any(ord(c) < 32 for c in value):
        errors.append(FieldError(("name",), f"at most {NAME_MAX} printable characters"))
    return value.strip()


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


# -- reading answers -------------------------------------------------------------------------------------------
def read_samples(spec: TargetSpec, body: bytes) -> Reading:
    """The samples of one answer body in the target's format; raise SourceError when there are none to read."""
    if len(body) > MAX_BODY_BYTES:
        raise SourceError("parse", f"the answer is over {MAX_BODY_BYTES} bytes")
    if spec.format == "json":
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SourceError("parse", f"the answer is not JSON: {str(exc).splitlines()[0][:200]}") from None
        return read_json(document, spec.metrics)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError("parse", "the answer is not UTF-8 text") from None
    return read_prometheus(text, spec.keep)


def read_json(document: Any, metrics: Sequence[JsonMetric]) -> Reading:
    """Read each metric at its path; a missing or non-numeric value is a problem, not a sample.

    Numbers and numeric strings are read; booleans are refused (a true is not 1 to a threshold).
    Raise SourceError(`value`) when not one metric could be read.
    """
    samples: list[Sample] = []
    problems: list[str] = []
    for metric in metrics:
        raw = lookup(document, metric.path)
        if raw is MISSING:
            problems.append(f"{metric.name}: nothing at {metric.path!r}")
            continue
        value = _number(raw)
        if value is None:
            problems.append(f"{metric.name}: {metric.path!r} is not a number")
            continue
        samples.append(Sample(metric.name, value))
    if not samples and problems:
        raise SourceError("value", "; ".join(problems)[:1000])
    return Reading(tuple(samples), tuple(problems))


def read_prometheus(text: str, keep: Iterable[str] = (), limit: int = MAX_SAMPLES) -> Reading:
    """Read Prometheus text exposition with prometheus-client's parser; keep the named families/samples.

    A sample is kept when its own name (`http_requests_total`, `latency_bucket`) or its family's name
    (`http_requests`) is in `keep`, or every sample when `keep` is empty; at most `limit` are kept.
    NaN and infinite values (a histogram's `+Inf` bound is a label, not a value) are skipped: JSON carries
    neither. Raise SourceError(`parse`) when the text does not parse.
    """
    wanted = frozenset(keep)
    samples: list[Sample] = []
    skipped = 0
    truncated = False
    try:
        for family in text_string_to_metric_families(text):
            family_wanted = not wanted or family.name in wanted
            for sample in family.samples:
                if not (family_wanted or sample.name in wanted):
                    continue
                if not math.isfinite(sample.value):
                    skipped += 1
                    continue
                if len(samples) >= limit:
                    truncated = True
                    break
                samples.append(Sample(sample.name, float(sample.value), dict(sample.labels)))
            if truncated:
                break
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise SourceError("parse", f"not Prometheus text exposition: {str(exc)[:200]}") from None
    problems = (f"{skipped} non-finite sample(s) skipped",) if skipped else ()
    if truncated:
        problems = (*problems, f"only the first {limit} samples were kept")
    return Reading(tuple(samples), problems, truncated)


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) else None


# -- events and schedule ---------------------------------------------------------------------------------------
def sample_events(target_id: str, spec: TargetSpec, samples: Sequence[Sample], at: datetime) -> list[dict[str, Any]]:
    """The metric events of one poll: `{"metric", "value", "target", "target_id", ...labels, "timestamp"}`.

    A Prometheus sample's own labels go under `labels` (rules group by `labels.<name>`), the target's static
    labels at the top level; the event time is the poll time.
    """
    stamp = format_time(at)
    events: list[dict[str, Any]] = []
    for sample in samples:
        event: dict[str, Any] = {"metric": sample.metric, "value": _plain(sample.value)}
        event |= {"target": spec.name, "target_id": target_id, **spec.labels, "timestamp": stamp}
        if sample.labels:
            event["labels"] = dict(sample.labels)
        events.append(event)
    return events


def batches(events: Sequence[dict[str, Any]], max_bytes: int) -> list[bytes]:
    """JSON array bodies of the events, each at most `max_bytes` (one event larger than that is dropped)."""
    out: list[bytes] = []
    current: list[bytes] = []
    size = 2
    for event in events:
        encoded = orjson.dumps(event)
        if len(encoded) + 2 > max_bytes:
            continue
        if current and size + len(encoded) + 1 > max_bytes:
            out.append(b"[" + b",".join(current) + b"]")
            current, size = [], 2
        current.append(encoded)
        size += len(encoded) + 1
    if current:
        out.append(b"[" + b",".join(current) + b"]")
    return out


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


def _plain(value: float) -> float | int:
    """Integral values as ints (`mem` 12345678 stays exact in JSON), others as floats."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def snapshot(
    target_id: str,
    spec: TargetSpec,
    at: datetime,
    latency_ms: float | None,
    status_code: int | None,
    reading: Reading | None,
    error: SourceError | None,
) -> dict[str, Any]:
    """The latest state of a target after one poll: values by sample key, when, how long, and what went wrong.

    `error` is the poll's failure (no samples); values that could not be read in an otherwise good answer are
    listed in `problems`.
    """
    values = {s.key: _plain(s.value) for s in reading.samples} if reading else {}
    return {
        "target_id": target_id,
        "name": spec.name,
        "at": format_time(at),
        "latency_ms": None if latency_ms is None else round(latency_ms, 3),
        "status_code": status_code,
        "ok": error is None,
        "samples": len(values),
        "values": values,
        "problems": list(reading.problems) if reading else [],
        "error": None if error is None else {"kind": error.kind, "detail": error.detail},
    }
