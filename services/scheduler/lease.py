"""The leader lease: one key in a KV bucket whose TTL is the lease period, taken and renewed by compare-and-set.

- take: `create("leader")` succeeds only when no live key exists (never held, expired, or released);
- renew: `update("leader", last=<our revision>)` every quarter period; a wrong revision means someone else holds
  it now, so we stop at once;
- the server expires the key one period after the last renewal it stored, so a killed leader is replaced by
  the first follower that tries after that;
- the revision at which a term was taken is the fencing token: it only grows, so every run message carries
  which term fired it, and a stale leader's messages are recognisable downstream.

A holder trusts its lease only until `sent + 0.9 * period` of its last successful write (measured on its own
monotonic clock before the write was sent, which is before the server stored it): it stops firing before any
follower can take over, even when its renewals hang.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import nats.errors
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.common import codec, subjects
from services.common.domain.events import format_time

log = logging.getLogger(__name__)

TRUST = 0.9  # share of the period after a successful write during which the holder acts on its lease
RENEW_SHARE = 0.25  # renew every quarter period
_NATS_ERRORS = (nats.errors.Error, TimeoutError, OSError)


class Lease:
    """This instance's view of the leader lease; `fencing` is the revision that started our current term."""

    def __init__(self, kv: KeyValue, instance: str, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.kv = kv
        self.instance = instance
        self.period = period
        self.clock = clock
        self.fencing: int | None = None
        self.revision: int | None = None
        self.since: datetime | None = None
        self._trusted_until = 0.0

    @property
    def held(self) -> bool:
        """Whether we hold the lease and may act on it now."""
        return self.fencing is not None and self.clock() < self._trusted_until

    @property
    def renew_every(self) -> float:
        return self.period * RENEW_SHARE

    def _value(self) -> bytes:
        since = format_time(self.since) if self.since else None
        return codec.dumps({"instance": self.instance, "fencing": self.fencing, "since": since})

    async def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True when we hold it now (a new term, a new fencing token)."""
        sent = self.clock()
        self.since = datetime.now(UTC)
        self.fencing = None
        try:
            revision = await self.kv.create(subjects.SCHEDULER_LEADER_KEY, self._value())
        except KeyWrongLastSequenceError:
            return False  # someone holds it
        except _NATS_ERRORS as exc:
            log.warning("taking the scheduler lease failed: %s", exc)
            return False
        self.fencing = self.revision = revision
        self._trusted_until = sent + TRUST * self.period
        # Write once more so the stored value names the fencing token (the revision was unknown before).
        await self.renew()
        log.info("scheduler lease taken", extra={"instance": self.instance, "fencing": self.fencing})
        return self.held

    async def renew(self) -> bool:
        """Extend our term; False (and no longer held) when another instance took the lease."""
        if self.fencing is None:
            return False
        sent = self.clock()
        try:
            self.revision = await self.kv.update(subjects.SCHEDULER_LEADER_KEY, self._value(), last=self.revision)
        except KeyWrongLastSequenceError:
            log.warning("scheduler lease lost", extra={"instance": self.instance, "fencing": self.fencing})
            self._drop()
            return False
        except _NATS_ERRORS as exc:  # keep trying until the trust runs out
            log.warning("renewing the scheduler lease failed: %s", exc)
            return self.held
        self._trusted_until = sent + TRUST * self.period
        return True

    async def release(self) -> None:
        """Give the lease up (a clean stop), so a follower takes over at its next try instead of after expiry."""
        if self.fencing is None:
            return
        revision = self.revision
        self._drop()
        try:
            await self.kv.delete(subjects.SCHEDULER_LEADER_KEY, last=revision)
        except (KeyWrongLastSequenceError, *_NATS_ERRORS) as exc:
            log.info("releasing the scheduler lease: %s", exc)

    def _drop(self) -> None:
        self.fencing = None
        self.revision = None
        self._trusted_until = 0.0


async def current_leader(kv: KeyValue) -> dict[str, object] | None:
    """The holder as the bucket says (`instance`, `fencing`, `since`), or None when nobody holds the lease."""
    try:
        entry = await kv.get(subjects.SCHEDULER_LEADER_KEY)
    except KeyNotFoundError:
        return None
    if not entry.value:
        return None
    try:
        value = codec.loads(entry.value)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if value.get("fencing") is None:
        value["fencing"] = entry.revision
    return value
