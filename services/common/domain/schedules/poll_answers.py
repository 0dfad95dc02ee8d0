"""What one poll's answer becomes: the samples read from it, the metric events and the target's snapshot.

Pure: the scheduler leader turns each answer into samples with `read_samples` (a JSON document read at dotted
value paths, or Prometheus text exposition read by prometheus-client's own parser) and the samples into metric
events with `sample_events`, shaped `{"metric": name, "value": v, ...}` so metric rules match them like any
ingested metric. The targets themselves are validated in polling.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from prometheus_client.parser import text_string_to_metric_families

from services.common.domain.events.model import format_time
from services.common.domain.rules.paths import MISSING, lookup
from services.common.domain.schedules.polling import JsonMetric, TargetSpec

MAX_SAMPLES = 500  # samples kept per poll (a Prometheus exporter may expose thousands)
MAX_BODY_BYTES = 4 << 20  # a larger answer is refused (kind `parse`), never read whole into memory

ErrorKind = Literal["timeout", "network", "http", "egress", "parse", "value", "publish"]


class SourceError(Exception):
    """A poll answer that yields no samples at all: `kind` (`http`, `parse`, ...) and a short detail."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


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


# -- events and snapshot ---------------------------------------------------------------------------------------
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
