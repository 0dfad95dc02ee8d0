"""Killing shard actors: Ray restarts them, they restore their snapshot and replay; nothing is lost or changed."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import ray
from nats.js.client import JetStreamContext

from services.common.domain.evaluation.sharding import Placement
from services.common.domain.events.model import Event
from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.common.messages.work import work_event, work_rule
from services.common.nats import subjects
from services.evaluator import driver as driver_module
from services.evaluator.driver import ShardDriver
from services.evaluator.options import ShardOptions
from services.evaluator.snapshots import SnapshotStore
from tests.evaluator.conftest import Actors
from tests.evaluator.kit import (
    alerts,
    at,
    by_id,
    change,
    connect,
    eventually,
    make_rule,
    oracle,
    publish,
    publish_in_order,
    read,
)
from tests.support.nats import NatsServer

RULES, KEYS, EVENTS, BACKLOG = 6, 30, 12_000, 8_000
TWO = Placement(2)


def event_rule(n: int) -> Rule:
    trigger = {"event_type": f"type-{n}", "group_by": ["key"], "resolve_after": "2s"}
    return make_rule({"trigger_type": "event", "trigger_spec": trigger}, f"rule-{n}")


@pytest.mark.slow  # long (a stack or a kill and recovery): `make test-slow` keeps `make test` under 10 min
async def test_a_killed_actor_resumes_and_the_alerts_equal_the_pure_core(
    broker: NatsServer, ray_session: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The oracle needs each shard's last sequence from a clean stop; a busy CI machine once took over the driver's
    # 10 s for it (a final snapshot after 0.2 s ones), and a shard not stopped cleanly is killed and says nothing.
    monkeypatch.setattr(driver_module, "STOP_TIMEOUT_SECONDS", 60.0)
    nc, js = await connect(broker.url)
    rules = [event_rule(n) for n in range(RULES)]
    for rule in rules:  # every shard holds every rule
        for shard in (0, 1):
            await publish_in_order(js, subjects.work_subject(shard), [work_rule(change(rule))])
    # Event times before the wall clock: the driver's (wall-clock) ticks resolve the episodes they pass, and the
    # later events open new ones, so the outcome depends on where the ticks fall in the input.
    base = datetime.now(UTC) - timedelta(minutes=10)
    work = [
        _occurrence(rules, i, base + timedelta(milliseconds=5 * i + (60_000 if i >= BACKLOG else 0)))
        for i in range(EVENTS)
    ]
    await _publish(js, work[:BACKLOG])

    driver = ShardDriver(ShardOptions(shards=2, snapshot_interval=0.2, fetch_batch=500), broker.url, tick_interval=0.1)
    await driver.start(js)
    victim = driver.actors[0]

    seen: list[dict[str, Any]] = []

    async def mid_stream() -> bool:
        seen.append((await driver.status())[0])
        return bool(seen[-1].get("consuming")) and seen[-1]["snapshot_seq"] > 0

    await eventually(mid_stream, "shard 0 to be under way", timeout=60)
    info = await js.consumer_info(subjects.WORK_STREAM, subjects.shard_consumer(0))
    ray.kill(victim, no_restart=False)  # the process dies; Ray starts a new incarnation, the driver starts it
    killed_at = time.monotonic()
    before = seen[-1]
    unacked = info.num_pending + info.num_ack_pending
    assert unacked > 0, info
    # Acked means delivered: the alerts of every work message the dead incarnation acked are stored already.
    floor = (await js.consumer_info(subjects.WORK_STREAM, subjects.shard_consumer(0))).ack_floor.stream_seq
    acked_work = await read(js, subjects.WORK_STREAM, subjects.work_subject(0), through=floor)
    stored_at_kill = set(by_id(await alerts(js)))
    assert floor > 0 and set(by_id(oracle(acked_work))) <= stored_at_kill
    print(f"\nkilled shard 0 after sequence {before['last_seq']} with {unacked} work messages un-acked")
    last_event = await _publish(js, work[BACKLOG:])  # more input, interleaved with ticks, while it restarts

    async def resumed() -> bool:
        status = (await driver.status())[0]
        return bool(status["alive"] and status.get("incarnation") != before["incarnation"] and status.get("consuming"))

    await eventually(resumed, "shard 0 to come back", timeout=60)
    after = (await driver.status())[0]
    print(f"restarted in {time.monotonic() - killed_at:.1f}s, resumed after sequence {after['resumed_from']}")
    assert after["resumed_from"] > 0

    async def caught_up() -> bool:
        statuses = await driver.status()
        return all(s.get("last_seq", 0) >= last_event[s["shard"]] for s in statuses)

    await eventually(caught_up, "both shards to catch up", timeout=60)
    final = await driver.stop()

    expected: dict[str, dict[str, Any]] = {}
    for status in final:
        work_done = await read(
            js, subjects.WORK_STREAM, subjects.work_subject(status["shard"]), through=status["last_seq"]
        )
        expected |= by_id(oracle(work_done))
    stored = await alerts(js)
    got = by_id(stored)  # also: every copy of an id has the same content
    print(f"{len(stored)} alert messages, {len(got)} distinct, {len(expected)} expected")
    assert set(got) == set(expected)
    assert got == expected
    kinds = Counter(a["kind"] for a in got.values())
    assert kinds["resolved"] > 0 and kinds["fired"] > len(rules) * KEYS // RULES, kinds
    await nc.close()


def _occurrence(rules: list[Any], i: int, when: datetime) -> tuple[int, bytes]:
    """An occurrence on the shard owning its series (the rules group by key: placed by key)."""
    rule = rules[i % RULES]
    item = Event(f"ev-{i}", "acme", when, {"key": f"k{i % KEYS}"}, f"type-{i % RULES}")
    return TWO.series_shard(rule, f"key=k{i % KEYS}"), work_event(item)


async def _publish(js: JetStreamContext, work: list[tuple[int, bytes]]) -> dict[int, int]:
    """Publish each shard's part; the last sequence per shard."""
    last: dict[int, int] = {}
    for shard in (0, 1):
        part = [body for owner, body in work if owner == shard]
        if part:
            last[shard] = (await publish(js, subjects.work_subject(shard), part))[-1]
    return last


@pytest.mark.parametrize(
    ("fork", "headroom"),
    [
        (True, 0.0),
        # CEP_SNAPSHOT_FORK=false: `make test-slow`. Its in-process capture is the one the variant below falls
        # back to when no child may be forked, which `make test` runs.
        pytest.param(False, 0.0, marks=pytest.mark.slow),
        (True, 1e9),
    ],
    ids=["captured-in-a-child", "captured-in-process", "no-memory-free-to-fork"],
)
async def test_a_snapshot_carries_state_across_a_restart(
    broker: NatsServer, actors: Actors, fork: bool, headroom: float
) -> None:
    """`headroom` 1e9: no machine has a billion times the shard's resident size free, so the capture stays in
    process and the shard says why (`skipped`)."""
    forked = fork and headroom < 1e9
    nc, js = await connect(broker.url)
    subject = subjects.work_subject(0)
    errors = make_rule(
        {
            "trigger_type": "event",
            "trigger_spec": {"event_type": "error", "group_by": ["service"], "resolve_after": "1h"},
        },
        "errors",
    )

    def occurrence(n: int) -> bytes:
        return work_event(Event(f"ev-{n}", "acme", at(n), {"service": "api"}, "error"))

    options = ShardOptions(shards=1, snapshot_interval=3600, snapshot_fork=fork, snapshot_fork_headroom=headroom)
    actor = actors.new(0, options)
    await actor.start.remote(broker.url)

    async def processed(seq: int) -> bool:
        return bool((await actor.status.remote())["last_seq"] >= seq)

    seq = (await publish_in_order(js, subject, [work_rule(change(errors)), occurrence(1)]))[-1]
    await eventually(lambda: processed(seq), "the first occurrence")
    snapshot_seq = await actor.snapshot.remote()
    assert snapshot_seq == seq
    status = await actor.status.remote()
    skipped = int(fork and not forked)
    assert status["snapshot_children"] == {"ok": int(forked), "failed": 0, "skipped": skipped}  # forked, or not
    assert (status["snapshot_child_last"] is not None) == forked  # and counted the child's cost
    assert status["counters"]["snapshot_children"] == ({"ok": 1} if forked else {"skipped": 1} if skipped else {})
    seq = (await publish_in_order(js, subject, [occurrence(2)]))[-1]
    await eventually(lambda: processed(seq), "the second occurrence")
    incarnation = (await actor.status.remote())["incarnation"]

    ray.kill(actor, no_restart=False)

    async def restarted() -> bool:
        try:
            return bool((await actor.status.remote())["incarnation"] != incarnation)
        except Exception:
            return False

    await eventually(restarted, "the new incarnation", timeout=60)
    status = await actor.start.remote(broker.url)
    assert status["resumed_from"] == snapshot_seq and status["rules"] == 1
    await eventually(lambda: processed(seq), "the replay of the second occurrence")
    replayed = (await actor.status.remote())["counters"]
    assert (replayed["events"], replayed["transitions"]) == (1, {"updated": 1})  # re-published with the same id
    seq = (await publish_in_order(js, subject, [occurrence(3)]))[-1]
    await eventually(lambda: processed(seq), "the third occurrence after the restart")

    stored = await alerts(js)
    # JetStream drops the replayed copy (same Nats-Msg-Id within its duplicate window); the ids are what count.
    assert sorted((a["kind"], a["count"]) for a in by_id(stored).values()) == [
        ("fired", 1),
        ("updated", 2),
        ("updated", 3),
    ]
    assert by_id(stored) == by_id(oracle(await read(js, subjects.WORK_STREAM, subject)))

    # A clean stop snapshots what it processed; a fresh actor resumes there and replays nothing.
    stopped = await actor.stop.remote()
    kv = await js.key_value(subjects.SNAPSHOTS_BUCKET)
    snapshot = await SnapshotStore(kv, 0).load()  # a base and deltas: what a restart reads
    assert snapshot is not None and snapshot.seq == stopped["last_seq"] == seq
    assert [r["rule_id"] for r in snapshot.rules] == ["errors"] and snapshot.engine["rules"]["errors"]["series"]
    fresh = actors.new(0, ShardOptions(shards=1))
    status = await fresh.start.remote(broker.url)
    assert status["resumed_from"] == seq and status["series"] == 1
    seq = (await publish_in_order(js, subject, [occurrence(4)]))[-1]
    await eventually(lambda: fresh_processed(fresh, seq), "the fourth occurrence")
    assert [(a["kind"], a["count"]) for a in (await alerts(js))[len(stored) :]] == [("updated", 4)]
    await nc.close()


async def fresh_processed(actor: Any, seq: int) -> bool:
    return bool((await actor.status.remote())["last_seq"] >= seq)


async def test_without_a_snapshot_a_shard_loads_every_rule_from_the_bucket_and_evaluates_its_series(
    broker: NatsServer, actors: Actors
) -> None:
    nc, js = await connect(broker.url)
    kv = await js.key_value(subjects.RULES_BUCKET)
    rules = [
        make_rule({"trigger_type": "event", "trigger_spec": {"event_type": "error", "group_by": ["host"]}}, f"r-{n}")
        for n in range(12)
    ]
    for rule in rules:
        await kv.put(subjects.rule_key(rule.tenant, rule.rule_id), codec.dumps(rule.canonical()))
    await kv.delete(subjects.rule_key("acme", "r-0"))
    actor = actors.new(1, ShardOptions(shards=2))
    status = await actor.start.remote(broker.url)
    assert status["rules"] == len(rules) - 1 and status["resumed_from"] == 0
    mine, theirs = (next(f"h{n}" for n in range(99) if TWO.series_shard(rules[1], f"host=h{n}") == s) for s in (1, 0))
    occurrences = [work_event(Event(f"e-{host}", "acme", at(0), {"host": host}, "error")) for host in (theirs, mine)]
    seq = (await publish_in_order(js, subjects.work_subject(1), occurrences))[-1]
    await eventually(lambda: fresh_processed(actor, seq), "the events")
    assert {(a["rule_id"], a["group_key"]) for a in await alerts(js)} == {
        (rule.rule_id, f"host={mine}") for rule in rules[1:]
    }  # the series of another shard (sent here by mistake) are not evaluated
    await nc.close()


def occurrence(n: int, service: int) -> bytes:
    """Work: an `error` event of service `s<service>` at second n."""
    return work_event(Event(f"ev-{n}", "acme", at(n), {"service": f"s{service}"}, "error"))


async def snapshot_after(js: JetStreamContext, actor: Any, work: list[bytes]) -> tuple[Any, Any]:
    """Publish `work` to shard 0, wait until it is applied, snapshot, and read back (snapshot, chain)."""
    seq = (await publish_in_order(js, subjects.work_subject(0), work))[-1]
    await eventually(lambda: fresh_processed(actor, seq), f"sequence {seq}")
    assert await actor.snapshot.remote() == seq
    store = SnapshotStore(await js.key_value(subjects.SNAPSHOTS_BUCKET), 0)
    return await store.load(), store.chain


async def test_a_snapshot_of_a_few_changes_is_a_delta_and_one_of_most_series_a_new_base(
    broker: NatsServer, actors: Actors
) -> None:
    nc, js = await connect(broker.url)
    errors = make_rule(
        {
            "trigger_type": "event",
            "trigger_spec": {"event_type": "error", "group_by": ["service"], "resolve_after": "1h"},
        },
        "errors",
    )

    actor = actors.new(0, ShardOptions(shards=1, snapshot_interval=3600))
    await actor.start.remote(broker.url)
    full, _ = await snapshot_after(js, actor, [work_rule(change(errors))] + [occurrence(n, n) for n in range(20)])
    assert len(full.engine["rules"]["errors"]["series"]) == 20
    # One series of twenty moved: a delta after the base.
    loaded, chain = await snapshot_after(js, actor, [occurrence(20, 0)])
    assert chain is not None and len(chain.deltas) == 1
    before, after = full.engine["rules"]["errors"]["series"], loaded.engine["rules"]["errors"]["series"]
    assert [key for key in after if after[key] != before[key]] == ["service=s0"] and after.keys() == before.keys()
    # Fifteen of twenty moved (past CEP_SNAPSHOT_DELTA_RATIO, 0.5): the capture is whole and the new base.
    loaded, chain = await snapshot_after(js, actor, [occurrence(21 + n, n) for n in range(15)])
    assert chain is not None and chain.deltas == () and chain.seq == loaded.seq
    assert len(loaded.engine["rules"]["errors"]["series"]) == 20
    # Written whole from the live state: no stored base was decoded and brought forward.
    assert (await actor.status.remote())["counters"]["snapshots"] == {"base": 2, "delta": 1}
    await nc.close()


async def test_deltas_past_the_chains_limit_become_a_new_base(broker: NatsServer, actors: Actors) -> None:
    nc, js = await connect(broker.url)
    errors = make_rule(
        {"trigger_type": "event", "trigger_spec": {"event_type": "error", "group_by": ["service"]}}, "errors"
    )

    actor = actors.new(0, ShardOptions(shards=1, snapshot_interval=3600, max_deltas=1))
    await actor.start.remote(broker.url)
    await snapshot_after(js, actor, [work_rule(change(errors))] + [occurrence(n, n) for n in range(20)])
    _, chain = await snapshot_after(js, actor, [occurrence(20, 0)])
    assert chain is not None and len(chain.deltas) == 1
    # A second delta would pass CEP_SNAPSHOT_MAX_DELTAS (1): the stored base and both deltas make the new base.
    loaded, chain = await snapshot_after(js, actor, [occurrence(21, 1)])
    assert chain is not None and chain.deltas == () and chain.seq == loaded.seq
    series = loaded.engine["rules"]["errors"]["series"]
    assert len(series) == 20 and series["service=s0"]["episode"]["count"] == 2
    assert series["service=s1"]["episode"]["count"] == 2
    assert (await actor.status.remote())["counters"]["snapshots"] == {"base": 1, "delta": 1, "rebase": 1}
    await nc.close()
