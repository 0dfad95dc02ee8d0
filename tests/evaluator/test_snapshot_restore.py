"""Snapshots taken as a busy shard takes them (every chunk, the engine re-snapshotting only the series that changed):
a restore from one taken mid-stream, then the rest of the input, equals the uninterrupted run."""

from __future__ import annotations

from typing import Any

from services.common.messages import codec
from services.evaluator.processor import Output, ShardState
from services.evaluator.snapshots import ShardSnapshot, compress
from services.evaluator.work import EventWork, RawDone, TickWork, Work
from tests.common.domain.kit import at, event, make_rule, metric

HOSTS = 30
DEPLOY = {"event_type": "deploy", "group_by": ["host"], "resolve_after": "20s"}
RULES = [
    make_rule(metric("cpu", aggregation="avg", window="2m", group_by=["host"], duration="30s"), "avg-cpu"),
    make_rule(metric("cpu", threshold=95, group_by=["host"]), "cpu-spike"),
    make_rule({"trigger_type": "event", "trigger_spec": DEPLOY}, "deploys"),
]


def workload(steps: int) -> list[list[Work]]:
    """Chunks of input as a shard gets them: a few hosts' samples and deploys, then a tick."""
    chunks: list[list[Work]] = []
    seq = 0
    for n in range(steps):
        chunk: list[Work] = []
        for k in range(4):  # only a few of the hosts move per chunk: most series stay unchanged
            seq += 1
            host = f"h{(n * 7 + k) % HOSTS}"
            seconds = n * 5.0 + k
            if (n + k) % 9 == 0:
                chunk.append(EventWork(seq, event(seconds, {"host": host}, "deploy"), raw=(seq, 0)))
            else:
                cpu = 99 if (n // 6 + k) % 3 == 0 else 40 + (n * 13 + k) % 50
                chunk.append(EventWork(seq, event(seconds, {"cpu": cpu, "host": host}), raw=(seq, 0)))
        seq += 1
        chunk.append(TickWork(seq, at(n * 5.0 + 4)))
        chunks.append(chunk)
    return chunks


def run(state: ShardState, chunks: list[list[Work]]) -> list[dict[str, Any]]:
    out = Output()
    for chunk in chunks:
        for item in chunk:  # one item per call, as the shard does for anything but runs of events
            state.run([item], out)
    return [transition.as_dict() for transition, _ in out.alerts]


def full_json(state: ShardState, seq: int) -> bytes:
    rules, engine = state.snapshot()
    return codec.dumps({"seq": seq, "rules": rules, "engine": engine, "raw_done": [seq, 0]})


def test_a_restore_from_a_mid_stream_snapshot_then_the_rest_equals_the_uninterrupted_run() -> None:
    chunks = workload(60)
    uninterrupted = ShardState.from_rules(RULES)
    expected = run(uninterrupted, chunks)
    assert {t["kind"] for t in expected} >= {"fired", "resolved"}

    for cut in (7, 23, 41):
        first = ShardState.from_rules(RULES)
        before: list[dict[str, Any]] = []
        body = b""
        for chunk in chunks[:cut]:  # snapshots every chunk, as a busy shard does: the cache is used throughout
            before += run(first, [chunk])
            rules, engine = first.snapshot()
            body = ShardSnapshot(chunk[-1].seq, rules, engine, RawDone((chunk[-1].seq, 0))).json()
        stored = ShardSnapshot.decode(compress(body))
        assert stored.seq == chunks[cut - 1][-1].seq
        restored = ShardState.restore(stored.engine, stored.rule_models())
        after = run(restored, chunks[cut:])
        assert before + after == expected, cut
        assert full_json(restored, 0) == full_json(uninterrupted, 0), cut
