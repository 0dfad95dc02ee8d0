"""Closing the NATS connections of producers whose token was revoked or has expired, within seconds.

The auth callout admits a producer once, at connect (services/gateway/nats/auth_callout.py); its user JWT is named after
the token's id. This component connects to the server's system account and, every `period` seconds, lists the
producers' connections on every server (`$SYS.REQ.SERVER.PING.CONNZ`, account PRODUCERS) and asks the server
that holds one to close it (`$SYS.REQ.SERVER.<id>.KICK`) when its token is revoked, expired or gone, or when it
holds more than `MAX_SUBSCRIPTIONS` subscriptions (nats-server does not apply a callout-issued user JWT's
subscription limit in config mode, so the platform does, within a sweep). A kicked
nats-py client reconnects, and the callout refuses it: the session is over. Gateway replicas may all sweep; a
second kick of the same connection is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.aio.client import Client
from prometheus_client import Counter

from services.common.db.sql_engine import Database
from services.common.nats import bus, subjects
from services.common.ops import CheckResult
from services.gateway.auth import PLATFORM_ADMIN_ID
from services.gateway.nats.auth_callout import MAX_SUBSCRIPTIONS, Refused, admit
from services.gateway.store import tokens as token_store

log = logging.getLogger(__name__)

PAGE = 1024  # connections per CONNZ answer
GATHER_SECONDS = 0.5  # how long the answers of every server of a cluster are collected for one ping

# reason: token (revoked, expired, gone or no longer a publishing role) or subscriptions (more than allowed)
KICKED = Counter("cep_gateway_producer_kicks", "Producer NATS connections closed by the gateway, by reason", ["reason"])


@dataclass(frozen=True)
class ProducerConnection:
    server_id: str
    cid: int
    token_id: str
    subscriptions: int = 0


def connections_of(answer: dict[str, object]) -> list[ProducerConnection]:
    """The producer connections one server's CONNZ answer lists (each user is named after its token id)."""
    server = answer.get("server")
    data = answer.get("data")
    if not isinstance(server, dict) or not isinstance(data, dict):
        return []
    found = []
    for conn in data.get("connections") or []:
        if isinstance(conn, dict) and isinstance(conn.get("cid"), int):
            subscriptions = conn.get("subscriptions")
            found.append(
                ProducerConnection(
                    str(server.get("id")),
                    conn["cid"],
                    str(conn.get("authorized_user", "")),
                    subscriptions if isinstance(subscriptions, int) else 0,
                )
            )
    return found


class ProducerSessions:
    """The sweep (see the module docstring); `sweep()` is also called right after a token is revoked."""

    def __init__(self, system_url: str, db: Database, period: float) -> None:
        self.system_url = system_url
        self.db = db
        self.period = period
        self.nc: Client | None = None
        self.sweeps = 0
        self.kicked = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="producer-sessions")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()

    async def check(self) -> CheckResult:
        if self.nc is None or not self.nc.is_connected:
            return CheckResult(False, "not connected to the NATS system account")
        return CheckResult(True, {"sweeps": self.sweeps, "kicked": self.kicked})

    async def _run(self) -> None:
        self.nc = await bus.connect(self.system_url, "cep-gateway-producer-sessions")
        while not self._stop.is_set():
            try:
                await self.sweep()
            except Exception as exc:  # a server restart or a slow database: the next sweep tries again
                log.warning("producer session sweep failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.period)

    async def sweep(self) -> int:
        """Close every producer connection whose token no longer admits it; returns how many were closed."""
        if self.nc is None or not self.nc.is_connected:
            return 0
        connections = await self._list()
        ended = await self._ended({c.token_id for c in connections}, datetime.now(UTC))
        closed = 0
        for conn in connections:
            reason = ended.get(conn.token_id)
            if reason is None and conn.subscriptions > MAX_SUBSCRIPTIONS:
                reason = "subscriptions"
            if reason is None:
                continue
            kick = json.dumps({"cid": conn.cid}).encode()
            with contextlib.suppress(Exception):
                await self.nc.request(f"$SYS.REQ.SERVER.{conn.server_id}.KICK", kick, timeout=2)
                closed += 1
                KICKED.labels("subscriptions" if reason == "subscriptions" else "token").inc()
                log.info("closed producer connection %s of token %s: %s", conn.cid, conn.token_id, reason)
        self.sweeps += 1
        self.kicked += closed
        return closed

    async def _list(self) -> list[ProducerConnection]:
        assert self.nc is not None
        found: list[ProducerConnection] = []
        offset = 0
        while True:
            answers = await self._ping(
                {"acc": subjects.PRODUCERS_ACCOUNT, "auth": True, "limit": PAGE, "offset": offset}
            )
            page = [conn for answer in answers for conn in connections_of(answer)]
            found.extend(page)
            if not any(_more(answer) for answer in answers):
                return found
            offset += PAGE

    async def _ping(self, options: dict[str, object]) -> list[dict[str, object]]:
        """Every server's answer to one CONNZ ping (a cluster answers once per server)."""
        assert self.nc is not None
        inbox = self.nc.new_inbox()
        subscription = await self.nc.subscribe(inbox)
        try:
            await self.nc.publish("$SYS.REQ.SERVER.PING.CONNZ", json.dumps(options).encode(), reply=inbox)
            answers = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + GATHER_SECONDS
            while (left := deadline - loop.time()) > 0:
                try:
                    msg = await subscription.next_msg(timeout=left)
                except Exception:
                    break
                with contextlib.suppress(ValueError):
                    answers.append(json.loads(msg.data))
            return answers
        finally:
            await subscription.unsubscribe()

    async def _ended(self, token_ids: Iterable[str], now: datetime) -> dict[str, str]:
        """Why each of these tokens no longer admits a producer, as the callout decides (valid ones left out)."""
        wanted = sorted(set(token_ids) - {PLATFORM_ADMIN_ID})
        async with self.db.read() as session:
            rows = await token_store.get_tokens(session, wanted)
        decisions = {token_id: admit(rows.get(token_id), now) for token_id in wanted}
        return {token_id: d.reason for token_id, d in decisions.items() if isinstance(d, Refused)}


def _more(answer: dict[str, object]) -> bool:
    data = answer.get("data")
    if not isinstance(data, dict):
        return False
    total, offset, limit = data.get("total", 0), data.get("offset", 0), data.get("limit", PAGE)
    return isinstance(total, int) and isinstance(offset, int) and isinstance(limit, int) and offset + limit < total
