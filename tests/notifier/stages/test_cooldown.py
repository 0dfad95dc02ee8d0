"""The cooldown stage on its own, against a real KV bucket, at literal times."""

from __future__ import annotations

from nats.js.kv import KeyValue

from services.common.domain.notify.noise import CooldownMark
from services.notifier.stages.base import Passed, Suppressed
from services.notifier.stages.cooldown import Cooldown, MarkStore
from tests.notifier.stages.conftest import NOON, notification

TEN_MINUTES = {"cooldown": "10m"}


async def test_without_a_cooldown_every_notification_passes_and_leaves_no_mark(noise_kv: KeyValue) -> None:
    stage = Cooldown(MarkStore(noise_kv))
    for at in (NOON, NOON + 1, NOON + 2):
        fired = notification({}, at=at, event_id=f"e{at}")
        assert await stage.decide(fired, at) == Passed("no cooldown applies")
        stage.notified(fired, at)
    assert stage.new_marks == {}


async def test_a_refiring_within_the_cooldown_is_suppressed_and_so_is_its_resolution(noise_kv: KeyValue) -> None:
    stage = Cooldown(MarkStore(noise_kv))
    first = notification(TEN_MINUTES, at=NOON, event_id="e1")
    assert await stage.decide(first, NOON) == Passed("outside the cooldown")
    stage.notified(first, NOON)
    cases = [
        (notification(TEN_MINUTES, at=NOON + 60, kind="resolved", event_id="e1"), Passed("its firing was sent")),
        (
            notification(TEN_MINUTES, at=NOON + 120, event_id="e2"),
            Suppressed("cooldown", "cooldown of 600s: the same alert was notified 120s ago"),
        ),
        (
            notification(TEN_MINUTES, at=NOON + 180, kind="resolved", event_id="e2"),
            Suppressed("cooldown", "its firing was suppressed by the cooldown"),
        ),
        (notification(TEN_MINUTES, at=NOON + 600, event_id="e3"), Passed("outside the cooldown")),
        (notification(TEN_MINUTES, at=NOON + 240, group_key="host=b", event_id="e4"), Passed("outside the cooldown")),
    ]
    for candidate, verdict in cases:
        assert await stage.decide(candidate, candidate.transition.at.timestamp()) == verdict


async def test_a_mark_is_saved_for_the_next_batch(noise_kv: KeyValue) -> None:
    store = MarkStore(noise_kv)
    first_batch = Cooldown(store)
    fired = notification(TEN_MINUTES, at=NOON, event_id="e1")
    await first_batch.decide(fired, NOON)
    first_batch.notified(fired, NOON)
    await first_batch.save(_nothing, lambda: NOON)
    alert = fired.transition
    assert await store.load("acme", "r1", alert.fingerprint) == CooldownMark(NOON, "e1")
    verdict = await Cooldown(store).decide(notification(TEN_MINUTES, at=NOON + 30, event_id="e2"), NOON + 30)
    assert verdict == Suppressed("cooldown", "cooldown of 600s: the same alert was notified 30s ago")


async def test_a_firing_a_later_stage_suppressed_leaves_no_mark(noise_kv: KeyValue) -> None:
    stage = Cooldown(MarkStore(noise_kv))
    fired = notification(TEN_MINUTES, at=NOON, event_id="e1")
    assert isinstance(await stage.decide(fired, NOON), Passed)  # then suppressed by the storm budget: no `notified`
    again = notification(TEN_MINUTES, at=NOON + 60, event_id="e2")
    assert await stage.decide(again, NOON + 60) == Passed("outside the cooldown")
    await stage.save(_nothing, lambda: NOON)
    assert await stage.store.load("acme", "r1", fired.transition.fingerprint) is None


async def _nothing(timers: object) -> None:
    raise AssertionError("the cooldown stage publishes nothing")
