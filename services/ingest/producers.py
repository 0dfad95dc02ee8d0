"""The producers' ingest service: what a NATS producer publishes reaches the event stream only through here.

A producer (PRODUCERS account, see services/common/cli/natsconf.py) publishes to `cep.ingest.<tenant>`; the
account's import delivers it to the platform as `cep.produce.<tenant>` with a reply subject the server maps back
to the producer's own account. This component, in every ingest replica (one queue group):

- refuses a message over `max_payload` bytes (`CEP_MAX_BODY_BYTES`, as on HTTP; code 413): nats-server does not
  apply the payload limit of a callout-issued user JWT in config mode, so the platform does;
- refuses a tenant over its NATS ingest rate (`TenantQuotas.ingest_rate`/`ingest_burst`, events per second, per
  ingest replica), counted per tenant, with a JetStream-style error answer (code 429) the producer's `js.publish`
  raises as an APIError;
- passes on only the headers a producer may set (`Nats-Msg-Id`, scoped to the tenant so one tenant's ids never
  de-duplicate another's, and `Content-Type`): never the platform's own `Cep-*` headers;
- publishes to the event stream in arrival order without waiting (one connection keeps the order) and forwards
  JetStream's own answer, PubAck or error, unchanged to the producer once it arrives.

The reply subject a producer names is never published to in the platform account: the answer goes to the
server-made `_R_` subject, which the server delivers in the producer's account.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.nuid import NUID
from prometheus_client import Counter

from services.common.domain.events.rate_limit import TokenBucket
from services.common.domain.quotas.tenant_quotas import TenantQuotas, how_to_raise
from services.common.nats import subjects
from services.common.ops import CheckResult
from services.common.quota_book import QuotaBook

log = logging.getLogger(__name__)

MAX_PENDING = 20_000  # publishes awaiting JetStream's answer; past it a producer is told to retry (503)
PENDING_SECONDS = 30.0  # an answer not back by then is given up (the producer's own timeout is shorter)
NDJSON = "application/x-ndjson"

# result: stored, refused_by_stream (JetStream's error), too_large, rate_limited, busy, unanswered (no answer in time)
PRODUCER_MESSAGES = Counter(
    "cep_ingest_nats_messages", "NATS producers' messages by tenant and outcome", ["tenant", "result"]
)
PRODUCER_EVENTS = Counter(
    "cep_ingest_nats_events", "Events in NATS producers' messages by tenant and outcome", ["tenant", "result"]
)


def event_count(data: bytes, content_type: str | None) -> int:
    """How many events a producer's message carries, as the rate counts them (the router validates them later)."""
    if content_type == NDJSON:
        return max(1, sum(1 for line in data.splitlines() if line.strip()))
    if data.lstrip()[:1] == b"[":
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(data)
            if isinstance(value, list):
                return max(1, len(value))
    return 1


def scoped_msg_id(tenant: str, msg_id: str) -> str:
    """The stream's de-duplication id of a producer's `Nats-Msg-Id`: per tenant (the router strips the prefix)."""
    return f"{tenant}/{msg_id}"


def refusal(code: int, description: str) -> bytes:
    """An answer in JetStream's error shape, which nats-py's `js.publish` raises as an APIError with this code."""
    return json.dumps({"error": {"code": code, "err_code": code, "description": description}}).encode()


@dataclass
class TenantRate:
    """One tenant's token bucket, rebuilt when its quota changes."""

    rate: float
    burst: int
    bucket: TokenBucket


@dataclass
class Pending:
    reply: str
    tenant: str
    events: int
    since: float


@dataclass
class ProducerIngress:
    """Answers `cep.produce.*` for the ingest replica it runs in (see the module docstring)."""

    nc: Client
    quotas: QuotaBook
    max_payload: int = 1_048_576
    clock: Callable[[], float] = time.monotonic
    _rates: dict[str, TenantRate] = field(default_factory=dict)
    _pending: dict[str, Pending] = field(default_factory=dict)
    _subscriptions: list[Subscription] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _inbox: str = ""
    _nuid: NUID = field(default_factory=NUID)

    async def start(self) -> None:
        self._inbox = f"{self.nc.new_inbox()}"
        self._subscriptions.append(await self.nc.subscribe(f"{self._inbox}.*", cb=self._on_answer))
        self._subscriptions.append(
            await self.nc.subscribe(f"{subjects.PRODUCE_PREFIX}.*", queue=subjects.PRODUCE_QUEUE, cb=self._on_publish)
        )
        self._tasks.append(asyncio.create_task(self.quotas.follow(self.nc.jetstream(), self._stop), name="quotas"))
        self._tasks.append(asyncio.create_task(self._expire(), name="producer-answers"))

    async def stop(self) -> None:
        self._stop.set()
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def check(self) -> CheckResult:
        if len(self._subscriptions) < 2:
            return CheckResult(False, "not answering producers yet")
        return CheckResult(True, {"pending": len(self._pending)})

    async def _on_publish(self, msg: Msg) -> None:
        tenant = subjects.tenant_of(msg.subject)
        if not subjects.valid_tenant(tenant):  # the import maps only `cep.ingest.<token>`; never trust it blindly
            return
        if len(msg.data) > self.max_payload:
            self._count(tenant, "too_large", 1)
            detail = (
                f"the message of {len(msg.data)} bytes exceeds the limit of {self.max_payload} (CEP_MAX_BODY_BYTES)"
            )
            await self._answer(msg.reply, refusal(413, detail))
            return
        headers = msg.headers or {}
        content_type = headers.get(subjects.CONTENT_TYPE)
        events = event_count(msg.data, content_type)
        quotas = self.quotas.of(tenant)
        wait = self._take(tenant, quotas, events)
        if wait > 0:
            self._count(tenant, "rate_limited", events)
            detail = (
                f"tenant {tenant} is over its NATS ingest rate of {quotas.ingest_rate:g} events/s "
                f"(burst {quotas.ingest_burst}); retry in {wait:.2f} s, or {how_to_raise('ingest_rate', tenant)}"
            )
            await self._answer(msg.reply, refusal(429, detail))
            return
        if len(self._pending) >= MAX_PENDING:
            self._count(tenant, "busy", events)
            await self._answer(msg.reply, refusal(503, "ingest is busy: retry"))
            return
        forwarded: dict[str, str] = {}
        if msg_id := headers.get(subjects.MSG_ID):
            forwarded[subjects.MSG_ID] = scoped_msg_id(tenant, msg_id)
        if content_type:
            forwarded[subjects.CONTENT_TYPE] = content_type
        token = self._nuid.next().decode()
        self._pending[token] = Pending(msg.reply, tenant, events, self.clock())
        await self.nc.publish(
            subjects.ingest_subject(tenant), msg.data, reply=f"{self._inbox}.{token}", headers=forwarded or None
        )

    async def _on_answer(self, msg: Msg) -> None:
        pending = self._pending.pop(msg.subject.rsplit(".", 1)[-1], None)
        if pending is None:
            return
        stored = msg.headers is None or not msg.headers.get("Status")
        if stored:
            with contextlib.suppress(ValueError):
                stored = "error" not in orjson.loads(msg.data)
        self._count(pending.tenant, "stored" if stored else "refused_by_stream", pending.events)
        if pending.reply:
            await self.nc.publish(pending.reply, msg.data, headers=msg.headers)

    async def _answer(self, reply: str, body: bytes) -> None:
        if reply:
            await self.nc.publish(reply, body)

    def _take(self, tenant: str, quotas: TenantQuotas, events: int) -> float:
        if not quotas.ingest_rate:
            return 0.0
        now = self.clock()
        held = self._rates.get(tenant)
        if held is None or (held.rate, held.burst) != (quotas.ingest_rate, quotas.ingest_burst):
            bucket = TokenBucket(quotas.ingest_rate, quotas.ingest_burst, quotas.ingest_burst, now)
            held = self._rates[tenant] = TenantRate(quotas.ingest_rate, quotas.ingest_burst, bucket)
        return held.bucket.take(events, now)

    def _count(self, tenant: str, result: str, events: int) -> None:
        PRODUCER_MESSAGES.labels(tenant, result).inc()
        PRODUCER_EVENTS.labels(tenant, result).inc(events)

    async def _expire(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 5.0)
            cutoff = self.clock() - PENDING_SECONDS
            for token in [t for t, p in self._pending.items() if p.since < cutoff]:
                pending = self._pending.pop(token)
                self._count(pending.tenant, "unanswered", pending.events)
