"""Changing the placement: every (rule, group key) series moves to its new shard, nothing is lost.

The placement changes when the evaluator starts with another `CEP_SHARDS` than the shard map names, or finds a
map of an earlier version (rules placed by rule id: no `placement` in it; sharding.py). Before any actor starts,
the driver:

1. writes the shard map `{epoch: E + 1, shards: N, placement: "series", from: M, from_placement: P}`; the
   router switches to the new placement at its next batch and first marks the switch on `cep.work.epoch`
   (`services/common/nats/epoch_markers.py`; each router partition on a subject of its own, none routing with
   the new placement before all have marked it): every work message routed with the old placement precedes that
   marker, every one routed with the new one follows it (the cut);
2. brings each old shard's state up to the cut: its snapshot, plus its work stream replayed from the
   snapshot's sequence to the cut (transitions are published with their ids, as a restarted actor would);
3. moves series, not rules: every new shard holds every rule, and each series goes to the shard that owns it
   now (`split_snapshots`); stages the new snapshots (`rebalance-E-<n>` keys, then a `rebalance-E` marker),
   copies them to `shard-<n>` with the cut as their sequence, and drops the keys and consumers of shards that
   no longer exist;
4. the driver then writes the map without `from` and starts N actors, which resume after the cut.

A crash anywhere is finished by the next start: the map still says `from`, the old snapshots are untouched
until the staged ones are complete, and copying the staged ones again is harmless. Stop the old evaluator
before starting the new one (Kubernetes: the `Recreate` strategy): two drivers must not tick at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from services.common.domain.evaluation.sharding import SERIES, Placement
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.epoch_markers import marker_cut
from services.common.quota_book import QuotaBook
from services.evaluator.alert_publisher import publish_alerts
from services.evaluator.processor import Output, ShardState
from services.evaluator.quota_watch import BookLimits, follow_quotas, stop_following
from services.evaluator.shard_map import ShardMap, read_shard_map
from services.evaluator.snapshots import DEFAULT_PART_BYTES, ShardSnapshot, SnapshotStore, owned_rules
from services.evaluator.work import RawDone, Work, WorkError, decode_message, fresh, steps

log = logging.getLogger(__name__)

CUT_WAIT_SECONDS = 120.0  # how long to wait for the router to mark the new epoch (it must be running)
FETCH = 500


def split_snapshots(old: Sequence[ShardSnapshot], count: int, seq: int) -> list[ShardSnapshot]:
    """The snapshots of `count` shards under series placement holding the rules and series of `old` (pure).

    Every new shard holds every rule (the newest version any old shard held); each series goes to its owner.

    Their `raw_done` is the latest of the old shards' per tenant: a raw position routed before the cut and routed again
    after it (a router replay across the cut) is a copy for every new shard. Known gap (as with the per-event
    ids before): a router that failed mid-batch just before the cut, having stored that batch's work for some
    old shards only, replays it after the cut, and the new owners of the other old shards' series skip it.
    """
    formats = {snapshot.engine.get("format") for snapshot in old}
    if len(formats) > 1:
        raise ValueError(f"old snapshots in several formats: {sorted(map(str, formats))}")
    placement = Placement(count, SERIES)
    rules: dict[str, dict[str, Any]] = {}
    for snapshot in old:
        for rule in snapshot.rules:
            held = rules.get(str(rule["rule_id"]))
            if held is None or int(rule["version"]) > int(held["version"]):
                rules[str(rule["rule_id"])] = rule
    models = {rule_id: Rule.model_validate(rule) for rule_id, rule in rules.items()}
    series: list[dict[str, Any]] = [{} for _ in range(count)]
    for snapshot in old:
        for rule_id, entry in snapshot.engine["rules"].items():
            model = models.get(rule_id)
            if model is None:
                continue  # series of a rule no old shard holds: a restore would drop them too
            for key, data in entry["series"].items():
                moved = series[placement.series_shard(model, key)].setdefault(
                    rule_id, {"semantics": entry["semantics"], "series": {}}
                )
                moved["series"][key] = data
    fmt = formats.pop() if formats else None
    raw_done = RawDone.merged([snapshot.raw_done for snapshot in old])
    every = [rules[rule_id] for rule_id in sorted(rules)]
    return [ShardSnapshot(seq, every, {"format": fmt, "rules": _sorted(series[n])}, raw_done) for n in range(count)]


def _sorted(rules: dict[str, Any]) -> dict[str, Any]:
    """Rules and their series by id and key, as the engine's own snapshot orders them."""
    return {
        rule_id: {"semantics": entry["semantics"], "series": dict(sorted(entry["series"].items()))}
        for rule_id, entry in sorted(rules.items())
    }


async def rebalance(
    js: JetStreamContext,
    count: int,
    cut_wait: float = CUT_WAIT_SECONDS,
    *,
    part_bytes: int = DEFAULT_PART_BYTES,
    quotas: QuotaBook | None = None,
    pattern_cap: int | None = None,
    pattern_lateness: timedelta | None = None,
) -> bool:
    """Move the series to `count` shards under series placement if the shard map names another count or
    placement (or a rebalance to finish).

    True when something moved. The caller then publishes the shard map without `from` and starts the actors.
    Snapshots are written in parts of at most `part_bytes`; the replays to the cut apply the series quotas of
    `quotas` (the platform defaults when None), read from the quota bucket as the shards do, and the partial-match
    cap per key and the allowed lateness of pattern rules the shards run with (`pattern_cap`, CEP_PATTERN_MAX_PARTIALS;
    `pattern_lateness`, CEP_PATTERN_LATENESS; the defaults when None): a replay under others would match otherwise
    than the old shard would have.
    """
    control = await js.key_value(subjects.CONTROL_BUCKET)
    moved = False
    while True:
        current = await read_shard_map(control)
        if current is None or current.settled(count):
            return moved
        if current.moving_from is None:  # start a new one
            current = ShardMap(current.epoch + 1, count, current.shards, SERIES, current.placement)
            await control.put(subjects.SHARD_MAP_KEY, current.encode())
        assert current.moving_from is not None
        old = Placement(current.moving_from, current.from_placement)
        move = Rebalance(js, old, current.shards, current.epoch, part_bytes, quotas, pattern_cap, pattern_lateness)
        await move.run(cut_wait)
        await control.put(subjects.SHARD_MAP_KEY, ShardMap(current.epoch, current.shards).encode())
        moved = True


class Rebalance:
    """One move of the series from the `old` placement to `new` shards (series placement) under epoch `epoch`."""

    def __init__(
        self,
        js: JetStreamContext,
        old: Placement,
        new: int,
        epoch: int,
        part_bytes: int = DEFAULT_PART_BYTES,
        quotas: QuotaBook | None = None,
        pattern_cap: int | None = None,
        pattern_lateness: timedelta | None = None,
    ) -> None:
        self.js = js
        self.placement = old
        self.old = old.shards
        self.new = new
        self.epoch = epoch
        self.part_bytes = part_bytes
        self.quotas = quotas
        self.pattern_cap = pattern_cap  # partial matches per key of a pattern rule, as the shards hold them
        self.pattern_lateness = pattern_lateness  # how late a pattern rule's event may be, as the shards allow

    async def run(self, cut_wait: float) -> None:
        kv = await self.js.key_value(subjects.SNAPSHOTS_BUCKET)
        cut = await self.wait_for_cut(cut_wait)
        staged = await _get(kv, self._staged_key())
        if staged is None:
            states = await self._states_at_cut(kv, cut)
            split = split_snapshots(states, self.new, cut)
            for shard, snapshot in enumerate(split):
                await self._store(kv, self._staged_key(shard)).put(snapshot.encode(), cut)
            await kv.put(self._staged_key(), codec.dumps({"cut": cut, "from": self.old, "shards": self.new}))
        for shard in range(self.new):
            data = await self._store(kv, self._staged_key(shard)).load_data()
            assert data is not None, f"staged snapshot {self._staged_key(shard)} is missing"
            await self._store(kv, subjects.snapshot_key(shard)).put(data, cut)
        await self._drop_gone_shards(kv)
        for shard in range(self.new):
            await self._store(kv, self._staged_key(shard)).drop()
        with contextlib.suppress(KeyNotFoundError):
            await kv.purge(self._staged_key())
        log.info("rebalanced %d -> %d shards at work sequence %d (epoch %d)", self.old, self.new, cut, self.epoch)

    async def wait_for_cut(self, timeout: float) -> int:
        """The work-stream sequence of the router's marker for our epoch, or of the last partition's when routing
        is partitioned (the routers must be running)."""
        deadline = time.monotonic() + timeout
        while True:
            cut = await marker_cut(self.js, self.epoch)
            if cut is not None:
                return cut
            if time.monotonic() > deadline:
                raise TimeoutError(f"the routers did not mark shard-map epoch {self.epoch} within {timeout:.0f}s")
            await asyncio.sleep(0.2)

    async def _states_at_cut(self, kv: KeyValue, cut: int) -> list[ShardSnapshot]:
        """Every old shard's state at the cut, under the tenants' series quotas as the quota bucket has them."""
        if self.quotas is None:
            return [await self._state_at_cut(kv, shard, cut, None) for shard in range(self.old)]
        watch = await follow_quotas(self.js, self.quotas)
        try:
            return [await self._state_at_cut(kv, shard, cut, BookLimits(self.quotas)) for shard in range(self.old)]
        finally:
            await stop_following(watch)

    async def _state_at_cut(self, kv: KeyValue, shard: int, cut: int, limits: BookLimits | None) -> ShardSnapshot:
        """Old shard `shard`'s snapshot brought forward to the cut by replaying its work stream."""
        snapshot = await self._store(kv, subjects.snapshot_key(shard)).load()  # None: absent or not restorable
        state, seq, raw_done = None, 0, RawDone()
        owns = self.placement.owner(shard)  # what the old shard evaluated, as it would have
        try:
            if snapshot is not None:
                rules = snapshot.rule_models()
                cap, lateness = self.pattern_cap, self.pattern_lateness
                state = ShardState.restore(
                    snapshot.engine, rules, quotas=limits, owns=owns, pattern_cap=cap, pattern_lateness=lateness
                )
                seq = snapshot.seq
                raw_done = snapshot.raw_done
        except (ValueError, KeyError, TypeError) as exc:  # as a restarting actor does: replay everything
            log.error("snapshot of old shard %d not restorable: %s", shard, exc, extra={"shard": shard})
            state, seq, raw_done = None, 0, RawDone()
        if state is None:
            rules = await owned_rules(self.js, shard, self.old, self.placement.scheme)
            cap, lateness = self.pattern_cap, self.pattern_lateness
            state = ShardState.from_rules(rules, quotas=limits, owns=owns, pattern_cap=cap, pattern_lateness=lateness)
        items, raw_done = fresh(await self._work(shard, seq + 1, cut), raw_done)
        out = Output()
        for step in steps(items, 1, careful_through=cut):  # one item per engine call: poison stays isolated
            try:
                state.run(step, out)
            except Exception as exc:
                log.error("work at sequence %d skipped in the rebalance: %s", step[0].seq, exc, extra={"shard": shard})
        await publish_alerts(self.js, out.alerts, _dropped, shard)
        log.info("old shard %d replayed %d work message(s) after sequence %d", shard, len(items), seq)
        return ShardSnapshot(cut, *state.snapshot(), raw_done)

    async def _work(self, shard: int, start: int, cut: int) -> list[Work]:
        """The decoded work of an old shard from `start` up to the cut (poison left out, as the actor would)."""
        name = f"rebalance-{uuid.uuid4().hex[:8]}"
        config = ConsumerConfig(
            durable_name=name,
            filter_subject=subjects.work_subject(shard),
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(1, start),
            ack_policy=AckPolicy.NONE,
        )
        await self.js.add_consumer(subjects.WORK_STREAM, config)
        sub = await self.js.pull_subscribe_bind(name, stream=subjects.WORK_STREAM)
        items: list[Work] = []
        try:
            left = (await self.js.consumer_info(subjects.WORK_STREAM, name)).num_pending or 0
            while left > 0:
                for msg in await sub.fetch(min(FETCH, left), timeout=10):
                    left = msg.metadata.num_pending
                    seq = msg.metadata.sequence.stream
                    if seq >= cut:
                        return items
                    with contextlib.suppress(WorkError):
                        items += decode_message(seq, msg.data)[0]
            return items
        finally:
            await sub.unsubscribe()
            await self.js.delete_consumer(subjects.WORK_STREAM, name)

    async def _drop_gone_shards(self, kv: KeyValue) -> None:
        """Shards beyond the new count: their snapshots and durable consumers go (a later grow starts clean)."""
        for shard in range(self.new, max(self.old, self.new)):
            await self._store(kv, subjects.snapshot_key(shard)).drop()
            with contextlib.suppress(NotFoundError):
                await self.js.delete_consumer(subjects.WORK_STREAM, subjects.shard_consumer(shard))

    def _store(self, kv: KeyValue, key: str) -> SnapshotStore:
        return SnapshotStore.at(kv, key, self.part_bytes)

    def _staged_key(self, shard: int | None = None) -> str:
        return f"rebalance-{self.epoch}" if shard is None else f"rebalance-{self.epoch}-{shard}"


async def _get(kv: KeyValue, key: str) -> bytes | None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    return entry.value or None


def _dropped(transition: Transition, error: Exception) -> None:
    log.error("alert not publishable, dropped: %s", error, extra={"rule_id": transition.rule_id})
