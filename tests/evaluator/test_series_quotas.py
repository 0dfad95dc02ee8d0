"""A shard actor applies the tenant's series quota from the `cep-quotas` bucket (and its changes while it runs),
reports the refusals on the rule and in its counters, and carries a state over the bucket's value limit across a
restart through a chunked snapshot."""

from __future__ import annotations

import base64
import os
from typing import Any

from services.common.domain.events.model import Event
from services.common.domain.quotas.tenant_quotas import TenantQuotas
from services.common.messages import codec
from services.common.messages.dead_letters import decode
from services.common.messages.work import work_event, work_rule
from services.common.nats import subjects
from services.evaluator.options import ShardOptions
from services.evaluator.snapshots import CHAIN_MARKER
from tests.evaluator.conftest import Actors
from tests.evaluator.kit import alerts, at, change, connect, eventually, make_rule, publish_in_order, read
from tests.support.nats import NatsServer

BLOBS = {"trigger_type": "event", "trigger_spec": {"event_type": "blob", "group_by": ["host"], "resolve_after": "1h"}}


def blob(n: int, host: str, size: int = 520_000) -> bytes:
    """An occurrence whose payload does not compress: each open episode adds ~0.5 MB to the snapshot."""
    payload = {"host": host, "blob": base64.b64encode(os.urandom(size)).decode()}
    return work_event(Event(f"ev-{n}", "acme", at(n), payload, "blob"))


async def processed(actor: Any, seq: int) -> bool:
    return bool((await actor.status.remote())["last_seq"] >= seq)


async def test_a_quota_written_to_the_bucket_is_applied_and_a_large_state_survives_a_restart(
    broker: NatsServer, actors: Actors
) -> None:
    nc, js = await connect(broker.url)
    quotas = await js.key_value(subjects.QUOTAS_BUCKET)
    await quotas.put("acme", codec.dumps(TenantQuotas(series_per_rule=3).model_dump()))
    subject = subjects.work_subject(0)
    actor = actors.new(0, ShardOptions(shards=1, snapshot_interval=3600))
    await actor.start.remote(broker.url)
    work = [work_rule(change(make_rule(BLOBS, "blobs")))] + [blob(n, h) for n, h in enumerate("abcd", 1)]
    seq = (await publish_in_order(js, subject, work))[-1]
    await eventually(lambda: processed(actor, seq), "the four occurrences")
    fired = sorted(a["group_key"] for a in await alerts(js) if a["kind"] == "fired")
    assert fired == ["host=a", "host=b", "host=c"]  # host=d is past the quota of 3 per rule
    assert (await actor.status.remote())["counters"]["series_refused"] == {"acme": 1}

    async def letters() -> list[Any]:
        return [decode(data) for _, data in await read(js, subjects.DEAD_STREAM, subjects.dead_subject("acme"))]

    await eventually(lambda: _has(letters), "the refusal reported on the rule")
    [letter] = await letters()
    assert (letter.source, letter.rule_id) == ("series_refused", "blobs")
    assert letter.error.startswith("series quota of 3 per rule reached: 1 new group key refused, the latest 'host=d'")

    # A quota raised in the bucket applies while the shard runs (its watch), without a restart.
    await quotas.put("acme", codec.dumps(TenantQuotas(series_per_rule=4).model_dump()))

    async def raised() -> bool:
        return bool((await actor.series_quota.remote("acme"))["per_rule"] == 4)

    await eventually(raised, "the new quota seen by the shard")
    seq = (await publish_in_order(js, subject, [blob(5, "e")]))[-1]
    await eventually(lambda: processed(actor, seq), "the fifth occurrence")
    assert [a["group_key"] for a in await alerts(js) if a["kind"] == "fired"][-1] == "host=e"

    # Four open episodes of ~0.5 MB each: over the value limit (this nats-server's 1 MiB payload), so the snapshot
    # is written in parts (the chain's base, listed by the chain manifest), and a fresh actor restores it with the
    # counts.
    stopped = await actor.stop.remote()
    kv = await js.key_value(subjects.SNAPSHOTS_BUCKET)
    manifest = (await kv.get(subjects.snapshot_key(0))).value or b""
    assert manifest.startswith(CHAIN_MARKER)
    assert len(codec.loads(manifest[len(CHAIN_MARKER) :])["base"]["parts"]) >= 2
    fresh = actors.new(0, ShardOptions(shards=1, snapshot_interval=3600))
    status = await fresh.start.remote(broker.url)
    assert (status["resumed_from"], status["series"]) == (stopped["last_seq"], 4)
    assert (await fresh.series_quota.remote("acme"))["held"] == 4
    seq = (await publish_in_order(js, subject, [blob(6, "f", size=10)]))[-1]
    await eventually(lambda: processed(fresh, seq), "the sixth occurrence")
    assert (await fresh.status.remote())["counters"]["series_refused"] == {"acme": 1}  # 4 held: at the limit
    await nc.close()


async def _has(letters: Any) -> bool:
    return bool(await letters())
