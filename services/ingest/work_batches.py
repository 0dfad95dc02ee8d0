"""One work message per shard for a run of routed events: the router's batching, without I/O.

Between two rule changes (a segment), every event a shard needs goes into one work message for that shard, split
only to stay under the size limit: a raw batch of the raw messages as stored (`raw:` ids), or a JSON `events`
batch (`events:` ids) under the placement of earlier versions and for a message too large to forward whole. A
trigger closes the shard's open batch (it follows the events routed before it). The message id names the first
and last raw positions it holds (and, for raw batches, the shard count: after a rebalance the same positions
make other batches), so a replay with the same boundaries is de-duplicated by JetStream, and one with other
boundaries by the shard (`raw_done`).

A segment comes out in waves: the n-th message of every shard. The router stores a wave before it sends the
next, so a shard's later message is never stored without its earlier one (the shard would take the later
raw positions as done and skip the earlier ones when the router replays them). Most segments are one wave.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.messages.raw_batches import RAW_BATCH_OVERHEAD, RawRow, encode_raw_batch
from services.common.messages.work import WORK_EVENTS_OVERHEAD, work_events
from services.common.nats import subjects
from services.common.nats.publishing import Outgoing
from services.ingest.routing import RoutedEvent, RoutedRaw

HEADER_ROOM = 512  # what the message id header and the protocol line take from the server's max payload

Position = tuple[int, int]  # (raw sequence, index of the event in that raw message)


def work_limit(max_payload: int) -> int:
    """The largest work message body the router builds for a server with this max payload."""
    return max(max_payload - HEADER_ROOM, 1024)


@dataclass
class _Open:
    """A shard's batch being filled: JSON items or raw rows, its size so far, its first and last raw positions."""

    raw: bool
    size: int
    first: Position
    last: Position = (0, 0)
    items: list[bytes] = field(default_factory=list)
    rows: list[RawRow] = field(default_factory=list)


class WorkBatches:
    """Gathers one segment's events into one work message per shard (in routing order), split at `max_bytes`."""

    def __init__(self, max_bytes: int, shards: int = 0) -> None:
        """`shards`: the shard count routed with, named in the ids of raw batches."""
        self.max_bytes = max_bytes
        self.shards = shards
        self._queued: dict[int, list[Outgoing]] = {}  # per shard, in order
        self._open: dict[int, _Open] = {}

    def add(self, entry: RoutedEvent | RoutedRaw) -> None:
        """Add an event (or a raw message's picked events) to the open batch of each shard it goes to."""
        if isinstance(entry, RoutedEvent):
            for shard in entry.shards:
                batch = self._room(shard, False, len(entry.item) + 1, (entry.seq, entry.index))
                batch.items.append(entry.item)
                batch.last = (entry.seq, entry.index)
            return
        for shard, (row, cost) in entry.rows.items():
            batch = self._room(shard, True, cost, (row.seq, row.picks[0]))
            batch.rows.append(row)
            batch.last = (row.seq, row.picks[-1])

    def add_message(self, message: Outgoing) -> None:
        """A work message of its own (a trigger), after the events routed to its shard so far."""
        shard = int(message.subject.rsplit(".", 1)[-1])
        self._flush(shard)
        self._queued.setdefault(shard, []).append(message)

    def close(self) -> list[list[Outgoing]]:
        """The segment's messages in waves (wave n: the n-th message of each shard that has one)."""
        for shard in sorted(self._open):
            self._flush(shard)
        queued = [self._queued[shard] for shard in sorted(self._queued)]
        depth = max((len(messages) for messages in queued), default=0)
        return [[messages[n] for messages in queued if n < len(messages)] for n in range(depth)]

    def _room(self, shard: int, raw: bool, cost: int, first: Position) -> _Open:
        """The shard's open batch of this kind with room for `cost` more bytes (a full or other one is closed)."""
        batch = self._open.get(shard)
        if batch is not None and (batch.raw != raw or batch.size + cost > self.max_bytes):
            self._flush(shard)
            batch = None
        if batch is None:
            overhead = RAW_BATCH_OVERHEAD if raw else WORK_EVENTS_OVERHEAD - 1  # n JSON items take n - 1 commas
            batch = self._open[shard] = _Open(raw, overhead, first)
        batch.size += cost
        return batch

    def _flush(self, shard: int) -> None:
        batch = self._open.pop(shard, None)
        if batch is None:
            return
        (s1, i1), (s2, i2) = batch.first, batch.last
        if batch.raw:
            msg_id, body = f"raw:{s1}.{i1}-{s2}.{i2}:{shard}/{self.shards}", encode_raw_batch(batch.rows)
        else:
            msg_id, body = f"events:{s1}.{i1}-{s2}.{i2}:{shard}", work_events(batch.items)
        self._queued.setdefault(shard, []).append(Outgoing(subjects.work_subject(shard), body, msg_id))
