"""The pipeline benchmark at a tiny scale, so CI keeps it working: every part runs against a real `cep up` stack,
the JSON carries the figures the issue names, and the alerts the stack recorded equal the offline reference.
No timing assertions: figures on a shared CI machine mean nothing. The whole run is in `make test-slow`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.pipeline import engine_shards, report
from bench.pipeline.drive import Progress, Sample, events_behind, kept_up
from bench.pipeline.engine import shard_engine_run
from bench.pipeline.latency import percentile
from bench.pipeline.patterns import pattern_vs_plain
from bench.pipeline.peer_step import bare_loop
from bench.pipeline.reference import as_flips, check_same, local_rules, parsed_events, reference_run
from bench.pipeline.run import run, targets
from bench.pipeline.scales import TINY
from bench.pipeline.workload import Workload

KEYS = (
    "throughput_eps",
    "bytewax_eps",
    "bare_python_eps",
    "engine_eps",
    "shards_per_event",
    "capacity_eps_by_shards",
    "nats_raw_msgs_per_s",
    "ratio_engine_vs_bytewax",
    "ratio_vs_bytewax",
    "ratio_10k_vs_10_rules",
    *(f"{p}_ms_at_{share}pct" for p in ("p50", "p99", "p999") for share in (10, 50, 80)),
    "tracing_off_capacity_eps",
    "tracing_on_capacity_eps",
    "tracing_on_vs_off",
)


@pytest.mark.parametrize(
    ("behind", "drain", "expected"),
    [
        ([0, 150, 40, 180, 20, 90, 0], 0.3, True),  # fetch batches come and go: no trend
        ([0, 100, 200, 300, 400, 500, 600], 0.8, False),  # grows 100 events/s at a rate of 1,000: 10%
        ([2400, 2500, 2450, 2500, 2480, 2500, 2500], None, False),  # flat, but what was left did not drain
        ([0, 900, 1000, 950, 1000, 980, 1000], 0.3, True),  # the pipeline filling in the first seconds: no trend
    ],
)
def test_kept_up_means_no_growing_backlog_and_a_quick_drain(
    behind: list[int], drain: float | None, expected: bool
) -> None:
    samples = [Sample(float(at), float(count), 0) for at, count in enumerate(behind)]
    assert kept_up(samples, rate=1000, drain_seconds=drain) is expected


def test_the_backlog_is_counted_in_events_whatever_the_work_messages_hold() -> None:
    start = Progress(sent=1000, evaluated=1800.0)  # 2 shards per event: 900 events evaluated before the phase
    assert events_behind(1500, 1800.0 + 2 * 400, start, fanout=2.0) == 100  # 500 sent, 400 evaluated
    assert events_behind(1500, 1800.0 + 2 * 500, start, fanout=2.0) == 0
    assert events_behind(1500, 1800.0, start, fanout=0.0) == 0  # no rule matches: nothing waits


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (50.0, 99.0, None)
    thousand = [float(v) for v in range(1, 1001)]
    assert (percentile(thousand, 99.9), percentile(values, 99.9)) == (999.0, 100.0)


def test_the_peer_step_makes_the_reference_transitions() -> None:
    workload = Workload(hosts=5, metrics=2)
    payloads = workload.events(0, 3000)
    rules = local_rules(workload)
    transitions, _ = reference_run(rules, parsed_events(payloads))
    expected = as_flips(transitions, rules)
    flips, speed = bare_loop(workload, payloads)
    assert sorted(flips) == sorted(expected) and {flip[2] for flip in flips} == {"fired", "resolved"}
    assert speed.events == 3000
    check_same("the plain loop", flips, expected)
    with pytest.raises(AssertionError, match="the plain loop"):
        check_same("the plain loop", flips[1:], expected)


def test_the_shard_engine_run_makes_the_reference_transitions() -> None:
    workload = Workload(hosts=5, metrics=1)
    payloads = workload.events(0, 1000)
    rules = local_rules(workload)
    transitions, _ = reference_run(rules, parsed_events(payloads))
    flips, speed = shard_engine_run(rules, parsed_events(payloads))
    assert sorted(flips) == sorted(as_flips(transitions, rules)) and speed.events == 1000


@pytest.mark.parametrize("shards", [2, 4])
def test_the_engine_shards_hold_every_rule_and_together_make_the_reference_transitions(shards: int) -> None:
    workload = Workload(hosts=8, metrics=3)
    events = parsed_events(workload.events(0, 1200))
    rules = local_rules(workload)
    transitions, _ = reference_run(rules, events)
    routed = engine_shards.receivers(rules, events, shards)
    flips = []
    for shard in range(shards):
        owns = engine_shards.placement(shards).owner(shard)
        flips += shard_engine_run(rules, routed[shard], owns=owns)[0]
    assert sum(map(len, routed)) == len(events) and sum(1 for mine in routed if mine) > 1  # one shard each, spread
    check_same(f"{shards} engine shards", flips, as_flips(transitions, rules))
    assert flips and engine_shards.shards_per_event(workload, 1200, shards) == 1.0


def test_each_target_is_reported_with_its_figure_and_a_missing_figure_is_not_met() -> None:
    met = targets({"ratio_engine_vs_bytewax": 2.5, "p99_ms_at_50pct": 140.0})
    assert met["ratio_engine_vs_bytewax >= 2"] == {"figure": "ratio_engine_vs_bytewax", "value": 2.5, "met": True}
    assert met["p99_ms_at_50pct < 100"]["met"] is False and met["shards_per_event <= 1.1"]["met"] is False


@pytest.mark.e2e
@pytest.mark.slow  # a `cep up` stack, Bytewax runs, engine processes, a nats-server: 2-3 minutes when busy
async def test_tiny_run_reports_every_figure_and_the_alerts_match(tmp_path: Path) -> None:
    result = await run(TINY, tmp_path, log=lambda line: None)

    assert set(KEYS) <= set(result)
    product = result["product"]
    assert product["alerts_match_reference"] is True, product
    assert product["alerts_recorded"] > 0
    assert product["sustain_attempts"] and set(product["latency"]) == {"10pct", "50pct", "80pct"}
    assert "_rules" not in product and "_reference_flips" not in product  # the JSON holds figures only
    assert result["bytewax"]["transitions"] == result["engine"]["transitions"] == result["bare_python"]["transitions"]
    assert result["bytewax"]["transitions"] > 0 and "flips" not in result["bytewax"]
    assert set(result["engine_vs_bytewax"]) == {str(count) for count in TINY.engine_rule_counts}
    assert set(result["capacity_eps_by_shards"]["engine_only"]) == {"1", "2", "4"}
    assert set(result["router_capacity_eps_by_partitions"]) == {"1", "2"} and result["router_2_vs_1_partitions"] > 0
    assert set(result["targets"]) >= {"ratio_engine_vs_bytewax >= 2", "p999_ms_at_50pct < 300"}
    assert set(result["rules_curve"]) == {str(count) for count in TINY.rule_counts}
    assert result["memory"]["windowed_avg"]["bytes_per_series"] > result["memory"]["plain"]["bytes_per_series"]
    tracing = result["tracing"]
    assert tracing["off"]["alerts_match_reference"] is True and tracing["on"]["alerts_match_reference"] is True
    assert tracing["on"]["otlp_requests"] > 0 and tracing["on_vs_off"] is not None  # the traced stack exported

    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## NAB\n\ntheirs\n")
    report.update_docs(result, docs)
    report.update_docs(result, docs)  # a second run replaces the block, never appends another
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\n## NAB\n\ntheirs\n")
    assert text.count(report.BEGIN) == 1 and "ratio_vs_bytewax" in text


def test_the_pattern_bench_matches_every_cycle_once_and_reports_both_rules() -> None:
    figures = pattern_vs_plain(users=7, events=7 * 12)
    assert figures["matches"] == 14  # two cycles of six per user
    assert figures["pattern_eps"] > 0 and figures["plain_event_rule_eps"] > 0
