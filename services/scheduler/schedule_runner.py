"""The leader's work: fire every due run of every active schedule rule, record it, and advance its cursor.

Per run, in this order: the `cep.schedule` event (CEP_EVENTS), then its run record (CEP_SCHEDULE_RUNS), then the
rule's cursor (KV `cep-scheduler`, compare-and-set). A crash between two steps repeats the run at the next
leader (the same `scheduled_at`, another fencing token): downstream de-duplicates on (rule, scheduled_at),
the evaluator by the run's deterministic episode and transition ids, the gateway by its SQL unique key.
A new leader starts from the newer of each rule's cursor and its last run record, so only a crash between
the event and its record can repeat a run at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue
from prometheus_client import Counter, Histogram

from services.common.domain.events.model import format_time
from services.common.domain.rules.model import Rule
from services.common.domain.rules.triggers import ScheduleTrigger
from services.common.domain.schedules.cron import (
    Due,
    MisfirePolicy,
    PlannedRun,
    Schedule,
    delay_ms,
    next_fire,
    plan_due,
    start_cursor,
)
from services.common.messages.schedule import RunRecord
from services.common.nats import subjects
from services.common.nats.lease import Lease
from services.common.nats.publishing import Outgoing, publish_all
from services.scheduler.cursors import Cursor, read_cursors, write_cursors
from services.scheduler.schedule_rules import RuleKey, ScheduleRules
from services.scheduler.settings import SchedulerSettings
from services.scheduler.waiting import sleep_until_due

log = logging.getLogger(__name__)

RUNS = Counter("cep_scheduler_runs_total", "schedule runs by status (fired, caught_up, missed)", ["status"])
DELAY = Histogram(
    "cep_scheduler_run_delay_seconds",
    "how late runs started after their scheduled time",
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)


class LeaseLost(Exception):
    """The lease ran out (or went to another instance) before this tick's work was published."""


@dataclass
class Tracked:
    """A rule the leader is firing: its schedule, cursor and next fire time."""

    rule: Rule
    schedule: Schedule
    cursor: Cursor
    next_at: datetime | None


class Runner:
    """Fires the due runs while `lease` is held; `take_over` must run at the start of every term."""

    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        state: KeyValue,
        rules: ScheduleRules,
        settings: SchedulerSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.nc = nc
        self.js = js
        self.state = state
        self.rules = rules
        self.settings = settings
        self.clock = clock
        self.cursors: dict[RuleKey, Cursor] = {}
        self.tracked: dict[RuleKey, Tracked] = {}

    # -- a term ----------------------------------------------------------------------------------------------
    async def take_over(self) -> None:
        """Read every rule's cursor and last run record: continue exactly where the previous leader stopped."""
        self.tracked = {}
        self.cursors = await read_cursors(self.state)
        for key, (last, version) in (await self._last_records()).items():
            cursor = self.cursors.setdefault(key, Cursor())
            if cursor.last is None or last > cursor.last:
                cursor.last, cursor.version = last, version

    async def run_term(self, lease: Lease, stop: asyncio.Event) -> None:
        """Fire due runs until the lease is no longer held or `stop` is set."""
        await self.take_over()
        while lease.held and not stop.is_set():
            await self.tick(lease)
            await self._sleep_until_due(stop)

    async def tick(self, lease: Lease) -> int:
        """Publish every run due now; return how many records were published."""
        now = self.clock()
        self._sync_rules()
        due: list[tuple[Tracked, Due]] = []
        for tracked in self.tracked.values():
            if tracked.next_at is None or tracked.next_at > now:
                continue
            assert tracked.cursor.last is not None
            plan = plan_due(tracked.schedule, tracked.cursor.last, now, self._policy(tracked.rule))
            if plan.truncated:
                log.warning("rule %s: misses older than the lookback were not recorded", tracked.rule.rule_id)
            due.append((tracked, plan))
        if not due:
            return 0
        return await self._publish(lease, due)

    # -- rules -------------------------------------------------------------------------------------------------
    def _sync_rules(self) -> None:
        self.rules.changed.clear()
        current = self.rules.rules
        for key in [k for k in self.tracked if k not in current]:
            del self.tracked[key]
        for key, rule in current.items():
            tracked = self.tracked.get(key)
            if tracked is None or tracked.rule.version != rule.version:
                self.tracked[key] = self._track(key, rule)

    def _track(self, key: RuleKey, rule: Rule) -> Tracked:
        cursor = self.cursors.setdefault(key, Cursor())
        cursor.last = start_cursor(cursor.last, cursor.version, rule.version, rule.updated_at)
        cursor.version = rule.version
        trigger = rule.trigger_spec
        assert isinstance(trigger, ScheduleTrigger)
        schedule = Schedule.of(trigger, seconds=self.settings.scheduler_cron_seconds)
        return Tracked(rule, schedule, cursor, next_fire(schedule, cursor.last))

    def _policy(self, rule: Rule) -> MisfirePolicy:
        trigger = rule.trigger_spec
        assert isinstance(trigger, ScheduleTrigger)
        return self.settings.misfire_policy(trigger.misfire)

    async def _sleep_until_due(self, stop: asyncio.Event) -> None:
        soonest = min((t.next_at for t in self.tracked.values() if t.next_at is not None), default=None)
        await sleep_until_due(soonest, self.clock(), self.rules.changed, stop)

    # -- publishing --------------------------------------------------------------------------------------------
    async def _publish(self, lease: Lease, due: list[tuple[Tracked, Due]]) -> int:
        if not lease.held or lease.fencing is None:
            raise LeaseLost("the lease is not held")
        started = self.clock()
        records = [self._record(t.rule, run, lease.fencing, started) for t, plan in due for run in plan.runs]
        events = [
            Outgoing(
                subjects.internal_subject(r.tenant),
                r.event_body(),
                r.event_msg_id(),
                {subjects.RECEIVED_AT: format_time(started)},
            )
            for r in records
            if r.status != "missed"
        ]
        await publish_all(self.js, self.nc, events)
        if not lease.held:  # the events are out; their records wait for the next leader, which repeats them
            raise LeaseLost("the lease ran out while publishing")
        await publish_all(self.js, self.nc, [Outgoing(r.subject(), r.encode(), r.msg_id()) for r in records])
        for record in records:
            RUNS.labels(record.status).inc()
            if record.delay_ms is not None:
                DELAY.observe(record.delay_ms / 1000.0)
        for tracked, plan in due:
            tracked.cursor.last = plan.cursor
            tracked.next_at = next_fire(tracked.schedule, plan.cursor)
        await write_cursors(self.state, [((t.rule.tenant, t.rule.rule_id), t.cursor) for t, _ in due], lease.fencing)
        return len(records)

    def _record(self, rule: Rule, run: PlannedRun, fencing: int, started: datetime) -> RunRecord:
        fired = run.status != "missed"
        return RunRecord(
            tenant=rule.tenant,
            rule_id=rule.rule_id,
            rule_version=rule.version,
            scheduled_at=run.scheduled_at,
            status=run.status,
            instance=self.settings.scheduler_instance,
            fencing=fencing,
            started_at=started if fired else None,
            delay_ms=delay_ms(run.scheduled_at, started) if fired else None,
        )

    # -- the last run records -----------------------------------------------------------------------------
    async def _last_records(self) -> dict[RuleKey, tuple[datetime, int]]:
        """The newest run record of every rule still in the runs stream (one ephemeral LAST_PER_SUBJECT read)."""
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        sub = await self.js.pull_subscribe(
            f"{subjects.SCHEDULE_RUNS_PREFIX}.>", stream=subjects.SCHEDULE_RUNS_STREAM, config=config
        )
        found: dict[RuleKey, tuple[datetime, int]] = {}
        try:
            pending = (await sub.consumer_info()).num_pending or 0
            while pending > 0:
                msgs = await sub.fetch(min(pending, 1000), timeout=5)
                pending = msgs[-1].metadata.num_pending if msgs else 0
                for msg in msgs:
                    try:
                        record = RunRecord.decode(msg.data)
                    except (KeyError, TypeError, ValueError):
                        continue
                    found[(record.tenant, record.rule_id)] = (record.scheduled_at, record.rule_version)
        finally:
            with contextlib.suppress(Exception):
                info = await sub.consumer_info()
                await sub.unsubscribe()
                await self.js.delete_consumer(subjects.SCHEDULE_RUNS_STREAM, info.name)
        return found
