"""OIDC sign-in as one part of the gateway: the provider, the sealed cookies, and reading a request's session.

Cookies are HttpOnly and SameSite=Lax, and Secure with the `__Host-` name prefix (so no subdomain can set them)
unless `CEP_OIDC_COOKIE_SECURE=false` (plain-http development and tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from starlette.requests import HTTPConnection
from starlette.responses import Response

from services.gateway.oidc.oidc_settings import OidcSettings
from services.gateway.oidc.provider import Provider
from services.gateway.oidc.web_session import (
    CSRF_HEADER,
    SAFE_METHODS,
    SessionError,
    WebSession,
    WebSessions,
    csrf_matches,
    session_key,
)

CALLBACK_PATH = "/cep/auth/oidc/callback"


class CsrfError(ValueError):
    """A state-changing request made with the session cookie but without the session's CSRF token."""


@dataclass
class OidcSignIn:
    """What the sign-in routes and the auth dependency share."""

    settings: OidcSettings
    provider: Provider
    sessions: WebSessions

    @classmethod
    def from_settings(cls, settings: OidcSettings, state_dir: Path) -> OidcSignIn:
        """The sign-in these settings describe (its session key read or generated now)."""
        sessions = WebSessions(session_key(settings, state_dir), settings.session_seconds, settings.login_seconds)
        return cls(settings=settings, provider=Provider(settings), sessions=sessions)

    def _name(self, base: str) -> str:
        return f"__Host-{base}" if self.settings.cookie_secure else base

    @property
    def session_cookie(self) -> str:
        """The session cookie's name."""
        return self._name("cep_session")

    @property
    def sign_in_cookie(self) -> str:
        """The name of the cookie that carries a sign-in under way from /login to /callback."""
        return self._name("cep_sign_in")

    def set_cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        """Set one of our cookies with the attributes every one of them has."""
        response.set_cookie(
            name, value, max_age=max_age, path="/", secure=self.settings.cookie_secure, httponly=True, samesite="lax"
        )

    def clear_cookie(self, response: Response, name: str) -> None:
        """Tell the browser to drop one of our cookies."""
        response.delete_cookie(name, path="/", secure=self.settings.cookie_secure, httponly=True, samesite="lax")

    def session_of(self, request: HTTPConnection, now: datetime) -> WebSession | None:
        """The request's session: None without the cookie, SessionError for a bad, expired or signed-out one."""
        cookie = request.cookies.get(self.session_cookie)
        if not cookie:
            return None
        return self.sessions.open(cookie, now)

    def redirect_uri(self, request: HTTPConnection) -> str:
        """Where the provider sends the browser back: `CEP_OIDC_REDIRECT_URL`, else this gateway's callback."""
        if self.settings.redirect_url:
            return self.settings.redirect_url
        return str(request.base_url).rstrip("/") + CALLBACK_PATH


def check_csrf(session: WebSession, method: str, presented: str | None) -> None:
    """Raise CsrfError when a state-changing method does not carry the session's CSRF token."""
    if method.upper() not in SAFE_METHODS and not csrf_matches(session, presented):
        raise CsrfError(
            f"a change made with the session cookie needs the {CSRF_HEADER} header of the session "
            "(GET /cep/auth/session gives it); API clients send a bearer token instead"
        )


__all__ = ["CSRF_HEADER", "CsrfError", "OidcSignIn", "SessionError", "check_csrf"]
