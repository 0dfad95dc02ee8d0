"""`python -m bench.pipeline.hops`: the per-hop latency table, its pieces, and a short run on a real `cep up`.

No timing assertions: the run checks that every probe was found at every hop.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench.pipeline.hops import HOPS, hop_table, host_pattern, measure, message_body, render
from bench.pipeline.stack import running_stack


def test_only_the_last_event_of_a_message_is_the_probe() -> None:
    events = orjson.loads(message_body("42", 7, batch=3))
    assert [event["hop_probe"] > 50 for event in events] == [False, False, True]
    assert [int(m.group(1)) for m in host_pattern("42").finditer(message_body("42", 7, batch=3))] == [7]
    assert host_pattern("43").search(message_body("42", 7, batch=1)) is None  # another run's probes


def test_a_hop_counts_only_probes_seen_at_both_ends() -> None:
    times: dict[str, dict[int, float]] = {name: {} for _, start, end in HOPS for name in (start, end)}
    times["publish"] = {0: 10.000, 1: 20.000, 2: 30.000}
    times["events"] = {0: 10.001, 1: 20.002, 2: 30.003}
    times["work"] = {0: 10.011, 2: 30.013}  # probe 1 never reached the work stream
    rows = {row["hop"]: row for row in hop_table(times, [0, 1, 2])}
    publish = rows["publish -> CEP_EVENTS"]
    assert (publish["samples"], publish["p50_ms"], publish["max_ms"]) == (3, 2.0, 3.0)
    router = rows["CEP_EVENTS -> CEP_WORK (router)"]
    assert (router["samples"], router["p50_ms"], router["max_ms"]) == (2, 10.0, 10.0)
    assert rows["publish -> SSE (total)"] == {
        "hop": "publish -> SSE (total)",
        "samples": 0,
        "p50_ms": None,
        "p99_ms": None,
        "max_ms": None,
    }


@pytest.mark.e2e
@pytest.mark.slow  # a `cep up` stack: about a minute on a busy machine
async def test_every_probe_is_timed_at_every_hop(tmp_path: Path) -> None:
    with running_stack(tmp_path, shards=1) as bench:
        result = await measure(bench, messages=5, rate=5.0, batch=3)
    rows = {row["hop"]: row for row in result["hops"]}
    assert set(rows) == {label for label, _, _ in HOPS}
    assert all(row["samples"] == 5 for row in rows.values()), render(result)
