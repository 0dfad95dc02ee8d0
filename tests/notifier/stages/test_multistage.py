"""The one list of stages and a batch run through it, against real KV buckets, at literal times."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from services.common.domain.notify.grouping import group_id
from services.common.domain.notify.noise import StormState
from services.notifier.compare_and_set import KeptChanging
from services.notifier.delivery.directory import KvDirectory
from services.notifier.stages.cooldown import MarkStore
from services.notifier.stages.multistage import MultiStage
from services.notifier.stages.muting import MutingSources
from services.notifier.stages.storm import StormStore
from services.notifier.timed_jobs.groups import GroupStore
from tests.notifier.stages.conftest import NOON, RacingGroupStore, notification, put_rule

COOLDOWN = "cooldown of 600s: the same alert was notified 0s ago"
USED_UP = "storm budget of 1 notifications per 60s used up; counted in the digest sent when the window ends"


def _multistage(
    directory: KvDirectory, kv: KeyValue, muting: MutingSources, groups: GroupStore | None = None
) -> MultiStage:
    return MultiStage(directory, MarkStore(kv), StormStore(kv), groups or GroupStore(kv), muting, clock=lambda: NOON)


def test_the_stages_in_the_order_a_notification_passes_them(
    directory: KvDirectory, noise_kv: KeyValue, muting: MutingSources
) -> None:
    stages = _multistage(directory, noise_kv, muting).stages()
    assert [stage.name for stage in stages] == ["muting", "cooldown", "storm", "grouping"]


async def test_a_batch_through_the_stages(
    js: JetStreamContext, directory: KvDirectory, noise_kv: KeyValue, muting: MutingSources
) -> None:
    rule_id = "r" + uuid.uuid4().hex[:12]
    suppression = {"cooldown": "10m", "storm_budget": 1, "storm_window": "60s"}
    await put_rule(js, rule_id, suppression=suppression)
    first = notification(suppression, rule_id=rule_id, event_id="e1")
    again = notification(suppression, rule_id=rule_id, event_id="e2")  # the same alert, within the cooldown
    other = notification(suppression, rule_id=rule_id, group_key="host=b", event_id="e3")  # past the budget
    run = notification(suppression, rule_id=rule_id, group_key="", event_id="e4").transition
    schedule = replace(run, trigger_type="schedule")  # every run is its own event: no stage applies
    alerts = [(n.transition, [job.action for job in n.jobs]) for n in (first, again, other)]
    plan = await _multistage(directory, noise_kv, muting).plan([*alerts, (schedule, alerts[0][1])])
    assert [job.transition.event_id for job in plan.jobs] == ["e1", "e1", "e4", "e4"]
    assert [(s.by, s.result.event_id, s.result.status, s.result.reason) for s in plan.suppressed] == [
        ("cooldown", "e2", "suppressed", COOLDOWN),
        ("cooldown", "e2", "suppressed", COOLDOWN),
        ("storm", "e3", "suppressed", USED_UP),
        ("storm", "e3", "suppressed", USED_UP),
    ]
    assert [(t.kind, t.due) for t in plan.timers] == [("digest-timer", NOON + 60)]


async def test_a_grouped_notification_leaves_its_cooldown_mark(
    js: JetStreamContext, directory: KvDirectory, noise_kv: KeyValue, muting: MutingSources
) -> None:
    rule_id = "r" + uuid.uuid4().hex[:12]
    suppression = {"cooldown": "10m", "group_by": ["host"], "group_wait": "30s"}
    await put_rule(js, rule_id, suppression=suppression)
    fired = notification(suppression, rule_id=rule_id)
    multistage = _multistage(directory, noise_kv, muting)
    plan = await multistage.plan([(fired.transition, [job.action for job in fired.jobs])])
    assert (plan.jobs, plan.suppressed, [(t.kind, t.due) for t in plan.timers]) == (
        [],
        [],
        [("group-timer", NOON + 30)],
    )
    await multistage.save(plan, _nothing)
    assert await MarkStore(noise_kv).load("acme", rule_id, fired.transition.fingerprint) is not None
    state, _ = await GroupStore(noise_kv).load("acme", rule_id, group_id("host=a"))
    assert [m["event_id"] for m in state.pending] == ["e1"]


async def test_a_stage_state_that_keeps_changing_brings_the_batch_back_before_earlier_stages_save(
    js: JetStreamContext, directory: KvDirectory, noise_kv: KeyValue, muting: MutingSources
) -> None:
    rule_id = "r" + uuid.uuid4().hex[:12]
    suppression = {"cooldown": "10m", "group_by": ["host"]}
    await put_rule(js, rule_id, suppression=suppression)
    fired = notification(suppression, rule_id=rule_id)
    multistage = _multistage(directory, noise_kv, muting, RacingGroupStore(noise_kv))
    plan = await multistage.plan([(fired.transition, [job.action for job in fired.jobs])])
    with pytest.raises(KeptChanging, match="kept changing; the batch comes back"):
        await multistage.save(plan, _ignore)
    assert await MarkStore(noise_kv).load("acme", rule_id, fired.transition.fingerprint) is None
    assert await StormStore(noise_kv).load("acme", rule_id) == (StormState(), None)


async def _nothing(timers: object) -> None:
    raise AssertionError("no flush timer is due on a save without a conflict")


async def _ignore(timers: object) -> None:
    return None
