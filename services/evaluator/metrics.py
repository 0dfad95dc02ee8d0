"""Shard metrics: counters kept by each actor, reported in its status, exposed by the driver's collector.

Actors run in other processes, so they cannot register with the evaluator's Prometheus registry; the driver
polls their status and a custom collector turns the figures into `cep_eval_batch_seconds`,
`cep_transitions_total{kind}`, `cep_eval_events_total`, `cep_eval_poison_total`,
`cep_consumer_pending{stream,consumer}` and the cost of anomaly model refits (`cep_eval_refits_total`,
`cep_eval_refit_seconds_total`, `cep_eval_refit_waits_total`, `cep_eval_refit_wait_seconds_total`), new series
refused by a quota (`cep_eval_series_refused_total{tenant}`), snapshots written by kind
(`cep_eval_snapshots_total{kind}`: `base` captured whole, `delta`, `rebase` = a base built from the stored one and
its deltas) and snapshots not written (`cep_eval_snapshot_failures_total`), and the snapshot captures forked off
(`cep_eval_snapshot_children_total{outcome}`, `cep_eval_snapshot_child_cpu_seconds_total`,
`cep_eval_snapshot_child_faulted_bytes_total`). Totals
survive actor restarts: the counters of an incarnation that went away are carried into a base, so the exposed
counters never go down.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from services.common.nats import subjects

BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class ShardCounters:
    """What one actor incarnation has done; `as_dict` travels in its status."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(BATCH_BUCKETS) + 1))  # last one: +Inf
    batches: int = 0
    batch_seconds: float = 0.0
    events: int = 0
    poison: int = 0
    transitions: dict[str, int] = field(default_factory=dict)
    # From the shard state's refit pool (`ShardState.refit_figures`, merged into the status): refits run, seconds
    # fitting in the pool's threads, and waits of the hot path on a refit not done by its sample.
    refits: int = 0
    refit_seconds: float = 0.0
    refit_waits: int = 0
    refit_wait_seconds: float = 0.0
    series_refused: dict[str, int] = field(default_factory=dict)  # new series refused by a quota, per tenant
    snapshot_failures: int = 0
    snapshots: dict[str, int] = field(default_factory=dict)  # snapshots written, by kind (base, delta, rebase)
    # Snapshot captures in a forked child (snapshot_fork.py): by outcome (ok, failed, skipped: too little memory free
    # to fork, captured in process), and what they cost as the
    # kernel counted it when each was reaped: CPU seconds, and bytes of pages faulted in (copied or allocated).
    snapshot_children: dict[str, int] = field(default_factory=dict)
    snapshot_child_seconds: float = 0.0
    snapshot_child_faulted_bytes: int = 0

    def child_done(self, outcome: str, cpu_seconds: float, faulted_bytes: int) -> None:
        self.snapshot_children[outcome] = self.snapshot_children.get(outcome, 0) + 1
        self.snapshot_child_seconds += cpu_seconds
        self.snapshot_child_faulted_bytes += faulted_bytes

    def wrote_snapshot(self, kind: str) -> None:
        self.snapshots[kind] = self.snapshots.get(kind, 0) + 1

    def refused(self, tenant: str, count: int) -> None:
        self.series_refused[tenant] = self.series_refused.get(tenant, 0) + count

    def observe_batch(self, seconds: float, events: int, kinds: Sequence[str]) -> None:
        """Count one processed batch: its duration, its events and the kinds of the transitions it produced."""
        index = next((i for i, bound in enumerate(BATCH_BUCKETS) if seconds <= bound), len(BATCH_BUCKETS))
        self.buckets[index] += 1
        self.batches += 1
        self.batch_seconds += seconds
        self.events += events
        for kind in kinds:
            self.transitions[kind] = self.transitions.get(kind, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "buckets": list(self.buckets),
            "batches": self.batches,
            "batch_seconds": self.batch_seconds,
            "events": self.events,
            "poison": self.poison,
            "transitions": dict(self.transitions),
            "refits": self.refits,
            "refit_seconds": self.refit_seconds,
            "refit_waits": self.refit_waits,
            "refit_wait_seconds": self.refit_wait_seconds,
            "series_refused": dict(self.series_refused),
            "snapshot_failures": self.snapshot_failures,
            "snapshots": dict(self.snapshots),
            "snapshot_children": dict(self.snapshot_children),
            "snapshot_child_seconds": self.snapshot_child_seconds,
            "snapshot_child_faulted_bytes": self.snapshot_child_faulted_bytes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShardCounters:
        return cls(
            list(data["buckets"]),
            int(data["batches"]),
            float(data["batch_seconds"]),
            int(data["events"]),
            int(data["poison"]),
            dict(data["transitions"]),
            int(data.get("refits", 0)),  # absent from the status of an actor of an older version
            float(data.get("refit_seconds", 0.0)),
            int(data.get("refit_waits", 0)),
            float(data.get("refit_wait_seconds", 0.0)),
            dict(data.get("series_refused") or {}),
            int(data.get("snapshot_failures", 0)),
            dict(data.get("snapshots") or {}),
            snapshot_children=dict(data.get("snapshot_children") or {}),
            snapshot_child_seconds=float(data.get("snapshot_child_seconds", 0.0)),
            snapshot_child_faulted_bytes=int(data.get("snapshot_child_faulted_bytes", 0)),
        )

    def plus(self, other: ShardCounters) -> ShardCounters:
        kinds = set(self.transitions) | set(other.transitions)
        tenants = set(self.series_refused) | set(other.series_refused)
        written = set(self.snapshots) | set(other.snapshots)
        children = set(self.snapshot_children) | set(other.snapshot_children)
        return ShardCounters(
            [a + b for a, b in zip(self.buckets, other.buckets, strict=True)],
            self.batches + other.batches,
            self.batch_seconds + other.batch_seconds,
            self.events + other.events,
            self.poison + other.poison,
            {k: self.transitions.get(k, 0) + other.transitions.get(k, 0) for k in kinds},
            self.refits + other.refits,
            self.refit_seconds + other.refit_seconds,
            self.refit_waits + other.refit_waits,
            self.refit_wait_seconds + other.refit_wait_seconds,
            {t: self.series_refused.get(t, 0) + other.series_refused.get(t, 0) for t in tenants},
            self.snapshot_failures + other.snapshot_failures,
            {k: self.snapshots.get(k, 0) + other.snapshots.get(k, 0) for k in written},
            {k: self.snapshot_children.get(k, 0) + other.snapshot_children.get(k, 0) for k in children},
            self.snapshot_child_seconds + other.snapshot_child_seconds,
            self.snapshot_child_faulted_bytes + other.snapshot_child_faulted_bytes,
        )


class ShardCollector(Collector):
    """A Prometheus collector over the latest shard statuses the driver saw (`update`)."""

    def __init__(self) -> None:
        self._base: dict[int, ShardCounters] = {}  # counters of incarnations that are gone, per shard
        self._current: dict[int, tuple[str, ShardCounters]] = {}  # (incarnation, counters) per shard
        self._pending: dict[int, int] = {}

    def update(self, statuses: Sequence[Mapping[str, Any]]) -> None:
        """Take in a round of statuses; a shard whose incarnation changed hands its old counters to the base."""
        for status in statuses:
            shard = int(status["shard"])
            if "counters" in status and status.get("incarnation"):
                counters = ShardCounters.from_dict(status["counters"])
                previous = self._current.get(shard)
                if previous is not None and previous[0] != status["incarnation"]:
                    self._base[shard] = self._base.get(shard, ShardCounters()).plus(previous[1])
                self._current[shard] = (status["incarnation"], counters)
            if status.get("pending") is not None:
                self._pending[shard] = int(status["pending"])

    def totals(self) -> ShardCounters:
        """Everything every shard has done since the driver started."""
        total = ShardCounters()
        for counters in [*self._base.values(), *(c for _, c in self._current.values())]:
            total = total.plus(counters)
        return total

    def collect(self) -> Iterator[Metric]:
        total = self.totals()
        cumulative, running = [], 0
        for bound, count in zip([*map(str, BATCH_BUCKETS), "+Inf"], total.buckets, strict=True):
            running += count
            cumulative.append((bound, running))
        yield HistogramMetricFamily(
            "cep_eval_batch_seconds",
            "Time a shard takes to evaluate one fetched batch and publish its transitions",
            buckets=cumulative,
            sum_value=total.batch_seconds,
        )
        yield _by_label("cep_transitions", "Alert transitions published, by kind", "kind", total.transitions)
        yield CounterMetricFamily("cep_eval_events", "Events evaluated by the shards", value=total.events)
        yield CounterMetricFamily(
            "cep_eval_poison", "Work messages the shards could not process (logged, acked)", value=total.poison
        )
        yield CounterMetricFamily("cep_eval_refits", "Anomaly model refits run off the hot path", value=total.refits)
        yield CounterMetricFamily(
            "cep_eval_refit_seconds",
            "Seconds spent fitting anomaly models (refit pool threads)",
            value=total.refit_seconds,
        )
        yield CounterMetricFamily(
            "cep_eval_refit_waits", "Times a shard waited for a refit not done by its sample", value=total.refit_waits
        )
        yield CounterMetricFamily(
            "cep_eval_refit_wait_seconds",
            "Seconds shards waited for refits (the refit time left on the hot path)",
            value=total.refit_wait_seconds,
        )
        yield _by_label(
            "cep_eval_series_refused",
            "New (rule, group key) series refused by the tenant's series quota (their events not evaluated)",
            "tenant",
            total.series_refused,
        )
        yield CounterMetricFamily(
            "cep_eval_snapshot_failures",
            "Shard snapshots not written (a restart then replays from the previous one)",
            value=total.snapshot_failures,
        )
        yield _by_label(
            "cep_eval_snapshots",
            "Shard snapshots written, by kind: base (captured whole), delta, rebase (the stored base brought forward)",
            "kind",
            total.snapshots,
        )
        yield _by_label(
            "cep_eval_snapshot_children",
            "Shard snapshots captured in a forked child, by outcome (failed: a whole base was captured in process)",
            "outcome",
            total.snapshot_children,
        )
        yield CounterMetricFamily(
            "cep_eval_snapshot_child_cpu_seconds",
            "CPU seconds (user + system) spent by the shards' snapshot children",
            value=total.snapshot_child_seconds,
        )
        yield CounterMetricFamily(
            "cep_eval_snapshot_child_faulted_bytes",
            "Bytes of pages the snapshot children faulted in (copied on write or allocated): their own memory",
            value=total.snapshot_child_faulted_bytes,
        )
        pending = GaugeMetricFamily(
            "cep_consumer_pending", "Messages not yet processed by a consumer", labels=["stream", "consumer"]
        )
        for shard in sorted(self._pending):
            pending.add_metric([subjects.WORK_STREAM, subjects.shard_consumer(shard)], self._pending[shard])
        yield pending


def _by_label(name: str, documentation: str, label: str, counts: Mapping[str, float]) -> CounterMetricFamily:
    """A counter with one sample per value of `label`, in sorted order."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value in sorted(counts):
        family.add_metric([value], counts[value])
    return family
