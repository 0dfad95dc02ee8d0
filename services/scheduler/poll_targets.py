"""The active metric-polling targets of every tenant, kept current from the `cep-polling` bucket (a KV watch)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import nats.errors
from nats.js.client import JetStreamContext

from services.common import codec, subjects
from services.common.domain.polling import PollingValidationError, TargetSpec, parse_target

log = logging.getLogger(__name__)

TargetKey = tuple[str, str]  # (tenant, target_id)
WATCH_WAIT_SECONDS = 5.0
RETRY_SECONDS = 1.0
_DELETED = ("DEL", "PURGE")


@dataclass(frozen=True)
class PollTarget:
    """A target the leader polls: who owns it, which version, and its validated spec."""

    tenant: str
    target_id: str
    version: int
    spec: TargetSpec


def target_of(key: str, value: bytes) -> PollTarget | None:
    """The active target a bucket entry holds, or None (inactive, unreadable, or a key that does not match)."""
    tenant, _, target_id = key.partition(".")
    try:
        body = codec.loads(value)
        spec = parse_target(body)
        version = int(body["version"])
    except (ValueError, KeyError, TypeError, PollingValidationError) as exc:
        log.warning("unreadable polling target %s skipped: %s", key, exc)
        return None
    if not spec.active or body.get("tenant") != tenant or body.get("target_id") != target_id:
        return None
    if not subjects.valid_tenant(tenant) or not subjects.RULE_ID_PATTERN.match(target_id):
        return None
    return PollTarget(tenant, target_id, version, spec)


class PollTargets:
    """Active targets by (tenant, target_id); `changed` is set on every change so the poller reschedules."""

    def __init__(self) -> None:
        self.targets: dict[TargetKey, PollTarget] = {}
        self.loaded = asyncio.Event()
        self.changed = asyncio.Event()

    def apply(self, key: str, value: bytes | None, deleted: bool) -> None:
        """Take one bucket entry (a put or a deletion) into the set."""
        tenant, _, target_id = key.partition(".")
        target = None if deleted or not value else target_of(key, value)
        held = self.targets.get((tenant, target_id))
        if target is None:
            if held is not None:
                del self.targets[(tenant, target_id)]
                self.changed.set()
        elif held is None or held.version <= target.version:
            self.targets[(tenant, target_id)] = target
            self.changed.set()

    async def follow(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """Watch the bucket until `stop`; a failed watch starts over from the bucket's content."""
        while not stop.is_set():
            try:
                await self._watch(js, stop)
            except Exception as exc:
                log.warning("watching the polling bucket failed (%s); starting over", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RETRY_SECONDS)

    async def _watch(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        kv = await js.key_value(subjects.POLLING_BUCKET)
        watcher = await kv.watchall()
        seen: set[TargetKey] = set()
        initial = True
        try:
            while not stop.is_set():
                try:
                    entry = await watcher.updates(timeout=WATCH_WAIT_SECONDS)
                except nats.errors.TimeoutError:
                    continue
                if entry is None:  # the end of what the bucket held when the watch started
                    if initial:
                        for key in [k for k in self.targets if k not in seen]:
                            del self.targets[key]  # vanished while we were not watching
                            self.changed.set()
                        initial = False
                        self.loaded.set()
                    continue
                tenant, _, target_id = entry.key.partition(".")
                seen.add((tenant, target_id))
                self.apply(entry.key, entry.value, entry.operation in _DELETED)
        finally:
            await watcher.stop()
