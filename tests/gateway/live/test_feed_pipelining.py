"""The feed's commit-then-send sections (live/feed.py): a batch's place in the tenant's feed is fixed when its
messages are queued under the lock, so the next batch commits and is sent while the first one's PubAcks are still
awaited, and the feed keeps commit order; the sweep leaves rows being confirmed to their confirmation."""

from __future__ import annotations

from pathlib import Path

from nats.js.client import JetStreamContext

from services.common.db.migrate import upgrade
from services.common.db.sql_engine import open_database
from services.gateway.live.feed import Feed, Sent
from services.gateway.nats.bus import GatewayBus
from services.gateway.store import events as store
from services.gateway.store.events import Alert
from tests.gateway.live_gateway import HOOK, T0, Episode, new_tenant
from tests.support.nats import NatsServer


async def _feed_ids(js: JetStreamContext, tenant: str) -> list[str]:
    stream = f"CEP_FEED_{tenant}"
    count = (await js.stream_info(stream)).state.messages
    ids = []
    for seq in range(1, count + 1):
        msg = await js.get_msg(stream, seq)
        ids.append((msg.headers or {})["Nats-Msg-Id"].removesuffix(":feed"))
    return ids


async def test_a_batch_sent_before_the_last_one_is_confirmed_keeps_commit_order(
    tmp_path: Path, nats_server: NatsServer, js: JetStreamContext
) -> None:
    url = f"sqlite:///{tmp_path / 'cep.db'}"
    upgrade(url)
    db = open_database(url)
    bus = GatewayBus(nats_server.url)
    await bus.start()
    await bus.wait_ready(30)
    feed = Feed(bus, db)
    tenant = new_tenant()
    first = [Alert(Episode(tenant, rule_id=f"a{n}").transition("fired"), HOOK) for n in range(3)]
    second = [Alert(Episode(tenant, rule_id=f"b{n}").transition("fired"), HOOK) for n in range(2)]
    try:

        async def commit_and_send(alerts: list[Alert]) -> tuple[list[str], Sent]:
            async with feed.lock:
                async with db.write() as session:
                    items = await store.record_alerts(session, alerts, T0)
                return [item.transition_id for item in items], await feed.send(items)

        first_ids, first_sent = await commit_and_send(first)
        assert not feed.lock.locked()  # let go before the first batch's PubAcks are awaited
        assert await feed.publish_unfed() == 0  # the sweep does not send again what awaits its PubAcks
        second_ids, second_sent = await commit_and_send(second)
        await feed.confirm(second_sent)
        async with db.read() as session:
            assert {item.transition_id for item in await store.unfed(session, 100)} == set(first_ids)
        await feed.confirm(first_sent)
        async with db.read() as session:
            assert await store.unfed(session, 100) == []
        assert await _feed_ids(js, tenant) == first_ids + second_ids  # commit order, whatever the confirm order
        assert await feed.publish_unfed() == 0
        assert len(await _feed_ids(js, tenant)) == 5
    finally:
        if bus.nc is not None:
            await bus.nc.close()
        await db.dispose()
