"""One work message per shard for a run of routed events: the router's batching, without I/O.

Between two rule changes (a segment), every event a shard needs goes into one `events` work message for that
shard, split only to stay under the size limit. A trigger closes the shard's open batch (it follows the
events routed before it). The message id names the first and last raw positions it holds, so a replay with
the same boundaries is de-duplicated by JetStream, and one with other boundaries by the shard (`raw_done`).

A segment comes out in waves: the n-th message of every shard. The router stores a wave before it sends the
next, so a shard's later message is never stored without its earlier one (the shard would take the later
raw positions as done and skip the earlier ones when the router replays them). Most segments are one wave.
"""

from __future__ import annotations

from services.common.messages.work import WORK_EVENTS_OVERHEAD, work_events
from services.common.nats import subjects
from services.common.nats.publishing import Outgoing
from services.ingest.routing import RoutedEvent

HEADER_ROOM = 512  # what the message id header and the protocol line take from the server's max payload


def work_limit(max_payload: int) -> int:
    """The largest work message body the router builds for a server with this max payload."""
    return max(max_payload - HEADER_ROOM, 1024)


class WorkBatches:
    """Gathers one segment's events into one work message per shard (in routing order), split at `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._queued: dict[int, list[Outgoing]] = {}  # per shard, in order
        self._open: dict[int, list[RoutedEvent]] = {}
        self._size: dict[int, int] = {}

    def add(self, event: RoutedEvent) -> None:
        """Add an event to the open batch of each shard it goes to (a full batch is closed first)."""
        for shard in event.shards:
            batch = self._open.setdefault(shard, [])
            size = self._size.get(shard, WORK_EVENTS_OVERHEAD)
            grown = size + len(event.item) + (1 if batch else 0)
            if batch and grown > self.max_bytes:
                self._flush(shard)
                batch, grown = self._open.setdefault(shard, []), WORK_EVENTS_OVERHEAD + len(event.item)
            batch.append(event)
            self._size[shard] = grown

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

    def _flush(self, shard: int) -> None:
        batch = self._open.pop(shard, [])
        self._size.pop(shard, None)
        if not batch:
            return
        first, last = batch[0], batch[-1]
        msg_id = f"events:{first.seq}.{first.index}-{last.seq}.{last.index}:{shard}"
        body = work_events([event.item for event in batch])
        self._queued.setdefault(shard, []).append(Outgoing(subjects.work_subject(shard), body, msg_id))
