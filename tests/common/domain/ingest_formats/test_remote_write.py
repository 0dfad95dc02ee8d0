"""Prometheus remote_write into flat events: labels as fields, `__name__` not repeated, NaN/staleness counted."""

from __future__ import annotations

import math
import struct

import cramjam
import pytest

from services.common.domain.ingest_formats.compression import BodyTooLarge, MalformedBody
from services.common.domain.ingest_formats.flat_events import STALE_NAN_BITS
from services.common.domain.ingest_formats.remote_write import decode_write_request, write_request_events
from services.common.pb.prometheus.remote_pb2 import Label, Sample, TimeSeries, WriteRequest

STALE = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
T0 = 1_714_564_800_000  # 2024-05-01T12:00:00Z in ms


def series(name: str | None, samples: list[tuple[float, int]], **labels: str) -> TimeSeries:
    pairs = ([("__name__", name)] if name is not None else []) + list(labels.items())
    return TimeSeries(
        labels=[Label(name=k, value=v) for k, v in pairs],
        samples=[Sample(value=v, timestamp=t) for v, t in samples],
    )


def snappy(request: WriteRequest) -> bytes:
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def test_each_sample_is_a_flat_metric_event_with_its_labels_and_time() -> None:
    request = WriteRequest(timeseries=[series("up", [(1.0, T0), (0.5, T0 + 1500)], job="node", instance="a:9100")])
    batch = write_request_events(decode_write_request(snappy(request), 1 << 20))
    assert batch.events == [
        {"metric": "up", "value": 1, "timestamp": "2024-05-01T12:00:00Z", "job": "node", "instance": "a:9100"},
        {"metric": "up", "value": 0.5, "timestamp": "2024-05-01T12:00:01.500000Z", "job": "node", "instance": "a:9100"},
    ]
    assert not batch.skipped


@pytest.mark.parametrize(
    ("value", "reason"),
    [(math.nan, "nan"), (STALE, "stale"), (math.inf, "inf"), (-math.inf, "inf")],
)
def test_nan_staleness_and_infinities_are_skipped_and_counted_never_refused(value: float, reason: str) -> None:
    request = WriteRequest(timeseries=[series("x", [(value, T0), (2.0, T0)])])
    batch = write_request_events(request)
    assert [e["value"] for e in batch.events] == [2]
    assert batch.skipped == {reason: 1}


def test_a_label_named_like_an_event_field_keeps_its_value_under_a_prefix_and_dots_become_underscores() -> None:
    request = WriteRequest(timeseries=[series("x", [(3.0, T0)], value="label", timestamp="t", **{"k8s.pod": "p"})])
    (event,) = write_request_events(request).events
    assert event["value"] == 3 and event["timestamp"] == "2024-05-01T12:00:00Z"
    assert event["label_value"] == "label" and event["label_timestamp"] == "t" and event["k8s_pod"] == "p"
    assert "__name__" not in event


def test_series_without_a_name_native_histograms_and_bad_times_are_counted() -> None:
    nameless = series(None, [(1.0, T0), (2.0, T0)], job="x")
    histogram = TimeSeries(labels=[Label(name="__name__", value="h")], histograms=[b"\x08\x01"])
    far = series("x", [(1.0, 10**15 * 300)])
    batch = write_request_events(WriteRequest(timeseries=[nameless, histogram, far]))
    assert batch.events == []
    assert batch.skipped == {"no_metric_name": 2, "native_histogram": 1, "timestamp": 1}
    assert batch.describe_skips() == "4 skipped: 1 native_histogram, 2 no_metric_name, 1 timestamp"


def test_a_body_that_is_not_snappy_or_not_protobuf_is_malformed() -> None:
    with pytest.raises(MalformedBody, match="snappy"):
        decode_write_request(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 1 << 20)
    with pytest.raises(MalformedBody, match="WriteRequest"):
        decode_write_request(bytes(cramjam.snappy.compress_raw(b"\x0a\xff\xff\xff\x0f")), 1 << 20)


def test_a_snappy_bomb_is_refused_by_its_header_before_decompression() -> None:
    bomb = bytes(cramjam.snappy.compress_raw(b"\0" * (8 << 20)))
    assert len(bomb) < 400_000
    with pytest.raises(BodyTooLarge, match="CEP_MAX_DECOMPRESSED_BYTES"):
        decode_write_request(bomb, 1 << 20)
