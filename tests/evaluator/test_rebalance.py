"""Changing the shard count or placement: window state built with 2 shards moves with its series to their new
shards, nothing is lost; a map of an earlier version (rules placed by id) moves to series placement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import nats
import pytest
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.evaluation.sharding import SERIES, Placement, shard_for
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.common.messages.work import work_event
from services.common.nats import subjects
from services.common.nats.router_partitions import every_partition
from services.evaluator.driver import ShardDriver
from services.evaluator.options import ShardOptions
from services.evaluator.rebalance import rebalance, split_snapshots
from services.evaluator.shard_map import ShardMap
from services.evaluator.snapshots import ShardSnapshot, SnapshotStore
from services.evaluator.work import EventWork, RawDone, decode_message
from services.ingest.router_pool import RouterPool
from tests.evaluator.flow import publish_rule, publish_samples, router_done, stored_alerts
from tests.evaluator.kit import connect, eventually, make_rule, publish_in_order, read
from tests.support.nats import NatsServer

TENANT = "acme"
HOSTS = ("h0", "h1", "h2")
# avg over 10m of cpu_usage per host: 20 samples of 70 then one of 100 -> 71.43: fires above 71, not above 72.
# Had the 2-shard window been lost the average would be 100 (every rule fires); had the backlog routed while
# the evaluator was down been lost, 10 samples of 70 and the 100 -> 72.7 (the `72` rules would fire).
THRESHOLDS = {f"cpu-{n}": 71 + n % 2 for n in range(8)}


def avg_rule(rule_id: str, threshold: float) -> Rule:
    trigger = {
        "metric_name": "cpu_usage",
        "operator": ">",
        "threshold": threshold,
        "aggregation": "avg",
        "window": "10m",
        "group_by": ["host"],
    }
    return make_rule({"trigger_type": "metric", "trigger_spec": trigger}, rule_id, tenant=TENANT)


def samples(hosts: tuple[str, ...] | list[str], second: int, value: float) -> list[Event]:
    now = datetime(2024, 5, 1, 12, tzinfo=UTC) + timedelta(seconds=second)
    return [Event(f"e{second}-{h}", TENANT, now, {"cpu_usage": value, "host": h}) for h in hosts]


def test_split_gives_every_new_shard_every_rule_and_each_series_to_its_owner() -> None:
    rules = [avg_rule(rule_id, threshold) for rule_id, threshold in THRESHOLDS.items()]
    hosts = [f"h{n}" for n in range(12)]
    old: list[ShardSnapshot] = []
    for shard in range(2):  # placed by rule id, as earlier versions did
        engine = RuleEngine()
        mine = [rule for rule in rules if shard_for(rule.rule_id, 2) == shard]
        for rule in mine:
            engine.upsert_rule(rule)
        engine.on_events(samples(hosts, 0, 70))
        old.append(ShardSnapshot(7, [rule.canonical() for rule in mine], engine.snapshot()))

    new = split_snapshots(old, 3, seq=42)

    assert [snapshot.seq for snapshot in new] == [42, 42, 42]
    every = sorted(rule.canonical()["rule_id"] for rule in rules)
    assert all([rule["rule_id"] for rule in snapshot.rules] == every for snapshot in new)
    placement, by_id = Placement(3), {rule.rule_id: rule for rule in rules}
    moved: dict[tuple[str, str], object] = {}
    for shard, snapshot in enumerate(new):
        for rule_id, entry in snapshot.engine["rules"].items():
            for key, series in entry["series"].items():
                assert placement.series_shard(by_id[rule_id], key) == shard
                moved[rule_id, key] = series
    before = {(r, k): v for o in old for r, e in o.engine["rules"].items() for k, v in e["series"].items()}
    assert moved == before and len(moved) == len(THRESHOLDS) * len(hosts)
    assert all(snapshot.engine["rules"] for snapshot in new)  # every new shard got some series


def test_series_moved_by_a_split_carry_on_as_one_engine_would() -> None:
    """Engines sharded by series over 2 shards, split to 3 mid-stream and restored there: one engine's output."""
    rules = [avg_rule(rule_id, threshold) for rule_id, threshold in THRESHOLDS.items()]
    hosts = [f"h{n}" for n in range(12)]
    one, expected, got = RuleEngine(), list[Transition](), list[Transition]()
    for rule in rules:
        one.upsert_rule(rule)

    def sharded(placement: Placement, snapshots: list[ShardSnapshot] | None = None) -> list[RuleEngine]:
        if snapshots is None:
            engines = [RuleEngine(owns=placement.owner(n)) for n in range(placement.shards)]
            for engine in engines:
                for rule in rules:
                    engine.upsert_rule(rule)
            return engines
        models = [Rule.model_validate(rule) for rule in snapshots[0].rules]
        return [RuleEngine.restore(s.engine, models, owns=placement.owner(n)) for n, s in enumerate(snapshots)]

    def feed(engines: list[RuleEngine], placement: Placement, second: int, value: float) -> None:
        nonlocal expected, got
        for event in samples(hosts, second, value):
            expected += one.on_events([event])
            owner = placement.series_shard(rules[0], f"host={event.payload['host']}")
            got += engines[owner].on_events([event])

    two = Placement(2)
    engines = sharded(two)
    for second in range(20):
        feed(engines, two, second, 70)
    rules_json = [rule.canonical() for rule in rules]
    three = Placement(3)
    split = split_snapshots([ShardSnapshot(5, rules_json, e.snapshot()) for e in engines], 3, 9)
    engines = sharded(three, split)
    feed(engines, three, 20, 100)
    assert sorted(t.as_dict()["transition_id"] for t in got) == sorted(t.transition_id for t in expected)
    assert [t for t in got if t.kind == "fired"] and {t.as_dict()["rule_id"] for t in got} == {
        r for r, t in THRESHOLDS.items() if t == 71
    }


def test_split_snapshots_take_the_latest_raw_position_of_the_old_shards_per_tenant() -> None:
    """A raw position routed before the cut and again after it (a router replay) is a copy on every new shard."""
    done = [
        RawDone((90, 0), {"acme": (95, 1), "beta": (130, 0)}),
        RawDone((120, 3), {"acme": (150, 2)}),
        RawDone(),
    ]
    old = [ShardSnapshot(7, [], {"format": 1, "rules": {}}, raw) for raw in done]
    merged = RawDone((120, 3), {"acme": (150, 2), "beta": (130, 0)})
    assert [snapshot.raw_done for snapshot in split_snapshots(old, 2, seq=42)] == [merged, merged]


@pytest.mark.slow  # ~25 s of Ray actor start-ups: `make test-slow` (CI)
@pytest.mark.parametrize("partitions", [1, 2], ids=["one-router", "two-router-partitions"])
async def test_window_state_survives_a_restart_with_three_shards(
    broker: NatsServer, ray_session: None, partitions: int
) -> None:
    nc, js = await connect(broker.url)
    router_nc = await nats.connect(broker.url)
    router = RouterPool(
        router_nc, partitions=partitions, default_shards=2, batch=500, lease_seconds=2, fetch_seconds=0.2
    )
    await router.start()
    base = datetime.now(UTC) - timedelta(minutes=5)
    try:
        for rule_id, threshold in THRESHOLDS.items():
            await publish_rule(js, avg_rule(rule_id, threshold))
        await publish_samples(js, TENANT, HOSTS, base, range(10), 70)
        driver = ShardDriver(ShardOptions(shards=2, snapshot_interval=0.2), broker.url, tick_interval=0.5)
        await driver.start(js)
        await eventually(lambda: _settled(js, driver), "the first samples evaluated on 2 shards")
        await driver.stop()
        # routed to the 2 old shards while the evaluator is down: the rebalance replays them
        await publish_samples(js, TENANT, HOSTS, base, range(10, 20), 70)
        await eventually(lambda: router_done(js), "the backlog routed")

        driver = ShardDriver(ShardOptions(shards=3, snapshot_interval=0.2), broker.url, tick_interval=0.5)
        await driver.start(js)
        await eventually(lambda: _settled(js, driver), "three shards consuming")
        statuses = await driver.status()
        kv = await js.key_value(subjects.CONTROL_BUCKET)
        assert ShardMap.decode((await kv.get(subjects.SHARD_MAP_KEY)).value) == ShardMap(2, 3)
        markers = [await js.get_last_msg(subjects.WORK_STREAM, p.marker_subject) for p in every_partition(partitions)]
        mark = {"epoch": 2, "shards": 3, "placement": SERIES}
        if partitions > 1:  # each partition marks, naming itself; the last marker is the cut
            assert [codec.loads(m.data or b"") for m in markers] == [
                {**mark, "partition": k, "partitions": partitions} for k in range(partitions)
            ]
        else:
            assert codec.loads(markers[0].data or b"") == mark
        cut = max(m.seq or 0 for m in markers)
        assert [s["resumed_from"] for s in statuses] == [cut] * 3  # every new shard starts at the cut
        assert [s["rules"] for s in statuses] == [len(THRESHOLDS)] * 3  # every shard holds every rule
        assert sum(s["series"] for s in statuses) == len(THRESHOLDS) * len(HOSTS)  # every window moved

        await publish_samples(js, TENANT, HOSTS, base, [20], 100)
        await eventually(lambda: _settled(js, driver), "the next sample evaluated on 3 shards")
        await driver.stop()
        fired = {
            a["transition_id"]: (a["rule_id"], a["group_key"]) for a in await stored_alerts(js) if a["kind"] == "fired"
        }
        expected = await _oracle(js)
        assert fired == expected
        assert sorted({rule for rule, _ in fired.values()}) == sorted(r for r, t in THRESHOLDS.items() if t == 71)
    finally:
        await router.stop()
        await router_nc.close()
        await nc.close()


async def _settled(js: JetStreamContext, driver: ShardDriver) -> bool:
    statuses = await driver.status()
    busy = [s for s in statuses if not s.get("consuming") or s.get("pending") != 0]
    return not busy and await router_done(js)


async def _oracle(js: JetStreamContext) -> dict[str, tuple[str, str]]:
    """The pure engine over every rule and every routed event once, in stream order: its fired transitions."""
    engine = RuleEngine()
    for rule_id, threshold in THRESHOLDS.items():
        engine.upsert_rule(avg_rule(rule_id, threshold))
    seen: set[str] = set()
    events: list[Event] = []
    for seq, data in await read(js, subjects.WORK_STREAM, f"{subjects.WORK_PREFIX}.*"):
        if data.startswith(b'{"epoch"'):
            continue  # a router's epoch marker
        for item in decode_message(seq, data)[0]:
            if isinstance(item, EventWork) and item.event.event_id not in seen:
                seen.add(item.event.event_id)
                events.append(item.event)
    return {t.transition_id: (t.rule_id, t.group_key) for t in engine.on_events(events) if t.kind == "fired"}


async def test_a_rebalance_cut_short_is_finished_by_the_next_start(broker: NatsServer) -> None:
    """The crash came after staging a 3 -> 1 move and copying it half: the next start copies, drops and ends it."""
    nc, js = await connect(broker.url)
    control, snapshots = await js.key_value(subjects.CONTROL_BUCKET), await js.key_value(subjects.SNAPSHOTS_BUCKET)
    rules = [avg_rule(rule_id, threshold) for rule_id, threshold in THRESHOLDS.items()]
    old = [
        ShardSnapshot(5, [r.canonical() for r in rules if shard_for(r.rule_id, 3) == n], {"format": 1, "rules": {}})
        for n in range(3)
    ]
    await control.put(subjects.SHARD_MAP_KEY, ShardMap(4, 1, moving_from=3).encode())
    cut = (await js.publish(subjects.WORK_EPOCH, codec.dumps({"epoch": 4, "shards": 1}))).seq
    [staged] = split_snapshots(old, 1, cut)
    await snapshots.put("rebalance-4-0", staged.encode())
    await snapshots.put("rebalance-4", codec.dumps({"cut": cut, "from": 3, "shards": 1}))
    await snapshots.put(subjects.snapshot_key(0), staged.encode())  # copied before the crash
    for n in (1, 2):
        await snapshots.put(subjects.snapshot_key(n), old[n].encode())  # not dropped yet

    assert await rebalance(js, 1, cut_wait=5)

    assert ShardMap.decode((await control.get(subjects.SHARD_MAP_KEY)).value) == ShardMap(4, 1)
    assert ShardSnapshot.decode((await snapshots.get(subjects.snapshot_key(0))).value or b"") == staged
    assert len(staged.rules) == len(THRESHOLDS)
    for key in (subjects.snapshot_key(1), subjects.snapshot_key(2), "rebalance-4-0", "rebalance-4"):
        with pytest.raises(KeyNotFoundError):
            await snapshots.get(key)
    assert not await rebalance(js, 1)  # nothing left to move
    await nc.close()


async def test_snapshots_in_parts_move_whole_and_leave_no_parts_behind(broker: NatsServer) -> None:
    """Old shards' snapshots over one value are read from their parts; the new ones are written in parts."""
    nc, js = await connect(broker.url)
    control, snapshots = await js.key_value(subjects.CONTROL_BUCKET), await js.key_value(subjects.SNAPSHOTS_BUCKET)
    rules = [avg_rule(rule_id, threshold) for rule_id, threshold in THRESHOLDS.items()]
    now, part = datetime(2024, 5, 1, 12, tzinfo=UTC), 4096
    before: dict[str, object] = {}
    for shard in range(2):
        engine, mine = RuleEngine(), [rule for rule in rules if shard_for(rule.rule_id, 2) == shard]
        for rule in mine:
            engine.upsert_rule(rule)
        hosts = [f"host-{n}" for n in range(40)]
        engine.on_events([Event(f"e{i}", TENANT, now, {"cpu_usage": 70, "host": h}) for i, h in enumerate(hosts)])
        snapshot = ShardSnapshot(0, [rule.canonical() for rule in mine], engine.snapshot())
        before.update(snapshot.engine["rules"])
        await SnapshotStore(snapshots, shard, part).save(snapshot.encode(), 0)
    await control.put(subjects.SHARD_MAP_KEY, ShardMap(2, 1, moving_from=2).encode())
    await js.publish(subjects.WORK_EPOCH, codec.dumps({"epoch": 2, "shards": 1}))

    assert await rebalance(js, 1, cut_wait=5, part_bytes=part)

    store = SnapshotStore(snapshots, 0, part)
    moved = await store.load()
    assert moved is not None and len(store.parts) > 1
    assert moved.engine["rules"] == before and len(moved.rules) == len(THRESHOLDS)
    watcher = await snapshots.watchall(ignore_deletes=True, meta_only=True)
    keys = []
    while (entry := await watcher.updates(timeout=5)) is not None:
        keys.append(entry.key)
    await watcher.stop()
    assert sorted(keys) == sorted([subjects.snapshot_key(0), *store.parts])  # no old, staged or stale parts
    await nc.close()


async def test_without_a_router_the_evaluator_does_not_guess_the_cut(broker: NatsServer) -> None:
    nc, js = await connect(broker.url)
    control = await js.key_value(subjects.CONTROL_BUCKET)
    await control.put(subjects.SHARD_MAP_KEY, ShardMap(1, 2).encode())
    with pytest.raises(TimeoutError, match="the routers did not mark shard-map epoch 2"):
        await rebalance(js, 3, cut_wait=0.5)
    assert codec.loads((await control.get(subjects.SHARD_MAP_KEY)).value or b"") == {
        "epoch": 2,
        "shards": 3,
        "placement": "series",
        "from": 2,
        "from_placement": "series",
    }  # left for the next start to finish
    await nc.close()


async def test_a_map_of_an_earlier_version_moves_to_series_placement_at_the_same_count(broker: NatsServer) -> None:
    """Rules placed by id on 2 shards (no placement in the map): the next start moves the series, not the count."""
    nc, js = await connect(broker.url)
    control, snapshots = await js.key_value(subjects.CONTROL_BUCKET), await js.key_value(subjects.SNAPSHOTS_BUCKET)
    rules = [avg_rule(rule_id, threshold) for rule_id, threshold in THRESHOLDS.items()]
    hosts = [f"host-{n}" for n in range(10)]
    for shard in range(2):
        engine, mine = RuleEngine(), [rule for rule in rules if shard_for(rule.rule_id, 2) == shard]
        for rule in mine:
            engine.upsert_rule(rule)
        engine.on_events(samples(hosts, 0, 70))
        snapshot = ShardSnapshot(0, [rule.canonical() for rule in mine], engine.snapshot())
        await SnapshotStore(snapshots, shard, 1 << 20).save(snapshot.encode(), 0)
    await control.put(subjects.SHARD_MAP_KEY, codec.dumps({"epoch": 1, "shards": 2}))  # an earlier version's map
    await js.publish(subjects.WORK_EPOCH, codec.dumps({"epoch": 2, "shards": 2, "placement": "series"}))  # router

    assert await rebalance(js, 2, cut_wait=5)

    assert ShardMap.decode((await control.get(subjects.SHARD_MAP_KEY)).value) == ShardMap(2, 2)
    placement = Placement(2)
    for shard in range(2):
        moved = await SnapshotStore(snapshots, shard, 1 << 20).load()
        assert moved is not None and len(moved.rules) == len(THRESHOLDS)
        keys = {key for entry in moved.engine["rules"].values() for key in entry["series"]}
        assert keys and all(placement.series_shard(rules[0], key) == shard for key in keys)
    assert not await rebalance(js, 2)  # settled
    await nc.close()


async def test_a_rebalance_replays_pattern_rules_under_the_configured_cap(broker: NatsServer) -> None:
    """The old shard's work after its snapshot is replayed to the cut with CEP_PATTERN_MAX_PARTIALS, not the default:
    five failures of ann under a cap of 2 leave 2 partial matches and 3 drops (the default would keep all 5)."""
    nc, js = await connect(broker.url)
    control, snapshots = await js.key_value(subjects.CONTROL_BUCKET), await js.key_value(subjects.SNAPSHOTS_BUCKET)
    trigger = {"steps": [{"name": "fail", "event_type": "login.failed", "times": {"min": 9}}], "within": "2m"}
    rule = make_rule({"trigger_type": "pattern", "trigger_spec": trigger | {"same": ["user"]}}, "bf", tenant=TENANT)
    engine = RuleEngine()
    engine.upsert_rule(rule)
    await SnapshotStore(snapshots, 0, 1 << 20).save(ShardSnapshot(0, [rule.canonical()], engine.snapshot()).encode(), 0)
    t0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
    failures = [
        work_event(Event(f"f{n}", TENANT, t0 + timedelta(seconds=n), {"user": "ann"}, "login.failed")) for n in range(5)
    ]
    await publish_in_order(js, subjects.work_subject(0), failures)
    await control.put(subjects.SHARD_MAP_KEY, ShardMap(2, 1, moving_from=1, from_placement=SERIES).encode())
    await js.publish(subjects.WORK_EPOCH, codec.dumps({"epoch": 2, "shards": 1}))

    assert await rebalance(js, 1, cut_wait=5, pattern_cap=2)

    moved = await SnapshotStore(snapshots, 0, 1 << 20).load()
    assert moved is not None
    matcher = moved.engine["rules"]["bf"]["series"]["user=ann"]["matcher"]
    assert len(matcher["keys"]["user=ann"]) == 2 and matcher["counters"]["dropped"] == 3
    await nc.close()
