"""A lease: one key in a KV bucket whose TTL is the lease period, taken and renewed by compare-and-set.

- take: `create(key)` succeeds only when no live key exists (never held, expired, or released);
- renew: `update(key, last=<our revision>)` every quarter period; a wrong revision means someone else holds it
  now, so we stop at once;
- the server expires the key one period after the last renewal it stored, so a killed holder is replaced by the
  first contender that tries after that;
- the revision at which a term was taken is the fencing token: it only grows. A `fenced` lease writes it (and
  when the term began) into the key, so readers of the bucket see which term is current.

A holder trusts its lease only until `sent + 0.9 * period` of its last successful write (measured on its own
monotonic clock before the write was sent, which is before the server stored it): it stops acting before any
contender can take over, even when its renewals hang.

Two leases use this: the scheduler leader (`SchedulerLease`, fenced: every run message carries its term) and the
ingest router (`RouterLease`: replicas are active/standby, the holder of the `router` key routes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import nats.errors
from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.common.domain.events.model import format_time
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.streams import jetstream_replicas

log = logging.getLogger(__name__)

TRUST = 0.9  # share of the period after a successful write during which the holder acts on its lease
RENEW_SHARE = 0.25  # renew every quarter period
_NATS_ERRORS = (nats.errors.Error, TimeoutError, OSError)


class Lease:
    """This instance's hold on the lease at `key`; `fencing` is the revision that started our current term."""

    def __init__(
        self,
        kv: KeyValue,
        key: str,
        instance: str,
        period: float,
        *,
        label: str,
        fenced: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`label` names the lease in logs; `fenced`: the stored value names the term (one more write on taking)."""
        self.kv = kv
        self.key = key
        self.instance = instance
        self.period = period
        self.label = label
        self.fenced = fenced
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
        if not self.fenced:
            return codec.dumps({"instance": self.instance})
        since = format_time(self.since) if self.since else None
        return codec.dumps({"instance": self.instance, "fencing": self.fencing, "since": since})

    async def claim(self) -> bool:
        """Take the lease when free, or renew ours; True while we hold it."""
        return await (self.try_acquire() if self.fencing is None else self.renew())

    async def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True when we hold it now (a new term, a new fencing token)."""
        sent = self.clock()
        self.since = datetime.now(UTC)
        self._drop()
        try:
            revision = await self.kv.create(self.key, self._value())
        except KeyWrongLastSequenceError:
            return False  # someone holds it
        except _NATS_ERRORS as exc:
            log.warning("taking the %s failed: %s", self.label, exc)
            return False
        self.fencing = self.revision = revision
        self._trusted_until = sent + TRUST * self.period
        if self.fenced:  # write once more so the stored value names the fencing token (unknown before)
            await self.renew()
        log.info("%s taken", self.label, extra={"instance": self.instance, "fencing": self.fencing})
        return self.held

    async def renew(self) -> bool:
        """Extend our term; False (and no longer held) when another instance took the lease."""
        if self.fencing is None:
            return False
        sent = self.clock()
        try:
            self.revision = await self.kv.update(self.key, self._value(), last=self.revision)
        except KeyWrongLastSequenceError:
            log.warning("%s lost", self.label, extra={"instance": self.instance, "fencing": self.fencing})
            self._drop()
            return False
        except _NATS_ERRORS as exc:  # keep the lease while trusted: the next renewal may get through
            log.warning("renewing the %s failed: %s", self.label, exc)
            return self.held
        self._trusted_until = sent + TRUST * self.period
        return True

    async def release(self) -> None:
        """Give the lease up (a clean stop), so a contender takes over at its next try instead of after expiry."""
        if self.fencing is None:
            return
        revision = self.revision
        self._drop()
        try:
            await self.kv.delete(self.key, last=revision)
        except (KeyWrongLastSequenceError, *_NATS_ERRORS) as exc:
            log.info("releasing the %s: %s", self.label, exc)

    def _drop(self) -> None:
        self.fencing = None
        self.revision = None
        self._trusted_until = 0.0


class SchedulerLease(Lease):
    """The scheduler leader lease: key `leader` in `cep-scheduler-live`, fenced (run messages carry the term)."""

    def __init__(self, kv: KeyValue, instance: str, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(
            kv, subjects.SCHEDULER_LEADER_KEY, instance, period, label="scheduler lease", fenced=True, clock=clock
        )


class RouterLease(Lease):
    """An ingest router lease: key `router` in `cep-router-live` (with partitions, one key per partition:
    services/common/nats/router_partitions.py); the holder routes, the other replicas stand by."""

    def __init__(self, kv: KeyValue, instance: str, period: float, key: str = subjects.ROUTER_LEASE_KEY) -> None:
        label = "router lease" if key == subjects.ROUTER_LEASE_KEY else f"router lease {key}"
        super().__init__(kv, key, instance, period, label=label)


async def router_lease_bucket(js: JetStreamContext, period: float) -> KeyValue:
    """The bucket holding the router lease, its TTL the lease period (a bucket made with another TTL is kept)."""
    config = KeyValueConfig(
        bucket=subjects.ROUTER_LIVE_BUCKET,
        history=1,
        ttl=period,
        storage=StorageType.FILE,  # a restarted nats-server must still hold it, or no replica routes again
        replicas=jetstream_replicas(),
    )
    try:
        return await js.create_key_value(config)
    except BadRequestError:
        log.warning("the router lease bucket exists with another TTL; keeping it")
        return await js.key_value(subjects.ROUTER_LIVE_BUCKET)


async def current_leader(kv: KeyValue) -> dict[str, object] | None:
    """The scheduler leader as the bucket says (`instance`, `fencing`, `since`), or None when nobody holds it."""
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
