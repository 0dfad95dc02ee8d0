"""Two real scheduler replicas on an every-second schedule: SIGKILL the leader mid-way, no run missed or doubled."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from nats.js.client import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError

from services.common.messages import codec
from services.common.messages.schedule import RunRecord
from services.common.nats import subjects
from tests.scheduler.kit import (
    SchedulerProcess,
    delete_rule,
    new_tenant,
    put_rule,
    run_events,
    run_records,
    schedule_rule,
    start_scheduler,
)
from tests.support.nats import NatsServer
from tests.support.waiting import eventually_async

LEASE_SECONDS = 2.0


@pytest.fixture
def replicas(nats_server: NatsServer, tmp_path: Path) -> Iterator[dict[str, SchedulerProcess]]:
    procs = {name: start_scheduler(nats_server.url, name, tmp_path) for name in ("sched-a", "sched-b")}
    yield procs
    for proc in procs.values():
        proc.terminate()


async def _leader(js: JetStreamContext) -> str | None:
    try:  # the bucket appears with the first replica, the key with the first leader
        kv = await js.key_value(subjects.SCHEDULER_LIVE_BUCKET)
        entry = await kv.get(subjects.SCHEDULER_LEADER_KEY)
    except (BucketNotFoundError, KeyNotFoundError):
        return None
    return codec.loads(entry.value)["instance"] if entry.value else None


def _fired(records: list[RunRecord]) -> list[RunRecord]:
    return [r for r in records if r.status != "missed"]


@pytest.mark.slow  # long (a stack or a kill and recovery): `make test-slow` keeps `make test` under 10 min
async def test_killing_the_leader_loses_and_doubles_no_run(
    js: JetStreamContext, replicas: dict[str, SchedulerProcess]
) -> None:
    tenant = new_tenant()
    rule = schedule_rule(tenant, "* * * * *")  # every second in the replicas' test-only seconds mode
    await put_rule(js, rule)

    async def leader_with_runs() -> str | None:
        leader = await _leader(js)
        records = await run_records(js, tenant)
        return leader if leader and len([r for r in records if r.instance == leader]) >= 5 else None

    first = await eventually_async(leader_with_runs, timeout=30)
    replicas[first].kill()
    killed_at = time.time()
    other = next(name for name in replicas if name != first)

    async def successor_runs() -> list[RunRecord] | None:
        records = await run_records(js, tenant)
        return records if len([r for r in records if r.instance == other]) >= 5 else None

    await eventually_async(successor_runs, timeout=30)
    await delete_rule(js, rule)
    records = await run_records(js, tenant)

    assert {r.status for r in records} == {"fired"}, [(r.stamp, r.status) for r in records]
    times = [r.scheduled_at for r in records]
    assert len(times) == len(set(times)), "a run was recorded twice"
    ordered = sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert all(gap == timedelta(seconds=1) for gap in gaps), f"missing runs between {ordered[0]} and {ordered[-1]}"
    assert {r.instance for r in records} == {first, other}
    old = [r for r in records if r.instance == first]
    new = [r for r in records if r.instance == other]
    assert max(r.scheduled_at for r in old) < min(r.scheduled_at for r in new)
    assert min(r.fencing for r in new) > max(r.fencing for r in old)
    takeover = min(r.started_at for r in new if r.started_at is not None).timestamp() - killed_at
    assert takeover <= LEASE_SECONDS + 0.5, f"the successor took {takeover:.2f}s"

    # Every recorded run reached the pipeline as a `cep.schedule` event carrying its time and fencing token.
    events = [(msg_id, body) for msg_id, body in await run_events(js, tenant) if body.get("rule_id") == rule.rule_id]
    assert {body["scheduled_at"] for _, body in events} == {r.stamp for r in records}
    for msg_id, body in events:
        assert msg_id == f"sched:{rule.rule_id}:{body['scheduled_at']}:{body['fencing']}"
        assert body["event_type"] == "cep.schedule" and body["timestamp"] == body["scheduled_at"]
