"""One attempt of each kind of job through `Pipeline.attempt`, against the real channel bucket (nothing is sent)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from nats.js.client import JetStreamContext
from pydantic import SecretStr

from services.common.messages.alerts import Action
from services.common.messages.channels import ChannelEntry
from services.common.messages.delivery import DeliveryJob, DigestJob, GroupJob
from services.common.nats import subjects
from services.common.nats.streams import ensure_streams
from services.common.secrets.sealing import load_box
from services.notifier.delivery.attempts import Pipeline
from services.notifier.delivery.directory import KvDirectory
from services.notifier.delivery.retry import RetryPolicy
from tests.conftest import TEST_SECRETS_KEY
from tests.notifier.running import FIRED_AT, tenant, transition

CLOSED_PORT = "http://127.0.0.1:9/"  # a channel that got as far as sending would fail with kind network


@pytest.fixture
async def pipeline(js: JetStreamContext) -> AsyncIterator[Pipeline]:
    await ensure_streams(js)
    async with httpx.AsyncClient() as client:
        yield Pipeline(KvDirectory(js, load_box(SecretStr(TEST_SECRETS_KEY), None)), client, RetryPolicy())


async def _put_channel(js: JetStreamContext, entry: ChannelEntry) -> None:
    kv = await js.key_value(subjects.CHANNELS_BUCKET)
    await kv.put(subjects.channel_key(entry.tenant, entry.channel_id), entry.encode())
    await kv.put(subjects.channel_name_key(entry.tenant, entry.name), entry.channel_id.encode())


def _jobs(owner: str, ref: str) -> tuple[DeliveryJob, GroupJob, DigestJob]:
    fired = transition(owner)
    action = Action(type="notify", channel=ref)
    group = GroupJob("group", owner, fired.rule_id, "g", "", 0.0, 1, 0, action, [fired.as_dict()])
    digest = DigestJob("digest", owner, fired.rule_id, "rule", 0.0, 60.0, index=0, action=action, text="digest")
    return DeliveryJob(fired, action, 0), group, digest


@pytest.mark.parametrize(
    ("channel_type", "error"),
    [
        (None, "config: no channel 'pager' in tenant"),
        ("carrier-pigeon", "config: channel type carrier-pigeon is not deliverable yet"),
    ],
    ids=["no-channel", "no-sender"],
)
async def test_every_kind_of_job_fails_at_once_without_a_channel_or_a_sender(
    js: JetStreamContext, pipeline: Pipeline, channel_type: str | None, error: str
) -> None:
    owner = tenant()
    if channel_type is not None:
        await _put_channel(js, ChannelEntry(owner, uuid.uuid4().hex, "pager", channel_type, {"url": CLOSED_PORT}, 1))
    job, group, digest = _jobs(owner, "pager")
    result = (await pipeline.attempt_job(job, 1, FIRED_AT)).result
    batch = await pipeline.attempt_group(group, 1, FIRED_AT)
    told = await pipeline.attempt_digest(digest, 1)
    assert told is not None
    errors = [result.error, batch.outcome.error, told.outcome.error]
    assert all((e or "").startswith(error) for e in errors), errors
    assert [result.status, batch.decision.status, told.decision.status] == ["failed"] * 3
    assert (result.type, result.channel, result.attempt, result.final) == (channel_type or "notify", "pager", 1, True)
    assert [(r.status, r.type) for r in batch.results] == [("failed", channel_type or "notify")]


async def test_an_incident_channel_takes_no_digest_and_a_test_needs_a_sender(
    js: JetStreamContext, pipeline: Pipeline
) -> None:
    owner = tenant()
    pagerduty = ChannelEntry(owner, uuid.uuid4().hex, "pager", "pagerduty", {"url": CLOSED_PORT}, 1)
    await _put_channel(js, pagerduty)
    _, _, digest = _jobs(owner, "pager")
    assert await pipeline.attempt_digest(digest, 1) is None
    pigeon = ChannelEntry(owner, uuid.uuid4().hex, "coop", "carrier-pigeon", {}, 1)
    outcome = await pipeline.test(pigeon, datetime(2025, 5, 1, 12, 0, tzinfo=UTC))
    assert outcome.error == "config: channel type carrier-pigeon is not deliverable yet"
