"""One benchmark run: the product, the Bytewax peer and the limits on the same rules and events, as ratios."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

from bench.pipeline import engine_shards, limits, peer, router_partitions
from bench.pipeline.engine import engine_vs_peer, fresh_bare_loop, fresh_engine_run
from bench.pipeline.patterns import pattern_vs_plain
from bench.pipeline.peer_step import Flip
from bench.pipeline.product import run_product
from bench.pipeline.reference import as_flips, check_same, local_rules, parsed_events, reference_run
from bench.pipeline.scales import Scale
from bench.pipeline.tracing_cost import tracing_cost
from bench.pipeline.workload import Workload
from services.common.domain.rules.model import Rule

MAIN_SHARDS = 2  # the product's default CEP_SHARDS
ENGINE_SHARDS = (1, 2, 4)  # engine-only capacity, in memory (cheap at every scale)
ROUTER_PARTITIONS = (1, 2)  # routing capacity, a process per router partition (router_partitions.py)
ROUTER_TENANTS = 8
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
    rules, expected = main.pop("_rules"), main.pop("_reference_flips")
    result["product"] = main
    log(
        f"product ({MAIN_SHARDS} shards): {main.get('throughput_eps')} events/s sustained, alerts match: "
        f"{main['alerts_match_reference']}"
    )
    curve = {str(MAIN_SHARDS): main["capacity_eps"]}
    for shards in scale.shard_counts:
        if shards != MAIN_SHARDS:
            other = await run_product(scale, workdir, shards, full=False)
            other.pop("_rules"), other.pop("_reference_flips")
            result[f"product_{shards}_shards"] = other
            curve[str(shards)] = other["capacity_eps"]
            log(f"product ({shards} shards): capacity {other['capacity_eps']} events/s")
    result["shards_curve_capacity_eps"] = dict(sorted(curve.items(), key=lambda kv: int(kv[0])))
    same = Workload(hosts=scale.hosts, metrics=scale.metrics, t0=main["event_time_t0"])
    result |= in_memory(same, main["events_published"], rules, expected, workdir)
    log(
        f"in memory over the product's {main['events_published']} events: bytewax {result['bytewax']['eps']:.0f}, "
        f"bare python {result['bare_python']['eps']:.0f}, engine {result['engine']['eps']:.0f} events/s"
    )
    result["engine_vs_bytewax"] = engine_vs_peer(scale.engine_rule_counts, scale.engine_curve_events, workdir)
    log(f"engine vs bytewax: {result['engine_vs_bytewax']}")
    result["patterns"] = pattern_vs_plain(scale.pattern_users, scale.pattern_events)
    log(f"pattern rule beside a plain event rule: {result['patterns']}")
    result["engine_capacity_eps_by_shards"] = {
        str(n): engine_shards.capacity(workload, scale.engine_shard_events, n) for n in ENGINE_SHARDS
    }
    log(f"engine-only capacity by shards: {result['engine_capacity_eps_by_shards']}")
    result["router_partitions"] = await router_partitions.run(
        scale.router_events, ROUTER_TENANTS, list(ROUTER_PARTITIONS), scale.batch, scale.hosts, scale.metrics
    )
    log(f"routing capacity by router partitions: {result['router_partitions']['by_partitions']}")
    with limits.bare_nats(workdir) as url:
        result["nats_raw_msgs_per_s"] = (await limits.core_pub_sub(url, scale.nats_core_messages)).eps
        result["nats_jetstream_publish_msgs_per_s"] = (await limits.jetstream_publish(url, scale.nats_js_messages)).eps
    log(f"nats core {result['nats_raw_msgs_per_s']:.0f} msgs/s")
    result["rules_curve"] = limits.rules_curve(scale.rule_counts, scale.rules_curve_events, scale.batch, MAIN_SHARDS)
    result["memory"] = limits.memory_per_series(scale.memory_hosts)
    result["tracing"] = await tracing_cost(scale, workdir)
    log(f"tracing: {result['tracing']}")
    result |= headline(result, scale)
    result["elapsed_seconds"] = round(time.perf_counter() - began, 1)
    return result


ENGINE_ONLY_SAMPLES = 13  # samples per series for `engine_eps` without a stack: about what a full product run sends


def engine_only(scale: Scale, workdir: Path, log: Any = print, events: int | None = None) -> dict[str, Any]:
    """Only the in-memory engine figures, no stack: `engine_eps` over the product's workload (`events`, by default
    ENGINE_ONLY_SAMPLES per series, as many as a full run's stack gets) and the engine against the one-process peer
    at `engine_rule_counts` rules."""
    began = time.perf_counter()
    result: dict[str, Any] = {"scale": scale.name, "machine": machine()}
    workload = Workload(hosts=scale.hosts, metrics=scale.metrics)
    rules = local_rules(workload)
    count = events or ENGINE_ONLY_SAMPLES * workload.hosts * workload.metrics
    parsed = parsed_events(workload.events(0, count))
    reference, speed = reference_run(rules, parsed)
    evaluated, engine = fresh_engine_run(rules, workload, count)
    check_same("engine", evaluated, as_flips(reference, rules))
    result["engine"] = {"eps": round(engine.eps, 1), "events": engine.events, "transitions": len(evaluated)}
    result["reference_engine"] = {"eps": round(speed.eps, 1), "events": speed.events}
    log(f"engine {engine.eps:.0f} events/s, the reference engine {speed.eps:.0f}, over {engine.events} events")
    result["engine_vs_bytewax"] = engine_vs_peer(scale.engine_rule_counts, scale.engine_curve_events, workdir)
    log(f"engine vs bytewax: {result['engine_vs_bytewax']}")
    ratios = [v["ratio"] for v in result["engine_vs_bytewax"].values()]
    result["engine_eps"] = result["engine"]["eps"]
    result["ratio_engine_vs_bytewax"] = min(ratios) if ratios and None not in ratios else None
    result["elapsed_seconds"] = round(time.perf_counter() - began, 1)
    return result


def in_memory(
    workload: Workload, events: int, rules: list[Rule], expected: list[Flip], workdir: Path
) -> dict[str, Any]:
    """The peer (one process, and one per core: the faster counts), the peer's step in a plain loop and the
    shard's engine over the very events and rules the product ran; each must make the reference's transitions."""
    runs = []
    for processes in sorted({1, os.cpu_count() or 1}):
        ran = peer.run(workload, events, workdir, processes)
        check_same(f"bytewax peer ({processes} processes)", ran.pop("flips"), expected)
        runs.append(ran)
    best = max(runs, key=lambda ran: ran["eps"])
    best["by_processes"] = {str(ran["config"]["processes"]): round(ran["eps"], 1) for ran in runs}
    looped, bare = fresh_bare_loop(workload, events)
    check_same("bare python loop", looped, expected)
    evaluated, engine = fresh_engine_run(rules, workload, events)
    check_same("engine", evaluated, expected)
    return {
        "bytewax": best,
        "bare_python": {"eps": bare.eps, "events": bare.events, "transitions": len(looped)},
        "engine": {"eps": engine.eps, "events": engine.events, "transitions": len(evaluated)},
    }


def headline(result: dict[str, Any], scale: Scale) -> dict[str, Any]:
    """The figures and ratios issue 16 asks for by name, and its targets (reported, never asserted)."""
    product = result["product"]
    throughput = product.get("throughput_eps") or 0.0
    bytewax = result["bytewax"]["eps"]
    curve = result["rules_curve"]
    low, high = str(scale.rule_counts[0]), str(scale.rule_counts[-1])
    engine_only = {k: v["eps"] for k, v in result["engine_capacity_eps_by_shards"].items()}
    ratios = [v["ratio"] for v in result["engine_vs_bytewax"].values()]
    out: dict[str, Any] = {
        "throughput_eps": throughput,
        "bytewax_eps": round(bytewax, 1),
        "bare_python_eps": round(result["bare_python"]["eps"], 1),
        "engine_eps": round(result["engine"]["eps"], 1),
        "shards_per_event": product["shards_per_event"],
        "capacity_eps_by_shards": {"engine_only": engine_only, "end_to_end": result["shards_curve_capacity_eps"]},
        "nats_raw_msgs_per_s": round(result["nats_raw_msgs_per_s"], 1),
        "ratio_engine_vs_bytewax": min(ratios) if ratios and None not in ratios else None,
        "ratio_vs_bytewax": round(throughput / bytewax, 3) if bytewax else None,
        "ratio_10k_vs_10_rules": round(curve[high]["eps"] / curve[low]["eps"], 3),
        "tracing_off_capacity_eps": result["tracing"]["off"]["capacity_eps"],
        "tracing_on_capacity_eps": result["tracing"]["on"]["capacity_eps"],
        "tracing_on_vs_off": result["tracing"]["on_vs_off"],
    }
    for share, lat in product["latency"].items():
        for p in ("p50", "p99", "p999"):
            out[f"{p}_ms_at_{share}"] = lat[f"{p}_ms"]
    one, two = engine_only.get("1"), engine_only.get("2")
    out["engine_2_vs_1_shards"] = round(two / one, 3) if one and two else None
    routing = {k: v["eps"] for k, v in result["router_partitions"]["by_partitions"].items()}
    out["router_capacity_eps_by_partitions"] = routing
    out["router_2_vs_1_partitions"] = (
        round(routing["2"] / routing["1"], 3) if "1" in routing and "2" in routing else None
    )
    out["targets"] = targets(out)
    return out


TARGETS = (  # (name, figure, test): issue 16's targets
    ("ratio_engine_vs_bytewax >= 2", "ratio_engine_vs_bytewax", lambda v: v >= 2),
    ("ratio_vs_bytewax >= 0.5", "ratio_vs_bytewax", lambda v: v >= 0.5),
    ("shards_per_event <= 1.1", "shards_per_event", lambda v: v <= 1.1),
    ("engine-only capacity, 2 shards >= 1.7x 1 shard", "engine_2_vs_1_shards", lambda v: v >= 1.7),
    ("ratio_10k_vs_10_rules >= 0.6", "ratio_10k_vs_10_rules", lambda v: v >= 0.6),
    ("p99_ms_at_50pct < 100", "p99_ms_at_50pct", lambda v: v < 100),
    ("p999_ms_at_50pct < 300", "p999_ms_at_50pct", lambda v: v < 300),
)


def targets(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with its figure and whether it is met (a missing figure is not met)."""
    out = {}
    for name, key, test in TARGETS:
        value = figures.get(key)
        out[name] = {"figure": key, "value": value, "met": value is not None and bool(test(value))}
    return out
