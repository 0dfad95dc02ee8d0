"""Stage fixtures: a fresh noise bucket on the session's nats-server, and notifications at literal times."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.js.api import KeyValueConfig
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue
from pydantic import SecretStr

from services.common.domain.lifecycle.transitions import fingerprint
from services.common.domain.notify.grouping import GroupState
from services.common.domain.notify.noise import StormState
from services.common.messages import codec
from services.common.messages.alerts import Action
from services.common.nats import subjects
from services.common.nats.streams import ensure_streams
from services.common.secrets.sealing import load_box
from services.notifier.delivery.directory import KvDirectory
from services.notifier.delivery.jobs import jobs_for
from services.notifier.muting.mirrors import InhibitRuleMirror, SilenceMirror
from services.notifier.muting.open_alerts import ClosingMirror, OpenAlerts
from services.notifier.stages.base import Notification
from services.notifier.stages.muting import MutingSources
from services.notifier.stages.storm import StormStore
from services.notifier.timed_jobs.groups import GroupStore
from tests.conftest import TEST_SECRETS_KEY
from tests.notifier.running import transition

NOON = 1_746_100_800.0  # 2025-05-01T12:00:00Z
ACTIONS = [Action(type="notify", channel="ops-hook"), Action(type="notify", channel="pager")]


@pytest.fixture
async def noise_kv(js: JetStreamContext) -> AsyncIterator[KeyValue]:
    """A noise bucket of the test's own (the service's is `cep-noise`)."""
    bucket = f"noise-{uuid.uuid4().hex[:12]}"
    kv = await js.create_key_value(KeyValueConfig(bucket=bucket, history=1))
    yield kv
    await js.delete_key_value(bucket)


def notification(
    suppression: Mapping[str, Any],
    *,
    at: float = NOON,
    kind: str = "fired",
    group_key: str = "host=a",
    event_id: str = "e1",
    payload: Mapping[str, Any] | None = None,
    rule_id: str = "r1",
) -> Notification:
    """A notification of tenant `acme`'s rule `rule_id` for the alert `group_key`, at `at` (unix seconds)."""
    moment = datetime.fromtimestamp(at, UTC)
    alert = transition(
        "acme",
        kind=kind,
        rule_id=rule_id,
        group_key=group_key,
        fingerprint=fingerprint("acme", rule_id, group_key),
        event_id=event_id,
        at=moment,
        started_at=moment,
        last_seen=moment,
        payload=dict(payload or {"host": group_key.removeprefix("host=")}),
    )
    return Notification(alert, jobs_for(alert, ACTIONS), suppression)


@pytest.fixture
async def muting(js: JetStreamContext) -> AsyncIterator[MutingSources]:
    """The muting stage's sources on the service's buckets (tests keep apart by tenant), loaded and following."""
    await ensure_streams(js)
    open_mirror = ClosingMirror()
    sources = MutingSources(
        SilenceMirror(), InhibitRuleMirror(), OpenAlerts(await js.key_value(subjects.OPEN_ALERTS_BUCKET), open_mirror)
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(m.follow(js, stop)) for m in (sources.silences, sources.rules, open_mirror)]
    while not sources.loaded:
        await asyncio.sleep(0.01)
    yield sources
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def directory(js: JetStreamContext) -> KvDirectory:
    """Rules and channels from the service's buckets on the session's nats-server."""
    await ensure_streams(js)
    return KvDirectory(js, load_box(SecretStr(TEST_SECRETS_KEY), None))


async def put_rule(js: JetStreamContext, rule_id: str, **fields: Any) -> None:
    """Store a rule of tenant `acme` in the rule bucket, as the gateway does."""
    rule = {"rule_id": rule_id, "tenant": "acme", "name": "cpu_high_alert", "version": 1, **fields}
    kv = await js.key_value(subjects.RULES_BUCKET)
    await kv.put(subjects.rule_key("acme", rule_id), codec.dumps(rule))


class RacingStormStore(StormStore):
    """The real store, with another replica changing the rule's storm state just before each of our saves."""

    async def save(self, tenant: str, rule_id: str, state: StormState, revision: int | None) -> int:
        await self.kv.put(f"{tenant}.{rule_id}", codec.dumps(StormState().as_dict()))
        return await super().save(tenant, rule_id, state, revision)


class RacingGroupStore(GroupStore):
    """The real store, with another replica changing the group just before each of our saves."""

    async def save(self, tenant: str, rule_id: str, group: str, state: GroupState, revision: int | None) -> None:
        await self.kv.put(self.key(tenant, rule_id, group), codec.dumps(GroupState("").as_dict()))
        await super().save(tenant, rule_id, group, state, revision)
