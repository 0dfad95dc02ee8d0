"""Short-lived SSE stream tickets, so an EventSource URL never carries the long-lived API token.

A ticket is `cst1.<claims>.<signature>`: base64url JSON claims (tenant, role, token id, expiry, a nonce) and their
HMAC-SHA256 under a server key. Nothing is stored to issue one, so any gateway replica holding the same key
verifies it. The key is `CEP_STREAM_TICKET_KEY` when set; else derived from `CEP_ADMIN_TOKEN`, which every
replica of a deployment already shares; else (no admin token) a random key generated once in the state dir.
A ticket opens one stream: each replica remembers the nonces it redeemed until they expire, so a copied URL
cannot open a second stream there (another replica would accept it until its expiry, a minute by default).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.gateway.settings import GatewaySettings

PREFIX = "cst1"
KEY_FILE = "stream-ticket.key"
_DERIVATION = b"cep stream tickets v1"
_USED_LIMIT = 100_000  # redeemed nonces remembered at most (they are dropped at their expiry anyway)


class TicketError(ValueError):
    """A ticket that opens nothing; the message says why, without echoing the ticket."""


@dataclass(frozen=True)
class Claims:
    """What a ticket binds: the tenant and role of the token that asked for it, until `exp` (Unix seconds)."""

    tenant: str
    role: str
    token_id: str
    exp: int
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, claims: Claims) -> str:
    """The ticket of these claims under `key`."""
    body = {"tenant": claims.tenant, "role": claims.role, "token_id": claims.token_id, "exp": claims.exp}
    encoded = _b64(json.dumps({**body, "nonce": claims.nonce}, separators=(",", ":")).encode())
    return f"{PREFIX}.{encoded}.{_b64(_mac(key, encoded))}"


def verify(key: bytes, ticket: str, now: datetime) -> Claims:
    """The claims of a genuine, unexpired ticket; TicketError otherwise."""
    parts = ticket.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TicketError("not a stream ticket")
    _, encoded, signature = parts
    try:
        genuine = hmac.compare_digest(_unb64(signature), _mac(key, encoded))
        fields = json.loads(_unb64(encoded)) if genuine else None
        claims = Claims(**fields) if isinstance(fields, dict) else None
    except (binascii.Error, ValueError, TypeError):
        claims = None
    if claims is None or not all(isinstance(v, str) for v in (claims.tenant, claims.role, claims.token_id)):
        raise TicketError("the stream ticket is not genuine")
    if not isinstance(claims.exp, int) or claims.exp <= now.timestamp():
        raise TicketError("the stream ticket has expired: ask for a new one (POST /cep/events/stream/ticket)")
    return claims


def _mac(key: bytes, encoded: str) -> bytes:
    return hmac.new(key, f"{PREFIX}.{encoded}".encode(), hashlib.sha256).digest()


def ticket_key(settings: GatewaySettings) -> bytes:
    """The signing key every replica shares (see the module docstring for where it comes from)."""
    if settings.stream_ticket_key is not None and settings.stream_ticket_key.get_secret_value():
        return hashlib.sha256(settings.stream_ticket_key.get_secret_value().encode()).digest()
    if settings.admin_token:
        return hmac.new(settings.admin_token.encode(), _DERIVATION, hashlib.sha256).digest()
    return _key_file(Path(settings.state_dir) / KEY_FILE)


def _key_file(path: Path) -> bytes:
    """The key in `path`, created (owner-only) by the first process that needs it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(draft, path)  # atomic, and never replaces a key another replica made meanwhile
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return bytes.fromhex(path.read_text().strip())


class StreamTickets:
    """Issues tickets and redeems each once in this replica."""

    def __init__(self, key: bytes, ttl_seconds: float) -> None:
        self._key = key
        self.ttl = timedelta(seconds=ttl_seconds)
        self._used: dict[str, int] = {}

    def issue(self, tenant: str, role: str, token_id: str, now: datetime) -> tuple[str, datetime]:
        """A fresh ticket for this caller, and when it expires."""
        expires = (now + self.ttl).replace(microsecond=0)
        claims = Claims(tenant, role, token_id, int(expires.timestamp()), secrets.token_urlsafe(12))
        return sign(self._key, claims), expires.astimezone(UTC)

    def redeem(self, ticket: str, now: datetime) -> Claims:
        """The claims of a genuine, unexpired ticket not redeemed here before; TicketError otherwise."""
        claims = verify(self._key, ticket, now)
        if claims.nonce in self._used:
            raise TicketError("the stream ticket was already used: ask for a new one for each connection")
        if len(self._used) >= _USED_LIMIT:
            self._forget_expired(now)
        self._used[claims.nonce] = claims.exp
        return claims

    def _forget_expired(self, now: datetime) -> None:
        self._used = {nonce: exp for nonce, exp in self._used.items() if exp > now.timestamp()}
