"""The router's epoch markers on the work stream: where routing with a new shard map begins.

When the evaluator changes the shard count it writes a new shard map (a new epoch). The router announces each
epoch it starts routing with by one message on `cep.work.epoch`, published after every work message routed
with the previous map was stored: its stream sequence is the cut the evaluator's rebalance replays up to.

With several router partitions (services/common/nats/router_partitions.py) each marks on its own subject
(`cep.work.epoch-<k>`, the body naming the partition count), and none routes with the new map before every
partition has marked it (`all_marked`): the last marker is the cut, with only old-map work before it.
"""

from __future__ import annotations

import logging

from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from services.common.domain.evaluation.sharding import Placement
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.router_partitions import Partition, every_partition

log = logging.getLogger(__name__)


async def last_announced(js: JetStreamContext, partition: Partition | None = None) -> int | None:
    """The epoch of the last marker of `partition` (the single router's when None), or None when there is none."""
    found = await _last_marker(js, (partition or Partition()).marker_subject)
    return None if found is None else found[0]


async def all_marked(js: JetStreamContext, epoch: int, count: int) -> bool:
    """Whether every one of `count` partitions has marked `epoch` (or a later one) on the work stream."""
    for partition in every_partition(count):
        found = await _last_marker(js, partition.marker_subject)
        if found is None or found[0] < epoch:
            return False
    return True


async def announce(js: JetStreamContext, epoch: int, placement: Placement, partition: Partition | None = None) -> int:
    """Publish `partition`'s marker of `epoch` (idempotent by id within the duplicate window); its stream sequence."""
    partition = partition or Partition()
    fields = {"epoch": epoch, "shards": placement.shards, "placement": placement.scheme}
    msg_id = f"epoch-{epoch}"
    if not partition.single:
        fields |= {"partition": partition.index, "partitions": partition.count}
        msg_id = f"epoch-{epoch}-{partition.index}of{partition.count}"
    ack = await js.publish(partition.marker_subject, codec.dumps(fields), headers={subjects.MSG_ID: msg_id})
    log.info("%s routes with shard map epoch %d (%s) from work sequence %d", partition, epoch, placement, ack.seq)
    return int(ack.seq)


async def marker_cut(js: JetStreamContext, epoch: int) -> int | None:
    """The cut of `epoch`: the work sequence of its marker, or of the last of every partition's; None until then."""
    single = await _last_marker(js, subjects.WORK_EPOCH)
    if single is not None and single[0] == epoch:
        return single[2]
    first = await _last_marker(js, Partition(0, 2).marker_subject)
    if first is None or first[0] != epoch or first[1] < 2:
        return None
    cut = 0
    for partition in every_partition(first[1]):
        found = await _last_marker(js, partition.marker_subject)
        if found is None or found[0] != epoch or found[1] != first[1]:
            return None
        cut = max(cut, found[2])
    return cut


async def _last_marker(js: JetStreamContext, subject: str) -> tuple[int, int, int] | None:
    """The last marker on `subject`: (epoch, partition count, work sequence); None when there is none or unreadable."""
    try:
        message = await js.get_last_msg(subjects.WORK_STREAM, subject)
    except NotFoundError:
        return None
    try:
        body = codec.loads(message.data or b"{}")
        return int(body["epoch"]), int(body.get("partitions") or 1), int(message.seq or 0)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
