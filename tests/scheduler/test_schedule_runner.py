"""The leader's runner against real JetStream, with a controllable clock: misfires, catch-up, rule changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from nats.aio.client import Client
from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext

from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.lease import SchedulerLease
from services.common.nats.streams import ensure_streams
from services.scheduler.schedule_rules import ScheduleRules
from services.scheduler.schedule_runner import Runner
from services.scheduler.settings import SchedulerSettings
from tests.scheduler.kit import new_tenant, run_events, run_records, schedule_rule

T0 = datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _runner(js: JetStreamContext, rules: ScheduleRules, clock: Clock) -> tuple[Runner, SchedulerLease]:
    await ensure_streams(js)
    state = await js.key_value(subjects.SCHEDULER_BUCKET)
    live = await js.create_key_value(
        KeyValueConfig(bucket=f"runner-test-{uuid.uuid4().hex[:8]}", ttl=60, storage=StorageType.MEMORY)
    )
    lease = SchedulerLease(live, "runner-test", 60)
    assert await lease.try_acquire()
    settings = SchedulerSettings(scheduler_instance="runner-test")
    client: Client = js._nc  # type: ignore[attr-defined]
    runner = Runner(client, js, state, rules, settings, clock=clock)
    await runner.take_over()
    return runner, lease


def _rules(*rules: Rule) -> ScheduleRules:
    held = ScheduleRules()
    for rule in rules:
        held.apply(f"{rule.tenant}.{rule.rule_id}", codec.dumps(rule.canonical()), deleted=False)
    return held


async def test_an_outage_gives_one_catch_up_run_and_records_the_rest_missed(js: JetStreamContext) -> None:
    tenant = new_tenant()
    rule = schedule_rule(tenant, "*/10 * * * *", updated_at=T0 - timedelta(minutes=45))  # catch_up by default
    skipping = schedule_rule(tenant, "*/10 * * * *", updated_at=T0 - timedelta(minutes=45), misfire="skip")
    clock = Clock(T0)
    runner, lease = await _runner(js, _rules(rule, skipping), clock)

    assert await runner.tick(lease) == 10  # 11:20 ... 12:00 of both rules, each recorded once
    records = {(r.rule_id, r.stamp): r.status for r in await run_records(js, tenant)}
    assert records == {
        (rule.rule_id, "2026-11-26T11:20:00Z"): "missed",
        (rule.rule_id, "2026-11-26T11:30:00Z"): "missed",
        (rule.rule_id, "2026-11-26T11:40:00Z"): "missed",
        (rule.rule_id, "2026-11-26T11:50:00Z"): "caught_up",
        (skipping.rule_id, "2026-11-26T11:20:00Z"): "missed",
        (skipping.rule_id, "2026-11-26T11:30:00Z"): "missed",
        (skipping.rule_id, "2026-11-26T11:40:00Z"): "missed",
        (skipping.rule_id, "2026-11-26T11:50:00Z"): "missed",
        (rule.rule_id, "2026-11-26T12:00:00Z"): "fired",  # 30 s late: within the grace
        (skipping.rule_id, "2026-11-26T12:00:00Z"): "fired",
    }

    # The next tick continues from the cursor: nothing again until 12:10, then exactly that run.
    assert await runner.tick(lease) == 0
    clock.now = T0 + timedelta(minutes=10)
    assert await runner.tick(lease) == 2

    # A new leader reads the cursors and the last records: it repeats nothing.
    successor, lease2 = await _runner(js, _rules(rule, skipping), clock)
    assert await successor.tick(lease2) == 0
    stamps = [(r.rule_id, r.stamp) for r in await run_records(js, tenant)]
    assert len(stamps) == len(set(stamps)) == 12

    # Only runs that started reached the pipeline; missed ones are records only.
    events = sorted(
        (body["rule_id"] == rule.rule_id, body["scheduled_at"], body["run"]) for _, body in await run_events(js, tenant)
    )
    assert events == [
        (False, "2026-11-26T12:00:00Z", "fired"),
        (False, "2026-11-26T12:10:00Z", "fired"),
        (True, "2026-11-26T11:50:00Z", "caught_up"),
        (True, "2026-11-26T12:00:00Z", "fired"),
        (True, "2026-11-26T12:10:00Z", "fired"),
    ]
