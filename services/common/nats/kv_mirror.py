"""A service's copy of the entries of one KV bucket it acts on (schedule rules, polling targets, quotas), kept
current by a watch: `changed` is set on every change so the leader recomputes at once, `loaded` once the
bucket's content at start has been read. A failed watch starts over from the bucket's content, and entries
that vanished meanwhile are forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Generic, Protocol, TypeVar

import nats.errors
from nats.js.client import JetStreamContext

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (tenant, id): bucket keys are `<tenant>.<id>`
WATCH_WAIT_SECONDS = 5.0
RETRY_SECONDS = 1.0
_DELETED = ("DEL", "PURGE")


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=Versioned)


class Skip:
    """What `parse` returns for an entry that cannot be read: the copy held so far stays."""


SKIP = Skip()


class BucketMirror(Generic[V]):
    bucket: str  # the KV bucket watched
    what: str  # for log lines: "rule", "polling target"

    def __init__(self) -> None:
        self.items: dict[Key, V] = {}
        self.loaded = asyncio.Event()
        self.changed = asyncio.Event()

    def parse(self, key: str, value: bytes) -> V | Skip | None:
        """The item an entry holds; None when it is not one to act on (dropped); SKIP when unreadable."""
        raise NotImplementedError

    def apply(self, key: str, value: bytes | None, deleted: bool) -> None:
        """Take one bucket entry (a put or a deletion) into the copy; a newer version wins."""
        tenant, _, ident = key.partition(".")
        item = None if deleted or not value else self.parse(key, value)
        if isinstance(item, Skip):
            return
        held = self.items.get((tenant, ident))
        if item is None:
            if held is not None:
                del self.items[(tenant, ident)]
                self.changed.set()
        elif held is None or held.version <= item.version:
            self.items[(tenant, ident)] = item
            self.changed.set()

    async def follow(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """Watch the bucket until `stop`; a failed watch starts over from the bucket's content."""
        while not stop.is_set():
            try:
                await self._watch(js, stop)
            except Exception as exc:
                log.warning("watching the %s bucket failed (%s); starting over", self.what, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RETRY_SECONDS)

    async def _watch(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        kv = await js.key_value(self.bucket)
        watcher = await kv.watchall()
        seen: set[Key] = set()
        initial = True
        try:
            while not stop.is_set():
                try:
                    entry = await watcher.updates(timeout=WATCH_WAIT_SECONDS)
                except nats.errors.TimeoutError:
                    continue
                if entry is None:  # the end of what the bucket held when the watch started
                    if initial:
                        self._forget_except(seen)
                        initial = False
                        self.loaded.set()
                    continue
                tenant, _, ident = entry.key.partition(".")
                seen.add((tenant, ident))
                self.apply(entry.key, entry.value, entry.operation in _DELETED)
        finally:
            await watcher.stop()

    def _forget_except(self, seen: set[Key]) -> None:
        # After a restarted watch, entries that vanished while we were not watching are gone.
        for key in [k for k in self.items if k not in seen]:
            del self.items[key]
            self.changed.set()
