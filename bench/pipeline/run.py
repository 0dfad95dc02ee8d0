"""One benchmark run: the product, the Bytewax peer and the limits on the same rules and events, as ratios."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

from bench.pipeline import limits, peer
from bench.pipeline.product import run_product
from bench.pipeline.reference import bare_loop
from bench.pipeline.scales import Scale
from bench.pipeline.workload import Workload

MAIN_SHARDS = 2  # the product's default CEP_SHARDS
INGEST_PATH = (
    "NATS producer path: JetStream publish to cep.ingest.<tenant> with the admin token (auth callout), "
    "one JSON array of {batch} events per message, PubAck awaited, 64 messages in flight"
)
DURABILITY = "JetStream file store with sync_interval: always (fsync on every write), the product's default"


def machine() -> dict[str, Any]:
    """Where the figures came from."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line), ""
        )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


async def run(scale: Scale, workdir: Path, log: Any = print) -> dict[str, Any]:
    """Every part, in order; `log` gets a line per finished part."""
    began = time.perf_counter()
    result: dict[str, Any] = {"scale": scale.name, "machine": machine()}
    workload = Workload(hosts=scale.hosts, metrics=scale.metrics)
    result["workload"] = {
        "rules": workload.matching_rules,
        "hosts": scale.hosts,
        "metric_names": scale.metrics,
        "rules_per_event": 10,
        "batch_size": scale.batch,
        "ingest_path": INGEST_PATH.format(batch=scale.batch),
        "durability": DURABILITY,
    }
    main = await run_product(scale, workdir, MAIN_SHARDS, full=True)
    result["product"] = main
    log(
        f"product ({MAIN_SHARDS} shards): {main.get('throughput_eps')} events/s sustained, alerts match: "
        f"{main['alerts_match_reference']}"
    )
    curve = {str(MAIN_SHARDS): main["capacity_eps"]}
    for shards in scale.shard_counts:
        if shards != MAIN_SHARDS:
            other = await run_product(scale, workdir, shards, full=False)
            result[f"product_{shards}_shards"] = other
            curve[str(shards)] = other["capacity_eps"]
            log(f"product ({shards} shards): capacity {other['capacity_eps']} events/s")
    result["shards_curve_capacity_eps"] = dict(sorted(curve.items(), key=lambda kv: int(kv[0])))
    result["bytewax"] = peer.run(workload, scale.peer_events, scale.batch, workdir)
    log(f"bytewax: {result['bytewax']['eps']:.0f} events/s")
    transitions, bare = bare_loop(workload.rules(), workload, workload.events(0, scale.bare_events))
    result["bare_python"] = {"eps": bare.eps, "events": bare.events, "transitions": transitions}
    with limits.bare_nats(workdir) as url:
        result["nats_raw_msgs_per_s"] = (await limits.core_pub_sub(url, scale.nats_core_messages)).eps
        result["nats_jetstream_publish_msgs_per_s"] = (await limits.jetstream_publish(url, scale.nats_js_messages)).eps
    log(f"bare python: {bare.eps:.0f} events/s; nats core {result['nats_raw_msgs_per_s']:.0f} msgs/s")
    result["rules_curve"] = limits.rules_curve(scale.rule_counts, scale.rules_curve_events, scale.batch, MAIN_SHARDS)
    result["memory"] = limits.memory_per_series(scale.memory_hosts)
    result |= headline(result, scale)
    result["elapsed_seconds"] = round(time.perf_counter() - began, 1)
    return result


def headline(result: dict[str, Any], scale: Scale) -> dict[str, Any]:
    """The figures and ratios the issue asks for by name, and the targets (reported, never asserted)."""
    throughput = result["product"].get("throughput_eps") or 0.0
    bytewax = result["bytewax"]["eps"]
    curve = result["rules_curve"]
    low, high = str(scale.rule_counts[0]), str(scale.rule_counts[-1])
    p99 = result["product"]["latency"]["50pct"]["p99_ms"]
    out = {
        "throughput_eps": throughput,
        "bytewax_eps": round(bytewax, 1),
        "bare_python_eps": round(result["bare_python"]["eps"], 1),
        "engine_eps": result["product"]["engine_eps"],
        "nats_raw_msgs_per_s": round(result["nats_raw_msgs_per_s"], 1),
        "ratio_vs_bytewax": round(throughput / bytewax, 3) if bytewax else None,
        "p99_ms_at_50pct": p99,
        "ratio_10k_vs_10_rules": round(curve[high]["eps"] / curve[low]["eps"], 3),
    }
    out["targets"] = {
        "ratio_vs_bytewax >= 1.0": out["ratio_vs_bytewax"] is not None and out["ratio_vs_bytewax"] >= 1.0,
        "ratio_10k_vs_10_rules >= 0.6": out["ratio_10k_vs_10_rules"] >= 0.6,
        "p99_ms_at_50pct < 100": p99 is not None and p99 < 100,
    }
    return out
