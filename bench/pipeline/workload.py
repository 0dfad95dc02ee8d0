"""The benchmark's rules and events: deterministic, so every part (product, reference, peer, limit) sees the same.

Rules: `metrics` metric names x 10 rules each, all `group_by: [host]`: 5 plain thresholds (`>` 80..88) and
5 windowed `avg` (30s..10m windows). Extra rules on metric names that no event carries ("idle" rules) make
the rule count grow while the matching rules stay the same.

Events: host h reports metric j once per 10 s tick of event time; event n of the stream is
(tick n // (hosts*metrics), host n % hosts, metric (n // hosts) % metrics). Values sit around 40 with noise;
an "incident" (1 sample in 200 of a (host, metric)) lifts one sample to ~95, so the plain thresholds of that
series fire and resolve at the next sample, and the windows whose average it lifts enough (few samples in
them) too. At 100 x 100 series a run sees only a few samples per series, so incidents are per sample, not
long blocks: alerts keep coming at every phase of a run. Event time starts at `t0` (runs against a stack
start it shortly before now, so the gateway's ACK-SLA sweep does not find hours-old open alerts).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

T0 = 1_780_000_000  # 2026-05-28T20:26:40Z: the default event time of tick 0
TICK_SECONDS = 10
INCIDENT_TICKS = 1
INCIDENT_ONE_IN = 200
PLAIN_THRESHOLDS = (80, 82, 84, 86, 88)
WINDOWED = (("30s", 30.0, 70), ("1m", 60.0, 65), ("2m", 120.0, 60), ("5m", 300.0, 52), ("10m", 600.0, 47))
RULES_PER_METRIC = len(PLAIN_THRESHOLDS) + len(WINDOWED)


@dataclass(frozen=True)
class RuleShape:
    """One benchmark rule as the peer and the bare loop need it (the product gets `api_body()`)."""

    name: str
    metric: str
    threshold: float
    window: str | None = None  # None: a plain threshold on each sample
    window_seconds: float | None = None

    def api_body(self) -> dict[str, Any]:
        trigger: dict[str, Any] = {"metric_name": self.metric, "operator": ">", "threshold": self.threshold}
        if self.window is not None:
            trigger |= {"aggregation": "avg", "window": self.window}
        trigger["group_by"] = ["host"]
        return {"name": self.name, "trigger_type": "metric", "active": True, "trigger_spec": trigger}


@dataclass(frozen=True)
class Workload:
    """`metrics` x 10 matching rules over `hosts` hosts, plus `idle_rules` rules no event matches."""

    hosts: int = 100
    metrics: int = 100
    idle_rules: int = 0
    t0: int = T0

    @property
    def matching_rules(self) -> int:
        return self.metrics * RULES_PER_METRIC

    def metric_name(self, j: int) -> str:
        return f"bench_m{j:03d}"

    def rules(self) -> list[RuleShape]:
        """Every rule: the matching ones (by metric), then the idle ones."""
        out: list[RuleShape] = []
        for j in range(self.metrics):
            metric = self.metric_name(j)
            out += [RuleShape(f"{metric} > {t}", metric, t) for t in PLAIN_THRESHOLDS]
            out += [RuleShape(f"avg({metric}) {w} > {t}", metric, t, w, s) for w, s, t in WINDOWED]
        for i in range(self.idle_rules):
            out.append(RuleShape(f"idle {i}", f"bench_idle_{i:05d}", 50))
        return out

    def event(self, n: int) -> dict[str, Any]:
        """Event n of the stream (a JSON object as a producer sends it)."""
        per_tick = self.hosts * self.metrics
        tick, host, metric = n // per_tick, n % self.hosts, (n // self.hosts) % self.metrics
        noise = ((n * 2654435761) >> 7) % 2001 / 1000.0 - 1.0  # in [-1, 1], cheap and deterministic
        block = tick // INCIDENT_TICKS
        incident = ((host * 1_000_003 + metric * 7919 + block * 104_729) * 2654435761 >> 11) % INCIDENT_ONE_IN == 0
        value = round((95.0 + 3.0 * noise) if incident else (40.0 + 8.0 * noise), 2)
        return {
            "host": f"host-{host:03d}",
            self.metric_name(metric): value,
            "timestamp": self.t0 + TICK_SECONDS * tick,
            "n": n,
        }

    def events(self, start: int, stop: int) -> list[dict[str, Any]]:
        return [self.event(n) for n in range(start, stop)]


def sample_of(workload: Workload, event: dict[str, Any]) -> tuple[str, str, float, float]:
    """(metric, host, event time in seconds, value) of a parsed event: what the peer and the bare loop read."""
    for key, value in event.items():
        if key.startswith("bench_m"):
            return key, event["host"], float(event["timestamp"]), float(value)
    raise ValueError("not a benchmark event")


def batches(workload: Workload, start: int, stop: int, size: int) -> Iterator[tuple[int, bytes]]:
    """(first event index, JSON array body) of each message carrying `size` events (the last may carry fewer)."""
    for first in range(start, stop, size):
        yield first, orjson.dumps(workload.events(first, min(first + size, stop)))
