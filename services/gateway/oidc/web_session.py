"""The browser session and the sign-in transaction, each sealed in a cookie (Fernet: AES-CBC + HMAC, with a time).

A session cookie holds the session id, tenant, role, name, subject, its CSRF token and its expiry; the browser can
neither read nor change it. The sign-in transaction (state, nonce, PKCE verifier, where to go back to) lives in its
own short-lived cookie between /login and /callback. The key is `CEP_OIDC_SESSION_KEY` (any string; hashed into a
Fernet key) or one generated once in the state dir, so a `cep up` stack keeps its sessions across restarts.
Signing out forgets the session id in this replica until the session would have expired anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from services.gateway.live.stream_tickets import _key_file as key_file
from services.gateway.oidc.oidc_settings import OidcSettings

KEY_FILE = "oidc-session.key"
SESSION_PREFIX = "oidc:"  # a session principal's token_id: `oidc:<session id>` (audit log, stream tickets)
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_COOKIE_BYTES = 4096  # what browsers keep per cookie; a larger one is not ours
SIGNED_OUT_PRUNE = 100_000  # past this many signed-out session ids, the expired ones are forgotten


class SessionError(ValueError):
    """A cookie that opens nothing; the message says why without echoing it."""


@dataclass(frozen=True)
class WebSession:
    """One signed-in browser: who, as which tenant and role, its CSRF token, and when it ends (Unix seconds)."""

    sid: str
    subject: str
    tenant: str
    role: str
    name: str
    csrf: str
    expires: int

    @property
    def token_id(self) -> str:
        """The id this session acts under, as a token's id (audit log, stream tickets)."""
        return SESSION_PREFIX + self.sid


@dataclass(frozen=True)
class SignInTransaction:
    """What /callback checks the provider's answer against, and where the browser goes afterwards."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    next_path: str


def session_key(settings: OidcSettings, state_dir: Path) -> bytes:
    """The Fernet key of sessions: from `CEP_OIDC_SESSION_KEY`, else the state dir's key file."""
    if settings.session_key is not None and settings.session_key.get_secret_value():
        raw = hashlib.sha256(settings.session_key.get_secret_value().encode()).digest()
    else:
        raw = key_file(state_dir / KEY_FILE)
    return base64.urlsafe_b64encode(raw)


def csrf_matches(session: WebSession, presented: str | None) -> bool:
    """Whether a request's CSRF header is this session's token (compared in constant time)."""
    return bool(presented) and hmac.compare_digest(session.csrf.encode(), (presented or "").encode())


class WebSessions:
    """Seals and opens session and sign-in cookies, and remembers sessions signed out in this replica."""

    def __init__(
        self, key: bytes, session_seconds: int, login_seconds: int, prune_after: int = SIGNED_OUT_PRUNE
    ) -> None:
        self._fernet = Fernet(key)
        self._prune_after = prune_after
        self.session_seconds = session_seconds
        self.login_seconds = login_seconds
        self._signed_out: dict[str, int] = {}

    def start(self, subject: str, tenant: str, role: str, name: str, now: datetime) -> tuple[WebSession, str]:
        """A new session and its cookie value."""
        session = WebSession(
            sid=secrets.token_hex(12),
            subject=subject,
            tenant=tenant,
            role=role,
            name=name,
            csrf=secrets.token_urlsafe(32),
            expires=int(now.timestamp()) + self.session_seconds,
        )
        return session, self._seal(asdict(session), now)

    def open(self, cookie: str, now: datetime) -> WebSession:
        """The session of a genuine, unexpired, not signed-out cookie; SessionError otherwise."""
        fields = self._unseal(cookie, now, self.session_seconds)
        try:
            session = WebSession(**fields)
        except TypeError:
            raise SessionError("the session cookie is not genuine") from None
        if session.expires <= now.timestamp():
            raise SessionError("the session has expired: sign in again")
        if session.sid in self._signed_out:
            raise SessionError("this session was signed out: sign in again")
        return session

    def sign_out(self, session: WebSession, now: datetime) -> None:
        """Refuse this session from now on (in this replica; the browser's cookie is cleared too)."""
        if len(self._signed_out) >= self._prune_after:
            self._signed_out = {sid: exp for sid, exp in self._signed_out.items() if exp > now.timestamp()}
        self._signed_out[session.sid] = session.expires

    def is_signed_out(self, sid: str) -> bool:
        """Whether this session id was signed out here."""
        return sid in self._signed_out

    def seal_sign_in(self, transaction: SignInTransaction, now: datetime) -> str:
        """The cookie value of a sign-in under way."""
        return self._seal(asdict(transaction), now)

    def open_sign_in(self, cookie: str, now: datetime) -> SignInTransaction:
        """The sign-in under way in this browser, if genuine and younger than `login_seconds`; SessionError else."""
        fields = self._unseal(cookie, now, self.login_seconds)
        try:
            return SignInTransaction(**fields)
        except TypeError:
            raise SessionError("the sign-in cookie is not genuine") from None

    def _seal(self, fields: dict[str, object], now: datetime) -> str:
        data = json.dumps(fields, separators=(",", ":")).encode()
        # Without the base64 padding: a cookie value with '=' would be sent quoted.
        return self._fernet.encrypt_at_time(data, int(now.timestamp())).decode().rstrip("=")

    def _unseal(self, cookie: str, now: datetime, ttl: int) -> dict[str, Any]:
        if len(cookie) > MAX_COOKIE_BYTES:
            raise SessionError("the cookie is not genuine")
        try:
            padded = cookie + "=" * (-len(cookie) % 4)
            data = self._fernet.decrypt_at_time(padded.encode(), ttl, int(now.timestamp()))
        except InvalidToken:
            raise SessionError("the cookie is not genuine or has expired") from None
        fields = json.loads(data)
        if not isinstance(fields, dict):
            raise SessionError("the cookie is not genuine")
        return fields
