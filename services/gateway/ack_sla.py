"""The ACK-SLA check: open events past their priority's SLA become `cep.ack.sla_breached` events, once each.

A gateway component sweeping every `CEP_ACK_SLA_SWEEP_SECONDS`. Per tenant it asks the SLA source for the
tenant's policy (today the platform's `CEP_ACK_SLA`; issue 7's team settings plug in there), reads the open
events past their cutoff that were not reported yet, and for each breach:

1. publishes the breach event to `cep.internal.<tenant>` with `Nats-Msg-Id` = `sla:<event id>`, so rules
   (`event_type: cep.ack.sla_breached`) can escalate;
2. then records it: a transitions row with that id and a `sla_breached` history entry on the event, one
   transaction, then the feed's `updated` message (commit-then-publish, under the feed lock).

It judges only as far as the pipeline has caught up (services/gateway/catch_up.py): an event breaches once the
horizon has passed its deadline and the moment the sweep first saw it open, so a resolution the evaluator has
still to make or to record (after a start, behind a backlog) cancels the breach as it should, by its own time.
A gateway without an evaluator (`CEP_ACK_SLA_CATCH_UP=false`) judges by the wall clock alone.

A crash between 1 and 2 publishes again on the next sweep with the same id, which JetStream drops within its
duplicate window; a second gateway racing on the same event records it once (the row id is the key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from prometheus_client import Counter

from services.common.db.sql_engine import Database
from services.common.domain.events.model import format_time
from services.common.domain.lifecycle import ack_sla
from services.common.domain.lifecycle.ack_sla import AckSla, Breach, NoBreach, Watched
from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.catch_up import PipelineCatchUp
from services.gateway.live.feed import Feed
from services.gateway.nats.bus import GatewayBus
from services.gateway.store import ack_sla as queries
from services.gateway.store import events as store

log = logging.getLogger(__name__)

BATCH = 200  # breaches per tenant per sweep; the rest follow on the next sweeps
PUBLISH_TIMEOUT_SECONDS = 5.0

SlaSource = Callable[[str], Awaitable[AckSla]]
BREACHES = Counter(
    "cep_ack_sla_breaches_total", "breach events published for open events past their ACK SLA", ["priority"]
)


def platform_sla(sla: AckSla) -> SlaSource:
    """The same SLA for every tenant (the platform default, `CEP_ACK_SLA`)."""

    async def source(_tenant: str) -> AckSla:
        return sla

    return source


class AckSlaCheck:
    """A gateway component: the sweep loop. `sweeps` counts finished sweeps (tests wait on it)."""

    def __init__(
        self,
        bus: GatewayBus,
        db: Database,
        feed: Feed,
        sla_for: SlaSource,
        every: float,
        catch_up: PipelineCatchUp | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.bus = bus
        self.db = db
        self.feed = feed
        self.sla_for = sla_for
        self.every = every
        self.catch_up = catch_up
        self.clock = clock
        self.sweeps = 0
        self._seen: dict[str, dict[str, datetime]] = {}  # per tenant: overdue open event -> when first seen
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name="ack-sla")

    async def stop(self) -> None:
        """Stop between sweeps (never cancelling a SQL call) and wait for the loop to end."""
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.catch_up is not None:
            await self.catch_up.aclose()

    async def _loop(self) -> None:
        while not self._stop.is_set():
            if self.bus.is_ready:
                try:
                    reported = await self.sweep()
                    if reported:
                        log.info("reported %d ACK-SLA breach(es)", reported)
                except Exception as exc:
                    log.warning("ACK-SLA sweep failed, retrying on the next one: %s", exc)
                self.sweeps += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.every if self.bus.is_ready else 0.2)

    async def sweep(self) -> int:
        """One pass over every tenant; return how many breaches were published and recorded."""
        horizon = await self.catch_up.update() if self.catch_up is not None else None
        async with self.db.read() as session:
            tenants = await queries.event_tenants(session)
        reported = 0
        for tenant in tenants:
            if self._stop.is_set():
                break
            reported += await self.sweep_tenant(tenant, horizon)
        return reported

    async def sweep_tenant(self, tenant: str, horizon: datetime | None) -> int:
        """Report the tenant's open events past their SLA that the pipeline has caught up with (at most BATCH)."""
        sla = await self.sla_for(tenant)
        if not sla.enabled:
            return 0
        now = self.clock()
        async with self.db.read() as session:
            candidates = await queries.overdue_events(session, tenant, sla.cutoffs(now), BATCH)
        verdicts = self._judge(tenant, sla, candidates, now, horizon)
        breaches = [verdict for verdict in verdicts if isinstance(verdict, Breach)]
        if not breaches:
            return 0
        await self._publish(breaches, now)
        async with self.feed.lock:
            async with self.db.write() as session:
                items = await store.record_sla_breaches(session, breaches, now)
            await self.feed.publish_quietly(items)  # committed either way; the recorder's sweep retries a failure
        for breach in breaches:
            BREACHES.labels(breach.event.priority).inc()
            log.info("event %s of %s: %s", breach.event.event_id, tenant, breach.note)
        return len(breaches)

    def _judge(
        self, tenant: str, sla: AckSla, candidates: Sequence[Watched], now: datetime, horizon: datetime | None
    ) -> list[Breach | NoBreach]:
        """Each candidate's verdict; remember when each was first seen (forgetting those no longer candidates)."""
        before = self._seen.get(tenant, {})
        seen = self._seen[tenant] = {event.event_id: before.get(event.event_id, now) for event in candidates}
        if self.catch_up is None:
            return [ack_sla.check(sla, event, now) for event in candidates]
        return [ack_sla.judge(sla, event, now, horizon, seen[event.event_id]) for event in candidates]

    async def _publish(self, breaches: Sequence[Breach], now: datetime) -> None:
        """Publish the breach events (pipelined, one wait for every PubAck); raise when NATS fails."""
        js = self.bus.js
        futures = []
        for breach in breaches:
            headers = {subjects.MSG_ID: breach.msg_id, subjects.RECEIVED_AT: format_time(now)}
            subject = subjects.internal_subject(breach.event.tenant)
            futures.append(await js.publish_async(subject, codec.dumps(breach.payload()), headers=headers))
        await asyncio.wait_for(asyncio.gather(*futures), PUBLISH_TIMEOUT_SECONDS)
