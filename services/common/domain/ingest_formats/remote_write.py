"""Prometheus remote_write 1.0: a snappy-compressed WriteRequest into flat metric events.

Each sample of each series becomes `{"metric": <__name__>, "value": v, "timestamp": <sample time>, <labels>}`;
`__name__` is not repeated among the labels. NaN, the staleness marker and infinities are skipped and counted, as
are native histogram samples (not mapped) and the samples of a series without `__name__`.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from services.common.domain.ingest_formats.compression import MalformedBody, snappy_block
from services.common.domain.ingest_formats.flat_events import (
    METRIC_FIELDS,
    FlatBatch,
    fields_of,
    metric_event,
    skip_reason,
    time_from_millis,
)
from services.common.pb.prometheus.remote_pb2 import TimeSeries, WriteRequest

NAME_LABEL = "__name__"
LABEL_PREFIX = "label_"  # a label named like an event field (`value`, `timestamp`, ...) becomes `label_<name>`


def decode_write_request(body: bytes, max_bytes: int) -> WriteRequest:
    """The WriteRequest of a snappy-compressed body; MalformedBody, or BodyTooLarge past `max_bytes` decompressed."""
    raw = snappy_block(body, max_bytes)
    try:
        return WriteRequest.FromString(raw)
    except DecodeError as exc:
        raise MalformedBody(f"the decompressed body is not a remote-write WriteRequest (protobuf): {exc}") from None


def write_request_events(request: WriteRequest) -> FlatBatch:
    """The flat events of every sample in the request, in body order, and the samples skipped by reason."""
    batch = FlatBatch()
    for series in request.timeseries:
        _series_events(series, batch)
    return batch


def _series_events(series: TimeSeries, batch: FlatBatch) -> None:
    if series.histograms:
        batch.skipped["native_histogram"] += len(series.histograms)
    name = next((label.value for label in series.labels if label.name == NAME_LABEL), "")
    if not name:
        if series.samples:
            batch.skipped["no_metric_name"] += len(series.samples)
        return
    pairs = ((label.name, label.value) for label in series.labels if label.name != NAME_LABEL)
    fields = fields_of(pairs, METRIC_FIELDS, LABEL_PREFIX)
    for sample in series.samples:
        reason = skip_reason(sample.value)
        if reason is None:
            try:
                at = time_from_millis(sample.timestamp)
            except ValueError:
                reason = "timestamp"
        if reason is not None:
            batch.skipped[reason] += 1
            continue
        batch.events.append(metric_event(name, sample.value, at, fields))
