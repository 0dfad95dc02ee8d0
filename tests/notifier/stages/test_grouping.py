"""The grouping stage on its own, against a real KV bucket, at literal times."""

from __future__ import annotations

import pytest
from nats.js.kv import KeyValue

from services.common.domain.notify.grouping import group_id
from services.common.messages.delivery import GroupJob
from services.notifier.compare_and_set import SAVE_TRIES, KeptChanging
from services.notifier.stages.base import Grouped, Passed
from services.notifier.stages.grouping import Grouping
from services.notifier.timed_jobs.groups import GroupStore
from tests.notifier.stages.conftest import NOON, RacingGroupStore, notification

BY_HOST = {"group_by": ["host"], "group_wait": "30s"}


def _flush(labels: str, due: float, flushes: int = 0) -> GroupJob:
    return GroupJob("group-timer", "acme", "r1", group_id(labels), labels, due, flushes)


async def test_a_rule_that_does_not_group_passes(noise_kv: KeyValue) -> None:
    stage = Grouping(GroupStore(noise_kv))
    verdict = await stage.decide(notification({"cooldown": "5m"}), NOON)
    assert verdict == Passed("the rule does not group its notifications")
    assert stage.groups == {}


async def test_members_join_their_group_and_its_first_member_sets_the_flush_timer(noise_kv: KeyValue) -> None:
    stage = Grouping(GroupStore(noise_kv))
    expected = [
        (NOON, "host=a", Grouped("grouping", "sent with group host=a", (_flush("host=a", NOON + 30),))),
        (NOON + 5, "host=a", Grouped("grouping", "sent with group host=a")),
        (NOON + 7, "host=b", Grouped("grouping", "sent with group host=b", (_flush("host=b", NOON + 37),))),
    ]
    for at, group_key, verdict in expected:
        assert await stage.decide(notification(BY_HOST, at=at, group_key=group_key, event_id=f"e{at}"), at) == verdict


async def test_the_group_is_saved_for_its_flush_and_the_next_batch(noise_kv: KeyValue) -> None:
    store = GroupStore(noise_kv)
    first_batch = Grouping(store)
    for at in (NOON, NOON + 5):
        await first_batch.decide(notification(BY_HOST, at=at, event_id=f"e{at}"), at)
    await first_batch.save(_nothing, lambda: NOON + 6)
    state, _ = await store.load("acme", "r1", group_id("host=a"))
    assert [m["event_id"] for m in state.pending] == [f"e{NOON}", f"e{NOON + 5}"] and state.timer_due == NOON + 30
    later = await Grouping(store).decide(notification(BY_HOST, at=NOON + 10, event_id="e3"), NOON + 10)
    assert later == Grouped("grouping", "sent with group host=a")  # the flush timer is set already


async def test_on_a_conflict_the_members_join_again_and_a_flush_timer_due_then_is_published(
    noise_kv: KeyValue,
) -> None:
    store = GroupStore(noise_kv)
    flushed = Grouping(store)  # a batch that set the group's timer, flushed before ours is saved
    await flushed.decide(notification(BY_HOST, at=NOON, event_id="e1"), NOON)
    await flushed.save(_nothing, lambda: NOON)
    ours = Grouping(store)
    assert await ours.decide(notification(BY_HOST, at=NOON + 5, event_id="e2"), NOON + 5) == Grouped(
        "grouping", "sent with group host=a"
    )
    state, revision = await store.load("acme", "r1", group_id("host=a"))
    state.pending, state.timer_due, state.last_flush, state.flushes = [], None, NOON + 30, 1
    await store.save("acme", "r1", group_id("host=a"), state, revision)
    published: list[list[GroupJob]] = []

    async def publish(timers: list[GroupJob]) -> None:
        published.append(timers)

    await ours.save(publish, lambda: NOON + 40)
    assert published == [[_flush("host=a", NOON + 330, flushes=1)]]  # the last flush + the 5m group_interval
    state, _ = await store.load("acme", "r1", group_id("host=a"))
    assert [m["event_id"] for m in state.pending] == ["e2"]


async def test_a_group_that_keeps_changing_brings_the_batch_back(noise_kv: KeyValue) -> None:
    """As for a storm state (test_storm.py): the batch is planned again rather than its members lost."""
    stage = Grouping(RacingGroupStore(noise_kv))
    await stage.decide(notification(BY_HOST, at=NOON), NOON)
    group = group_id("host=a")
    with pytest.raises(KeptChanging, match=f"group {group} of rule r1 kept changing; the batch comes back"):
        await stage.save(_ignore, lambda: NOON + 1)
    _, revision = await stage.store.load("acme", "r1", group)
    assert revision == SAVE_TRIES  # every try met another writer's change


async def _ignore(timers: object) -> None:
    return None


async def _nothing(timers: object) -> None:
    raise AssertionError("no flush timer is due on a save without a conflict")
