"""The router's epoch markers on the work stream: where routing with a new shard map begins.

When the evaluator changes the shard count it writes a new shard map (a new epoch). The router announces each
epoch it starts routing with by one message on `cep.work.epoch`, published after every work message routed
with the previous map was stored: its stream sequence is the cut the evaluator's rebalance replays up to.
"""

from __future__ import annotations

import logging

from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from services.common.domain.evaluation.sharding import Placement
from services.common.messages import codec
from services.common.nats import subjects

log = logging.getLogger(__name__)


async def last_announced(js: JetStreamContext) -> int | None:
    """The epoch of the last marker on the work stream, or None when there is none."""
    try:
        message = await js.get_last_msg(subjects.WORK_STREAM, subjects.WORK_EPOCH)
    except NotFoundError:
        return None
    try:
        return int(codec.loads(message.data or b"{}")["epoch"])
    except (KeyError, TypeError, ValueError):
        return None


async def announce(js: JetStreamContext, epoch: int, placement: Placement) -> int:
    """Publish the marker of `epoch` (idempotent by id within the duplicate window); its stream sequence."""
    body = codec.dumps({"epoch": epoch, "shards": placement.shards, "placement": placement.scheme})
    ack = await js.publish(subjects.WORK_EPOCH, body, headers={subjects.MSG_ID: f"epoch-{epoch}"})
    log.info("routing with shard map epoch %d (%s) from work sequence %d", epoch, placement, ack.seq)
    return int(ack.seq)
