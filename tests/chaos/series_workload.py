"""The chaos workload's metric and anomaly part: windowed thresholds with durations, a p95, an anomaly detector.

Every tenant holds the same SERIES_RULES, grouped by `host`. A host's samples (SAMPLES of them, STEP apart, a day
ahead of the wall clock like the rest of the workload) all travel in one batch, in time order: a series then sees
its samples in order whatever the order of the batches, so the outcome does not depend on which producer or
shard goes first. Each host follows a seeded profile:

- `hot`: cpu above 80 for two minutes (the `avg` over 1m with `for 30s` fires, the `max` over 30s maybe);
- `blip`: one cpu sample of 97 (the `max` rule fires; the duration rule must not);
- `anomalous`: a steady latency, then a jump of tens of standard deviations (the z-score rule fires, the p95 maybe);
- `calm`: nothing fires.

The expected episodes come from the reference engine run over the accepted samples (tests/chaos/workload.py).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

SAMPLES = 40
STEP = timedelta(seconds=5)
HOSTS_PER_BATCH = 12  # 480 samples: one ingest batch
PROFILES = ("hot", "blip", "anomalous", "calm")

SERIES_RULES: list[dict[str, Any]] = [
    {
        "name": "cpu-avg-1m-for-30s",
        "trigger_type": "metric",
        "active": True,
        "trigger_spec": {
            "metric_name": "cpu",
            "operator": ">",
            "threshold": 80,
            "aggregation": "avg",
            "window": "1m",
            "duration": "30s",
            "group_by": ["host"],
        },
    },
    {
        "name": "cpu-max-30s",
        "trigger_type": "metric",
        "active": True,
        "trigger_spec": {
            "metric_name": "cpu",
            "operator": ">",
            "threshold": 95,
            "aggregation": "max",
            "window": "30s",
            "group_by": ["host"],
        },
    },
    {
        "name": "latency-p95-1m-for-20s",
        "trigger_type": "metric",
        "active": True,
        "trigger_spec": {
            "metric_name": "latency",
            "operator": ">",
            "threshold": 400,
            "aggregation": "p95",
            "window": "1m",
            "duration": "20s",
            "group_by": ["host"],
        },
    },
    {
        "name": "latency-zscore",
        "trigger_type": "anomaly",
        "active": True,
        "trigger_spec": {
            "value_path": "latency",
            "anomaly_method": "zscore",
            "threshold": 6,
            "min_baseline": 20,
            "group_by": ["host"],
        },
    },
]


def series_batches(rng: random.Random, start: datetime, hosts: int, tag: str) -> list[list[dict[str, Any]]]:
    """`hosts` hosts' series (`host` = `<tag>-h<n>`), HOSTS_PER_BATCH whole series per batch, in time order."""
    batches = []
    for first in range(0, hosts, HOSTS_PER_BATCH):
        series = [_series(rng, start, f"{tag}-h{n}") for n in range(first, min(hosts, first + HOSTS_PER_BATCH))]
        batches.append([sample for step in zip(*series, strict=True) for sample in step])
    return batches


def _series(rng: random.Random, start: datetime, host: str) -> list[dict[str, Any]]:
    profile = rng.choice(PROFILES)
    offset = timedelta(milliseconds=rng.randrange(5000))
    hot_from, jump_at = rng.randrange(5, 15), rng.randrange(25, SAMPLES - 5)
    samples = []
    for i in range(SAMPLES):
        cpu = rng.uniform(20, 60)
        if profile == "hot" and hot_from <= i < hot_from + 24:
            cpu = rng.uniform(84, 94)
        if profile == "blip" and i == hot_from:
            cpu = 97.0
        latency = rng.gauss(100, 5)
        if profile == "anomalous" and i >= jump_at:
            latency = rng.uniform(900, 1100)
        at = start + offset + STEP * i
        samples.append(
            {"host": host, "cpu": round(cpu, 2), "latency": round(latency, 2), "timestamp": at.isoformat(), "i": i}
        )
    return samples
