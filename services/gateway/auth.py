"""Bearer-token authentication and roles: the tenant of every request comes from its token (or its browser
session, signed in through OIDC), nothing else."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeAlias

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.live.stream_tickets import TicketError
from services.gateway.oidc.sign_in import CSRF_HEADER, CsrfError, SessionError, check_csrf
from services.gateway.oidc.web_session import SESSION_PREFIX
from services.gateway.rest.problems import Problem
from services.gateway.state import state_of
from services.gateway.store import tokens as token_store
from services.gateway.store.audit import Actor

Role: TypeAlias = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "admin")
PLATFORM_TENANT = "default"
PLATFORM_ADMIN_ID = "platform-admin"

_bearer = HTTPBearer(auto_error=False, description="a token minted by POST /cep/auth/tokens, or CEP_ADMIN_TOKEN")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Principal:
    """The caller: its tenant and role, the token that proved it, and whether it is the platform admin."""

    tenant: str
    role: Role
    token_id: str
    name: str
    platform_admin: bool = False
    expires_at: datetime | None = None

    def has(self, role: Role) -> bool:
        """Whether this caller's role includes `role` (viewer < editor < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def actor(self) -> Actor:
        """This caller as recorded in the audit log and rule versions."""
        return Actor(token_id=self.token_id, name=self.name)


def new_secret() -> str:
    """A fresh token secret (256 random bits)."""
    return "cep_" + secrets.token_urlsafe(32)


def new_token_id() -> str:
    """A fresh public token id."""
    return "tok_" + secrets.token_hex(8)


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest under which a secret is stored."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def unauthorized(detail: str) -> Problem:
    """A 401 with the Bearer challenge."""
    return Problem(401, detail, kind="unauthorized", headers=_CHALLENGE)


def forbidden(detail: str) -> Problem:
    """A 403: authenticated, but not allowed."""
    return Problem(403, detail, kind="forbidden")


async def authenticate(request: Request, secret: str, now: datetime) -> Principal:
    """Resolve a presented secret to a Principal, or raise 401 (never saying which part was wrong)."""
    admin = state_of(request).settings.admin_token
    if admin and hmac.compare_digest(secret.encode("utf-8", "surrogatepass"), admin.encode()):
        return Principal(PLATFORM_TENANT, "admin", PLATFORM_ADMIN_ID, PLATFORM_ADMIN_ID, platform_admin=True)
    async with state_of(request).db.read() as session:
        row = await token_store.find_by_hash(session, hash_secret(secret))
    if row is None or row.revoked_at is not None:
        raise unauthorized("invalid or revoked token")
    if row.expires_at is not None and row.expires_at <= now:
        raise unauthorized("the token has expired")
    role: Role = row.role  # type: ignore[assignment]  # the column only ever holds a ROLES value
    return Principal(row.tenant, role, row.token_id, row.name, expires_at=row.expires_at)


async def redeem_ticket(request: Request, ticket: str, now: datetime) -> Principal:
    """The caller a stream ticket stands for, or 401: the ticket must be genuine, unexpired and unused, and the
    token that asked for it still valid (a revoked token's tickets stop at once)."""
    try:
        claims = state_of(request).stream_tickets.redeem(ticket, now)
    except TicketError as exc:
        raise unauthorized(str(exc)) from None
    if claims.token_id == PLATFORM_ADMIN_ID:
        return Principal(PLATFORM_TENANT, "admin", PLATFORM_ADMIN_ID, PLATFORM_ADMIN_ID, platform_admin=True)
    if claims.token_id.startswith(SESSION_PREFIX):  # asked for with a browser session (OIDC sign-in)
        oidc = state_of(request).oidc
        sid = claims.token_id.removeprefix(SESSION_PREFIX)
        if oidc is None or oidc.sessions.is_signed_out(sid) or claims.role not in ROLES:
            raise unauthorized("the session behind this stream ticket is no longer valid")
        session_role: Role = claims.role  # type: ignore[assignment]  # checked against ROLES just above
        return Principal(claims.tenant, session_role, claims.token_id, claims.token_id)
    async with state_of(request).db.read() as session:
        row = await token_store.get_token(session, claims.token_id)
    valid = row is not None and row.revoked_at is None and (row.expires_at is None or row.expires_at > now)
    if row is None or not valid or (row.tenant, row.role) != (claims.tenant, claims.role):
        raise unauthorized("the token behind this stream ticket is no longer valid")
    role: Role = row.role  # type: ignore[assignment]  # the column only ever holds a ROLES value
    return Principal(row.tenant, role, row.token_id, row.name, expires_at=row.expires_at)


def session_principal(request: Request, now: datetime) -> Principal | None:
    """The caller of a browser session cookie (OIDC sign-in), or None without one; 401 for a bad or expired
    cookie, 403 for a state-changing request without the session's CSRF header."""
    oidc = state_of(request).oidc
    if oidc is None:
        return None
    try:
        session = oidc.session_of(request, now)
        if session is None:
            return None
        check_csrf(session, request.method, request.headers.get(CSRF_HEADER))
    except SessionError as exc:
        raise unauthorized(str(exc)) from None
    except CsrfError as exc:
        raise forbidden(str(exc)) from None
    role: Role = session.role  # type: ignore[assignment]  # sealed by this gateway from a ROLES value
    expires_at = datetime.fromtimestamp(session.expires, UTC)
    return Principal(session.tenant, role, session.token_id, session.name, expires_at=expires_at)


def require(
    role: Role, *, allow_query_token: bool = False, allow_ticket: bool = False
) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the request and demands at least `role`.

    `allow_query_token` also accepts `?access_token=` (EventSource cannot send headers), and `allow_ticket` a
    short-lived `?ticket=` (services/gateway/live/stream_tickets.py); only routes that opt in accept them, so tokens
    do not end up in ordinary access logs and browser histories. The header wins when several are sent. Without any
    of them, a browser session cookie (OIDC sign-in, services/gateway/oidc/) is accepted, with CSRF checks on writes.
    """

    async def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        secret = credentials.credentials if credentials is not None else None
        ticket = request.query_params.get("ticket") if allow_ticket and secret is None else None
        if ticket:
            principal = await redeem_ticket(request, ticket, datetime.now(UTC))
            if not principal.has(role):
                raise forbidden(f"this action needs the {role} role; the ticket has {principal.role}")
            return principal
        if secret is None and allow_query_token:
            secret = request.query_params.get("access_token")
        if not secret and (session := session_principal(request, datetime.now(UTC))) is not None:
            if not session.has(role):
                raise forbidden(f"this action needs the {role} role; your session has {session.role}")
            return session
        if not secret:
            raise unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
        principal = await authenticate(request, secret, datetime.now(UTC))
        if not principal.has(role):
            raise forbidden(f"this action needs the {role} role; the token has {principal.role}")
        return principal

    return dependency


async def platform_admin(principal: Principal = Depends(require("admin"))) -> Principal:
    """A dependency admitting only the platform admin (CEP_ADMIN_TOKEN)."""
    if not principal.platform_admin:
        raise forbidden("only the platform admin may do this")
    return principal


viewer = require("viewer")
editor = require("editor")
admin = require("admin")
