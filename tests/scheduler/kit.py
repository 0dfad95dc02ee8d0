"""Helpers for scheduler tests: schedule rules in the rule bucket, scheduler processes, run records from the stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from services.common.cli.procs import free_port
from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.common.messages.schedule import RunRecord
from services.common.nats import subjects
from services.common.nats.streams import ensure_streams

REPO = Path(__file__).resolve().parents[2]


def new_tenant() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


def schedule_rule(tenant: str, cron: str = "* * * * *", *, updated_at: datetime | None = None, **spec: Any) -> Rule:
    """An active schedule rule as the gateway would store it (version 1)."""
    at = updated_at or datetime.now(UTC)
    return Rule.model_validate(
        {
            "rule_id": uuid.uuid4().hex,
            "tenant": tenant,
            "name": f"sched-{uuid.uuid4().hex[:6]}",
            "active": True,
            "trigger_type": "schedule",
            "trigger_spec": {"cron": cron, **spec},
            "version": 1,
            "created_at": at,
            "updated_at": at,
        }
    )


async def put_rule(js: JetStreamContext, rule: Rule) -> None:
    """Publish a rule into the rule bucket, as the gateway does after a commit."""
    await ensure_streams(js)
    kv = await js.key_value(subjects.RULES_BUCKET)
    await kv.put(subjects.rule_key(rule.tenant, rule.rule_id), codec.dumps(rule.canonical()))


async def delete_rule(js: JetStreamContext, rule: Rule) -> None:
    kv = await js.key_value(subjects.RULES_BUCKET)
    await kv.delete(subjects.rule_key(rule.tenant, rule.rule_id))


async def run_records(js: JetStreamContext, tenant: str) -> list[RunRecord]:
    """Every run record of the tenant on the runs stream, in stream order (duplicates included)."""
    sub = await js.pull_subscribe(
        f"{subjects.SCHEDULE_RUNS_PREFIX}.{tenant}.>",
        stream=subjects.SCHEDULE_RUNS_STREAM,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=10),
    )
    records: list[RunRecord] = []
    try:
        pending = (await sub.consumer_info()).num_pending or 0
        while pending > 0:
            msgs = await sub.fetch(min(pending, 500), timeout=5)
            records += [RunRecord.decode(m.data) for m in msgs]
            pending = msgs[-1].metadata.num_pending if msgs else 0
    finally:
        await sub.unsubscribe()
    return records


async def run_events(js: JetStreamContext, tenant: str) -> list[tuple[str, dict[str, Any]]]:
    """Every `cep.schedule` event of the tenant on the events stream: (message id, body)."""
    sub = await js.pull_subscribe(
        subjects.internal_subject(tenant),
        stream=subjects.EVENTS_STREAM,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=10),
    )
    found: list[tuple[str, dict[str, Any]]] = []
    try:
        pending = (await sub.consumer_info()).num_pending or 0
        while pending > 0:
            msgs = await sub.fetch(min(pending, 500), timeout=5)
            found += [((m.headers or {}).get(subjects.MSG_ID, ""), codec.loads(m.data)) for m in msgs]
            pending = msgs[-1].metadata.num_pending if msgs else 0
    finally:
        await sub.unsubscribe()
    return found


@dataclass
class SchedulerProcess:
    """A real `python -m services.scheduler` process."""

    instance: str
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def start_scheduler(nats_url: str, instance: str, logs: Path, **env: str) -> SchedulerProcess:
    """Start a scheduler replica in seconds mode (`* * * * *` fires every second) with a short lease."""
    values = {
        **os.environ,
        "CEP_NATS_URL": nats_url,
        "CEP_SCHEDULER_PORT": str(free_port()),
        "CEP_SCHEDULER_GRPC_PORT": str(free_port()),
        "CEP_SCHEDULER_INSTANCE": instance,
        "CEP_SCHEDULER_CRON_SECONDS": "true",
        "CEP_SCHEDULER_LEASE_SECONDS": "2",
        "CEP_SCHEDULER_MISFIRE_GRACE_SECONDS": "10",
        "CEP_LOG_LEVEL": "INFO",
        **env,
    }
    log = logs / f"{instance}.log"
    handle = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.scheduler"], cwd=REPO, env=values, stdout=handle, stderr=subprocess.STDOUT
    )
    return SchedulerProcess(instance, proc, log)
