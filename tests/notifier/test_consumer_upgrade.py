"""A notifier started against a delivery consumer made by an older version brings it to the current config."""

from __future__ import annotations

from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.client import JetStreamContext

from services.common.nats import subjects
from services.common.nats.streams import ensure_streams
from services.notifier.consumers import DELIVERY_ACK_WAIT, DELIVERY_MAX_ACK_PENDING, bind_consumer


async def test_an_existing_consumer_takes_the_new_ack_wait_and_ack_limit(js: JetStreamContext) -> None:
    await ensure_streams(js)
    name = "upgrade-check"
    old = ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT, ack_wait=90, filter_subject="cep.deliver.*")
    await js.add_consumer(subjects.DELIVERY_STREAM, old)
    assert (await js.consumer_info(subjects.DELIVERY_STREAM, name)).config.max_ack_pending == 1000  # the default
    sub = await bind_consumer(
        js,
        subjects.DELIVERY_STREAM,
        subjects.DELIVERY_PREFIX,
        name,
        ack_wait=DELIVERY_ACK_WAIT,
        max_ack_pending=DELIVERY_MAX_ACK_PENDING,
    )
    try:
        info = await js.consumer_info(subjects.DELIVERY_STREAM, name)
        assert info.config.ack_wait == DELIVERY_ACK_WAIT
        assert info.config.max_ack_pending == DELIVERY_MAX_ACK_PENDING  # held timers no longer cap deliveries
    finally:
        await sub.unsubscribe()
        await js.delete_consumer(subjects.DELIVERY_STREAM, name)
