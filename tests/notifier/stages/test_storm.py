"""The storm budget stage on its own, against a real KV bucket, at literal times."""

from __future__ import annotations

import pytest
from nats.js.kv import KeyValue

from services.common.messages.delivery import DigestJob
from services.notifier.compare_and_set import SAVE_TRIES, KeptChanging
from services.notifier.stages.base import Passed, Suppressed
from services.notifier.stages.storm import StormBudget, StormStore
from tests.notifier.stages.conftest import NOON, RacingStormStore, notification

BUDGET = {"storm_budget": 2, "storm_window": "60s"}
USED_UP = "storm budget of 2 notifications per 60s used up; counted in the digest sent when the window ends"
DIGEST_TIMER = DigestJob(
    "digest-timer", "acme", "r1", "cpu_high_alert", NOON, NOON + 60, window={"budget": 2, "length": 60.0}
)


async def test_the_budget_passes_then_suppresses_and_the_first_suppression_sets_the_digest_timer(
    noise_kv: KeyValue,
) -> None:
    stage = StormBudget(StormStore(noise_kv))
    expected = [
        (NOON, Passed("within the storm budget")),
        (NOON + 1, Passed("within the storm budget")),
        (NOON + 2, Suppressed("storm", USED_UP, (DIGEST_TIMER,))),
        (NOON + 3, Suppressed("storm", USED_UP)),
        (NOON + 60, Passed("within the storm budget")),  # the next window
    ]
    for at, verdict in expected:
        assert await stage.decide(notification(BUDGET, at=at, group_key=f"host={at}"), at) == verdict


async def test_the_counts_are_saved_for_the_next_batch(noise_kv: KeyValue) -> None:
    store = StormStore(noise_kv)
    first_batch = StormBudget(store)
    for at in (NOON, NOON + 1):
        await first_batch.decide(notification(BUDGET, at=at), at)
    await first_batch.save(_nothing, lambda: NOON + 5)
    state, _ = await store.load("acme", "r1")
    assert state.current is not None and (state.current.start, state.current.sent) == (NOON, 2)
    verdict = await StormBudget(store).decide(notification(BUDGET, at=NOON + 10), NOON + 10)
    assert verdict == Suppressed("storm", USED_UP, (DIGEST_TIMER,))


async def test_a_concurrent_count_is_kept_and_the_batch_counted_again_on_top(noise_kv: KeyValue) -> None:
    store = StormStore(noise_kv)
    ours, theirs = StormBudget(store), StormBudget(store)
    await ours.decide(notification(BUDGET, at=NOON, group_key="host=a"), NOON)
    await theirs.decide(notification(BUDGET, at=NOON, group_key="host=b"), NOON)
    await theirs.decide(notification(BUDGET, at=NOON + 1, group_key="host=c"), NOON + 1)
    await theirs.save(_nothing, lambda: NOON + 2)
    await ours.save(_nothing, lambda: NOON + 3)  # conflicts once, then counts host=a on top of theirs
    state, _ = await store.load("acme", "r1")
    assert state.current is not None
    assert (state.current.sent, state.current.suppressed, state.current.keys) == (2, 1, {"host=a": 1})


async def test_a_storm_state_that_keeps_changing_brings_the_batch_back(noise_kv: KeyValue) -> None:
    """As for a group (test_grouping.py): the batch is planned again rather than its counts lost."""
    stage = StormBudget(RacingStormStore(noise_kv))
    await stage.decide(notification(BUDGET, at=NOON), NOON)
    with pytest.raises(KeptChanging, match="storm state of rule r1 kept changing; the batch comes back"):
        await stage.save(_nothing, lambda: NOON + 1)
    _, revision = await stage.store.load("acme", "r1")
    assert revision == SAVE_TRIES  # every try met another writer's change


async def _nothing(timers: object) -> None:
    raise AssertionError("the storm stage publishes nothing")
