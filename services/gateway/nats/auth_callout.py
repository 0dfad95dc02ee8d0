"""The NATS auth callout: nats-server asks the gateway who a connecting producer is, and API tokens decide.

`cep up` runs nats-server with an `auth_callout` block: the platform's services connect as the internal user
(exempt from the callout); every other client's CONNECT is sent, as a JWT signed by the server, to
`$SYS.REQ.USER.AUTH`, which this component answers. A producer presents an API token as the NATS token
(`nats.connect(url, token=...)`, or as the password with any user name). The token is resolved as the HTTP auth
resolves a bearer token (hashed lookup, not revoked, not expired; CEP_ADMIN_TOKEN is the platform admin of the
`default` tenant) and an editor or admin gets a user JWT in the PRODUCERS account (not the platform's: see
natsconf.py) that may only:

- publish to `cep.ingest.<tenant>`, which the account imports from the platform's ingest service;
- subscribe to `_INBOX_<tenant>.>`: its own inboxes, where the PubAck arrives (the producer connects with
  `inbox_prefix="_INBOX_<tenant>"`);
- hold at most `MAX_SUBSCRIPTIONS` subscriptions and send messages of at most `max_payload` bytes.

A producer never answers requests, so the user has no response permission. The user JWT expires when the token
does (nats-py closes a connection for good on "User Authentication Expired", so a shorter JWT renewed by
reconnecting would drop honest producers, which the contract forbids); a revoked or expired token's open
connections are closed by `ProducerSessions`, which sweeps the producers' connections every few seconds.
Everything else gets an error answer, which the client sees as an "Authorization Violation". Tokens are never
logged; the refusal reason is.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nkeys
from nats.aio.msg import Msg

from services.common.db.sql_engine import Database
from services.common.db.tables import TokenRow
from services.common.nats import nats_jwt, subjects
from services.common.ops import CheckResult
from services.gateway.auth import PLATFORM_ADMIN_ID, PLATFORM_TENANT, hash_secret
from services.gateway.nats.bus import GatewayBus
from services.gateway.nats.queue_subscription import QueueSubscription
from services.gateway.store import tokens as token_store

log = logging.getLogger(__name__)

PUBLISHING_ROLES = ("editor", "admin")
MAX_SUBSCRIPTIONS = 100  # a producer needs one (its PubAck inbox); a few more for request helpers


@dataclass(frozen=True)
class Producer:
    """A token that may publish over NATS: its tenant, its public id, and when it stops being valid."""

    tenant: str
    token_id: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Refused:
    """Why a connection is refused; sent to the server (which logs it), never containing the token."""

    reason: str


def producer_permissions(tenant: str) -> dict[str, Any]:
    """The user-JWT permissions of a tenant's producer: its ingest subject, its own inboxes, nothing else."""
    return {
        "pub": {"allow": [subjects.ingest_subject(tenant)]},
        "sub": {"allow": [f"{subjects.producer_inbox_prefix(tenant)}.>"]},
    }


def session_expiry(producer: Producer) -> int | None:
    """When the user JWT expires (epoch seconds): when the token does; None for a token that never expires."""
    return None if producer.expires_at is None else int(producer.expires_at.timestamp())


def admit(row: TokenRow | None, now: datetime) -> Producer | Refused:
    """Decide about a token row found by its hash (None: no such token): auth.authenticate's checks, then the role."""
    if row is None:
        return Refused("unknown token")
    if row.revoked_at is not None:
        return Refused(f"token {row.token_id} is revoked")
    if row.expires_at is not None and row.expires_at <= now:
        return Refused(f"token {row.token_id} has expired")
    if row.role not in PUBLISHING_ROLES:
        return Refused(f"token {row.token_id} has the {row.role} role; publishing needs editor or admin")
    if not subjects.valid_tenant(row.tenant):
        return Refused(f"token {row.token_id} has an invalid tenant name")
    return Producer(row.tenant, row.token_id, row.expires_at)


class NatsAuthResponder:
    """A gateway component: answers nats-server's auth callout requests (queue group, so replicas share them)."""

    def __init__(
        self, bus: GatewayBus, db: Database, issuer_seed: str, admin_token: str | None, max_payload: int
    ) -> None:
        self.bus = bus
        self.max_payload = max_payload
        self.db = db
        self._issuer = nkeys.from_seed(issuer_seed.encode())
        self._admin_token = admin_token or None
        self._subscription = QueueSubscription(
            bus, subjects.AUTH_CALLOUT, subjects.AUTH_CALLOUT_QUEUE, "nats-auth-callout", self._on_request
        )
        self.admitted = 0
        self.refused = 0

    async def start(self) -> None:
        await self._subscription.start()

    async def stop(self) -> None:
        await self._subscription.stop()

    async def check(self) -> CheckResult:
        if not self._subscription.subscribed:
            return CheckResult(False, "not subscribed to the auth callout subject yet")
        return CheckResult(True, {"admitted": self.admitted, "refused": self.refused})

    async def _on_request(self, msg: Msg) -> None:
        try:
            answer = await self.answer(msg.data, datetime.now(UTC))
        except Exception:  # no answer: the server times the request out and refuses the client
            log.exception("nats auth callout: could not answer a request")
            return
        if answer is not None:
            await msg.respond(answer)

    async def answer(self, request: bytes, now: datetime) -> bytes | None:
        """The signed authorization response to a server's request; None when the request itself is bad."""
        try:
            decoded = nats_jwt.verify(request.decode("utf-8", "replace"), issuer_prefix=nats_jwt.SERVER_PREFIX)
            ask = nats_jwt.authorization_request(decoded)
        except nats_jwt.JwtError as exc:
            log.warning("nats auth callout: ignoring a malformed request: %s", exc)
            return None
        decision = await self.resolve(ask.token, now)
        epoch = int(now.timestamp())
        if isinstance(decision, Refused):
            self.refused += 1
            log.info("nats producer refused: %s (client %s, %s)", decision.reason, ask.client_host, ask.client_name)
            claims = nats_jwt.authorization_response(
                user_nkey=ask.user_nkey, server_id=ask.server_id, now=epoch, error=decision.reason
            )
        else:
            self.admitted += 1
            log.info("nats producer admitted: tenant %s, token %s", decision.tenant, decision.token_id)
            user = nats_jwt.user_claims(
                user_nkey=ask.user_nkey,
                name=decision.token_id,
                permissions=producer_permissions(decision.tenant),
                now=epoch,
                expires=session_expiry(decision),
                account=subjects.PRODUCERS_ACCOUNT,
                max_subscriptions=MAX_SUBSCRIPTIONS,
                max_payload=self.max_payload,
            )
            claims = nats_jwt.authorization_response(
                user_nkey=ask.user_nkey,
                server_id=ask.server_id,
                now=epoch,
                user_jwt=nats_jwt.encode(user, self._issuer),
            )
        return nats_jwt.encode(claims, self._issuer).encode()

    async def resolve(self, secret: str | None, now: datetime) -> Producer | Refused:
        """The producer a presented secret stands for, or why not."""
        if not secret:
            return Refused("no token: connect with the API token as the NATS token")
        presented = secret.encode("utf-8", "surrogatepass")
        if self._admin_token and hmac.compare_digest(presented, self._admin_token.encode()):
            return Producer(PLATFORM_TENANT, PLATFORM_ADMIN_ID)
        async with self.db.read() as session:
            row = await token_store.find_by_hash(session, hash_secret(secret))
        return admit(row, now)
