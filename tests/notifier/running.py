"""A real NotifierService on its own event loop in a thread, plus helpers to feed it alerts and read its results.

Its own loop lets sync tests (the gateway's TestClient) and the channel-test request/reply run side by side.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from services.common.cli.procs import free_port
from services.common.domain.lifecycle.transitions import Transition
from services.common.messages.alerts import alert
from services.common.messages.channels import ChannelEntry
from services.common.messages.delivery import DeliveryResult
from services.common.nats import subjects
from services.common.ops import run_checks
from services.notifier.app import NotifierService
from services.notifier.settings import NotifierSettings

T = TypeVar("T")
FIRED_AT = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


class RunningNotifier:
    """The service, its loop, and a results collector per tenant (a core subscription on `cep.results.<tenant>`)."""

    def __init__(self, service: NotifierService, loop: asyncio.AbstractEventLoop) -> None:
        self.service = service
        self.loop = loop
        self.results: dict[str, list[DeliveryResult]] = {}

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the notifier's loop and wait for its value."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def js(self) -> Any:
        assert self.service.nc is not None
        return self.service.nc.jetstream()

    def watch(self, tenant: str) -> list[DeliveryResult]:
        """Start collecting the tenant's delivery results (call before publishing its alerts)."""
        found = self.results.setdefault(tenant, [])

        async def subscribe() -> None:
            async def on_result(msg: Any) -> None:
                found.append(DeliveryResult.decode(msg.data))

            assert self.service.nc is not None
            await self.service.nc.subscribe(subjects.results_subject(tenant), cb=on_result)
            await self.service.nc.flush()

        self.run(subscribe())
        return found

    def wait_results(self, tenant: str, final: int = 1, timeout: float = 20) -> list[DeliveryResult]:
        """The tenant's results once `final` of them are final (or fail after `timeout`)."""
        deadline = time.monotonic() + timeout
        found = self.results[tenant]
        while sum(r.final for r in found) < final and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sum(r.final for r in found) >= final, f"{sum(r.final for r in found)} of {final} final results: {found}"
        return list(found)

    def publish_alert(self, transition: Transition, actions: list[dict[str, Any]]) -> None:
        """Publish an alert as the evaluator does (Nats-Msg-Id = transition id)."""
        subject = subjects.alerts_subject(transition.tenant)
        headers = {subjects.MSG_ID: transition.transition_id}
        self.run(self.js.publish(subject, alert(transition, actions), headers=headers))

    def put_channel(self, entry: ChannelEntry) -> None:
        """Write a channel into the bucket the way the gateway mirrors it (id key and name key)."""

        async def put() -> None:
            kv = await self.js.key_value(subjects.CHANNELS_BUCKET)
            await kv.put(subjects.channel_key(entry.tenant, entry.channel_id), entry.encode())
            await kv.put(subjects.channel_name_key(entry.tenant, entry.name), entry.channel_id.encode())

        self.run(put())


def fast_settings(**overrides: Any) -> NotifierSettings:
    """Settings with a fast backoff (50 ms doubling, at most 200 ms apart) so retry tests take well under a second."""
    values: dict[str, Any] = {
        "notifier_grpc_port": free_port(),
        "retry_initial": 0.05,
        "retry_max": 0.2,
        **overrides,
    }
    return NotifierSettings(**values)


@contextmanager
def running_notifier(settings: NotifierSettings | None = None) -> Iterator[RunningNotifier]:
    """Start the notifier on a fresh loop in a thread, wait until both consumers run, stop it afterwards."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="notifier-loop", daemon=True)
    thread.start()
    running = RunningNotifier(NotifierService(settings or fast_settings()), loop)
    try:
        running.run(running.service.start())
        deadline = time.monotonic() + 20
        while not all(r.ok for r in running.run(run_checks(running.service.checks())).values()):
            assert time.monotonic() < deadline, "the notifier did not become ready"
            time.sleep(0.05)
        yield running
    finally:
        running.run(running.service.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def tenant() -> str:
    """A tenant name no other test uses."""
    return f"t-{uuid.uuid4().hex[:10]}"


def transition(tenant: str, *, kind: str = "fired", notify: bool = True, **fields: Any) -> Transition:
    """A transition as the evaluator publishes it, with a unique id."""
    values: dict[str, Any] = {
        "transition_id": uuid.uuid4().hex,
        "kind": kind,
        "tenant": tenant,
        "rule_id": "r" + uuid.uuid4().hex[:12],
        "rule_version": 1,
        "rule_name": "cpu_high_alert",
        "severity": "high",
        "trigger_type": "metric",
        "event_id": uuid.uuid4().hex,
        "fingerprint": "fp",
        "group_key": "host=gt-01",
        "at": FIRED_AT,
        "started_at": FIRED_AT,
        "count": 1,
        "last_seen": FIRED_AT,
        "payload": {"cpu_usage": 92, "host": "gt-01"},
        "value": 92,
        "explanation": [],
        "summary": "cpu_usage > 85 for 5m",
        "source_event_id": None,
        "reason": "condition held for 5m",
        "notify": notify,
        **fields,
    }
    return Transition(**values)


def webhook(tenant: str, url: str, name: str = "ops-hook", **config: Any) -> ChannelEntry:
    """A webhook channel entry (config as the gateway stores it: defaults filled in, secrets included)."""
    full = {"url": url, "method": "POST", "headers": {}, "timeout": "10s", **config}
    return ChannelEntry(tenant, uuid.uuid4().hex, name, "webhook", full, 1)
