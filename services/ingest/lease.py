"""Which ingest replica routes: a key in a bucket whose TTL is the lease period, created or renewed by CAS.

The raw stream must be routed by one process at a time (a rule change is a barrier for the events after it,
and each router keeps its own rule table), so replicas are active/standby: the holder of the `router` key
routes; the others try to create it every quarter period and take over once it expires (one period after
the last renewal), or at once when the holder releases it on a clean stop. The holder trusts its lease for
0.9 of a period after its last successful write, measured before sending it, so it stops routing before any
standby can take over even when its renewals hang.
"""

from __future__ import annotations

import logging
import time

import nats.errors
from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.common import codec, subjects
from services.common.streams import jetstream_replicas

log = logging.getLogger(__name__)

TRUST = 0.9
_NATS_ERRORS = (nats.errors.Error, TimeoutError, OSError)


async def lease_bucket(js: JetStreamContext, period: float) -> KeyValue:
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


class RouterLease:
    """This replica's hold on the router lease."""

    def __init__(self, kv: KeyValue, instance: str, period: float) -> None:
        self.kv = kv
        self.instance = instance
        self.period = period
        self.revision: int | None = None
        self._trusted_until = 0.0

    @property
    def held(self) -> bool:
        return self.revision is not None and time.monotonic() < self._trusted_until

    @property
    def renew_every(self) -> float:
        return self.period / 4

    async def claim(self) -> bool:
        """Take the lease when free, or renew ours; True while we hold it."""
        sent = time.monotonic()
        value = codec.dumps({"instance": self.instance})
        try:
            if self.revision is None:
                self.revision = await self.kv.create(subjects.ROUTER_LEASE_KEY, value)
                log.info("router lease taken: this replica routes", extra={"instance": self.instance})
            else:
                self.revision = await self.kv.update(subjects.ROUTER_LEASE_KEY, value, last=self.revision)
        except KeyWrongLastSequenceError:
            if self.revision is not None:
                log.warning("router lease lost to another replica", extra={"instance": self.instance})
            self.revision = None
            return False
        except _NATS_ERRORS as exc:  # keep the lease while trusted: the next renewal may get through
            log.warning("router lease write failed: %s", exc)
            return self.held
        self._trusted_until = sent + TRUST * self.period
        return True

    async def release(self) -> None:
        """Give the lease up on a clean stop, so a standby takes over at its next try."""
        revision, self.revision = self.revision, None
        if revision is None:
            return
        try:
            await self.kv.delete(subjects.ROUTER_LEASE_KEY, last=revision)
        except (KeyWrongLastSequenceError, *_NATS_ERRORS) as exc:
            log.info("releasing the router lease: %s", exc)
