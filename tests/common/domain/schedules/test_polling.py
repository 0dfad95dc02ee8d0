"""Polling targets and answers, by table: validation naming fields, JSON paths, Prometheus text, events, grid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from services.common.domain.schedules.poll_answers import (
    MAX_SAMPLES,
    Sample,
    SourceError,
    batches,
    read_json,
    read_prometheus,
    read_samples,
    sample_events,
    snapshot,
)
from services.common.domain.schedules.polling import (
    JsonMetric,
    PollingValidationError,
    TargetSpec,
    next_due,
    parse_target,
)

VARZ = {"name": "nats-varz", "url": "http://127.0.0.1:8222/varz", "interval": "5s", "metrics": [{"name": "mem"}]}
T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def _errors(body: Any) -> dict[str, str]:
    with pytest.raises(PollingValidationError) as caught:
        parse_target(body)
    return {e.path: e.msg for e in caught.value.errors}


def test_a_json_target_gets_defaults_and_a_canonical_form() -> None:
    spec = parse_target({**VARZ, "metrics": [{"name": "mem"}, {"name": "nats_cpu", "path": "cpu"}]})
    assert spec.metrics == (JsonMetric("mem", "mem"), JsonMetric("nats_cpu", "cpu"))
    assert (spec.interval, spec.timeout, spec.format, spec.active) == (5.0, 5.0, "json", True)
    assert spec.as_dict() == {
        "name": "nats-varz",
        "url": "http://127.0.0.1:8222/varz",
        "interval": "5s",
        "timeout": "5s",
        "format": "json",
        "metrics": [{"name": "mem", "path": "mem"}, {"name": "nats_cpu", "path": "cpu"}],
        "labels": {},
        "active": True,
    }
    assert parse_target(spec.as_dict()) == spec  # the canonical form reads back the same


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({**VARZ, "interval": "1s"}, (1.0, 1.0)),  # the default timeout never exceeds the interval
        ({**VARZ, "interval": "1m", "timeout": "500ms"}, (60.0, 0.5)),
        ({**VARZ, "interval": "1d"}, (86400.0, 5.0)),
    ],
)
def test_interval_and_timeout(body: dict[str, Any], expected: tuple[float, float]) -> None:
    spec = parse_target(body)
    assert (spec.interval, spec.timeout) == expected


def test_a_prometheus_target_keeps_names_or_everything() -> None:
    body = {"name": "app", "url": "https://app.example/metrics", "interval": "15s", "format": "prometheus"}
    assert parse_target(body).keep == ()
    kept = parse_target({**body, "metrics": ["http_requests", "up", "up"], "labels": {"env": "prod", "n": 3}})
    assert kept.keep == ("http_requests", "up")
    assert kept.labels == {"env": "prod", "n": 3}


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ([], "", "JSON object"),
        ({**VARZ, "name": " "}, "name", "required"),
        ({**VARZ, "name": "x" * 201}, "name", "at most 200"),
        ({**VARZ, "url": None}, "url", "required"),
        ({**VARZ, "url": "ftp://host/x"}, "url", "http://"),
        ({**VARZ, "url": "http:///varz"}, "url", "with a host"),
        ({**VARZ, "url": "http://user:pw@host/varz"}, "url", "credentials"),
        ({**VARZ, "url": "http://host:99999/x"}, "url", "not a valid URL"),
        ({**VARZ, "interval": None}, "interval", "required"),
        ({**VARZ, "interval": "500ms"}, "interval", "between 1s and 1d"),
        ({**VARZ, "interval": "soon"}, "interval", "invalid duration"),
        ({**VARZ, "interval": 5}, "interval", "a duration is a string"),
        ({**VARZ, "interval": "10s", "timeout": "20s"}, "timeout", "longer than the interval"),
        ({**VARZ, "timeout": "2m", "interval": "1h"}, "timeout", "between"),
        ({**VARZ, "format": "xml"}, "format", "json, prometheus"),
        ({**VARZ, "metrics": []}, "metrics", "required for json"),
        ({**VARZ, "metrics": ["mem"]}, "metrics.0", "must be an object"),
        ({**VARZ, "metrics": [{"name": ""}]}, "metrics.0.name", "required"),
        ({**VARZ, "metrics": [{"name": "m", "path": "a..b"}]}, "metrics.0.path", "empty segment"),
        ({**VARZ, "metrics": [{"name": "m"}, {"name": "m"}]}, "metrics.1.name", "used twice"),
        ({**VARZ, "metrics": [{"name": "m", "pth": "x"}]}, "metrics.0.pth", "unknown field"),
        ({**VARZ, "format": "prometheus", "metrics": [1]}, "metrics.0", "metric family"),
        ({**VARZ, "format": "prometheus", "metrics": "up"}, "metrics", "a list"),
        ({**VARZ, "labels": ["a"]}, "labels", "must be an object"),
        ({**VARZ, "labels": {"metric": "x"}}, "labels.metric", "reserved"),
        ({**VARZ, "labels": {"bad-key": "x"}}, "labels.bad-key", "label name"),
        ({**VARZ, "labels": {"env": {"a": 1}}}, "labels.env", "a string"),
        ({**VARZ, "active": "yes"}, "active", "true or false"),
        ({**VARZ, "colour": "red"}, "colour", "unknown field"),
    ],
)
def test_bad_bodies_name_the_field(body: Any, field: str, fragment: str) -> None:
    errors = _errors(body)
    assert field in errors, errors
    assert fragment in errors[field]


def test_read_only_fields_of_a_get_are_ignored() -> None:
    spec = parse_target({**VARZ, "target_id": "abc", "version": 3, "last_error": None, "tenant": "t"})
    assert spec.name == "nats-varz"


@pytest.mark.parametrize(
    ("document", "metrics", "samples", "problems"),
    [
        ({"cpu": 1.5, "mem": 42}, [("cpu", "cpu"), ("mem", "mem")], [("cpu", 1.5), ("mem", 42.0)], 0),
        ({"a": {"b": [0, {"c": "7.25"}]}}, [("deep", "a.b.1.c")], [("deep", 7.25)], 0),  # numeric string
        ({"cpu": 1, "up": True}, [("cpu", "cpu"), ("up", "up")], [("cpu", 1.0)], 1),  # a bool is not a number
        ({"cpu": 1}, [("cpu", "cpu"), ("gone", "gone")], [("cpu", 1.0)], 1),
        ({"cpu": "n/a", "mem": 3}, [("cpu", "cpu"), ("mem", "mem")], [("mem", 3.0)], 1),
    ],
)
def test_json_values_at_paths(
    document: Any, metrics: list[tuple[str, str]], samples: list[tuple[str, float]], problems: int
) -> None:
    reading = read_json(document, [JsonMetric(n, p) for n, p in metrics])
    assert [(s.metric, s.value) for s in reading.samples] == samples
    assert len(reading.problems) == problems


def test_no_readable_value_at_all_is_an_error() -> None:
    with pytest.raises(SourceError) as caught:
        read_json({"cpu": None}, [JsonMetric("cpu", "cpu")])
    assert caught.value.kind == "value" and "cpu" in caught.value.detail


@pytest.mark.parametrize(
    ("body", "kind"),
    [(b"<html>", "parse"), (b"", "parse"), (b"\xff\xfe", "parse")],
)
def test_unreadable_answers(body: bytes, kind: str) -> None:
    spec = parse_target(VARZ)
    with pytest.raises(SourceError) as caught:
        read_samples(spec, body)
    assert caught.value.kind == kind


def _exposition() -> str:
    """Real text exposition, written by prometheus-client itself."""
    registry = CollectorRegistry()
    Counter("http_requests", "requests", ["code"], registry=registry).labels("200").inc(7)
    Gauge("queue_depth", "depth", registry=registry).set(3)
    Gauge("broken", "never finite", registry=registry).set(float("nan"))
    Histogram("latency_seconds", "latency", buckets=(0.1, 1.0), registry=registry).observe(0.5)
    return generate_latest(registry).decode()


def test_prometheus_text_every_finite_sample() -> None:
    reading = read_prometheus(_exposition())
    values = {s.key: s.value for s in reading.samples}
    assert values['http_requests_total{code="200"}'] == 7.0
    assert values["queue_depth"] == 3.0
    assert values['latency_seconds_bucket{le="1.0"}'] == 1.0
    assert values['latency_seconds_bucket{le="+Inf"}'] == 1.0
    assert "broken" not in values and reading.problems == ("1 non-finite sample(s) skipped",)


@pytest.mark.parametrize(
    ("keep", "names"),
    [
        (["http_requests"], {"http_requests_total"}),  # a family (the text format lists `_created` apart)
        (["latency_seconds"], {"latency_seconds_bucket", "latency_seconds_count", "latency_seconds_sum"}),
        (["http_requests_total", "queue_depth"], {"http_requests_total", "queue_depth"}),  # sample names
        (["latency_seconds_count"], {"latency_seconds_count"}),
        (["absent"], set()),
    ],
)
def test_prometheus_keep_names(keep: list[str], names: set[str]) -> None:
    assert {s.metric for s in read_prometheus(_exposition(), keep).samples} == names


def test_prometheus_samples_are_bounded() -> None:
    text = "".join(f"m{i} {i}\n" for i in range(MAX_SAMPLES + 20))
    reading = read_prometheus(text)
    assert len(reading.samples) == MAX_SAMPLES and reading.truncated


def test_prometheus_garbage_is_a_parse_error() -> None:
    with pytest.raises(SourceError) as caught:
        read_prometheus('metric{label="unterminated 1\n')
    assert caught.value.kind == "parse"


def test_events_carry_metric_value_target_labels_and_the_poll_time() -> None:
    spec = parse_target({**VARZ, "labels": {"env": "lab"}})
    samples = [Sample("mem", 12345678.0), Sample("http_requests_total", 7.5, {"code": "200"})]
    assert sample_events("tid", spec, samples, T0) == [
        {"metric": "mem", "value": 12345678, "target": "nats-varz", "target_id": "tid", "env": "lab",
         "timestamp": "2026-11-26T12:00:00Z"},
        {"metric": "http_requests_total", "value": 7.5, "target": "nats-varz", "target_id": "tid", "env": "lab",
         "timestamp": "2026-11-26T12:00:00Z", "labels": {"code": "200"}},
    ]  # fmt: skip


def test_batches_stay_under_the_limit_and_keep_every_event() -> None:
    events = [{"metric": f"m{i}", "value": i} for i in range(100)]
    bodies = batches(events, 300)
    assert all(len(b) <= 300 for b in bodies) and len(bodies) > 1
    assert [e for b in bodies for e in orjson.loads(b)] == events
    assert batches([{"metric": "x" * 500, "value": 1}], 300) == []  # one too large for any message: dropped


@pytest.mark.parametrize(
    ("due_offset", "now_offset", "expected_offset"),
    [
        (0, 0, 10),  # polled on time: the next slot
        (0, 3, 10),  # a slow poll: still the next slot
        (0, 10, 20),  # exactly one slot late: the one after
        (0, 35, 40),  # far behind: skip to the first slot after now, no burst
    ],
)
def test_next_due_stays_on_the_grid(due_offset: int, now_offset: int, expected_offset: int) -> None:
    due, now = T0 + timedelta(seconds=due_offset), T0 + timedelta(seconds=now_offset)
    assert next_due(due, 10.0, now) == T0 + timedelta(seconds=expected_offset)


def test_a_snapshot_holds_values_latency_and_the_error() -> None:
    spec: TargetSpec = parse_target(VARZ)
    good = snapshot("tid", spec, T0, 12.3456, 200, read_json({"mem": 5}, spec.metrics), None)
    assert (good["ok"], good["values"], good["latency_ms"], good["error"]) == (True, {"mem": 5}, 12.346, None)
    failed = snapshot("tid", spec, T0, None, None, None, SourceError("network", "connection refused"))
    assert failed["ok"] is False and failed["error"] == {"kind": "network", "detail": "connection refused"}
    assert failed["values"] == {} and failed["at"] == "2026-11-26T12:00:00Z"
