"""The run recorder: schedule run records from JetStream (CEP_SCHEDULE_RUNS) into SQL, once per run, then acked.

A durable consumer (`recorder-schedule-runs`): one write transaction per batch; a record of a run already stored
is a no-op (a redelivery) or bumps the run's `duplicates` (another leader's copy after a crash). Only then are
the messages acked, so a crash repeats work that is idempotent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from nats.aio.msg import Msg

from services.common.db.sql_engine import Database
from services.common.messages.schedule import RunRecord
from services.common.nats import subjects
from services.common.nats.dead_letters import dead_letter_undecodable
from services.gateway.nats.bus import GatewayBus
from services.gateway.nats.pulling import ConsumerComponent, gateway_consumer, recorder_config
from services.gateway.store import schedule_runs as store

log = logging.getLogger(__name__)

ACK_WAIT_SECONDS = 30.0
RETRY_DELAY_SECONDS = 1.0


def decode_run(msg: Msg) -> RunRecord:
    """A run record, checked against the tenant and rule of its subject (`cep.scheduler.runs.<tenant>.<rule>`)."""
    record = RunRecord.decode(msg.data)
    if msg.subject != record.subject():
        raise ValueError(f"run record of {record.tenant}/{record.rule_id} on {msg.subject}")
    return record


class RunRecorder(ConsumerComponent):
    """A gateway component: the durable consumer of schedule run records."""

    def __init__(self, bus: GatewayBus, db: Database) -> None:
        self.bus = bus
        self.db = db
        config = recorder_config(
            subjects.SCHEDULE_RUNS_CONSUMER, f"{subjects.SCHEDULE_RUNS_PREFIX}.>", ACK_WAIT_SECONDS
        )
        super().__init__(
            gateway_consumer(bus, subjects.SCHEDULE_RUNS_STREAM, config, self.on_runs), "recorder-schedule-runs"
        )

    async def on_runs(self, msgs: list[Msg]) -> None:
        """Record a batch in one transaction, then ack; a failed batch is retried message by message."""
        good: list[tuple[Msg, RunRecord]] = []
        for msg in msgs:
            try:
                good.append((msg, decode_run(msg)))
            except (KeyError, TypeError, ValueError) as exc:  # MessageError: the reason names the field
                await dead_letter_undecodable(self.bus.js, subjects.SCHEDULE_RUNS_CONSUMER, msg, str(exc))
                await msg.ack()
        try:
            async with self.db.write() as session:
                result = await store.record_runs(session, [r for _, r in good], datetime.now(UTC))
        except Exception as exc:
            if len(good) > 1:
                log.warning("recording %d runs failed (%s); retrying one at a time", len(good), exc)
                for msg, _ in good:
                    await self.on_runs([msg])
                return
            log.error("recording a run failed, it will be redelivered: %s", exc)
            for msg, _ in good:
                await msg.nak(delay=RETRY_DELAY_SECONDS)
            return
        if result.duplicates:
            log.warning("%d schedule run(s) were fired twice (counted, stored once)", result.duplicates)
        for msg, _ in good:
            await msg.ack()
