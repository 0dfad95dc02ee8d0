"""Routes of OIDC sign-in: /cep/auth/oidc/login and /callback (pages for the browser), /cep/auth/session (who is
signed in, and the CSRF token for writes) and /cep/auth/logout.

Every way a sign-in can fail ends on a page that says why and offers to try again, never a 500.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.gateway.auth import forbidden, unauthorized
from services.gateway.oidc.claim_mapping import Refusal, map_claims
from services.gateway.oidc.provider import ProviderError
from services.gateway.oidc.sign_in import CSRF_HEADER, CsrfError, OidcSignIn, SessionError, check_csrf
from services.gateway.rest.problems import Problem
from services.gateway.state import state_of
from services.gateway.store.tokens import ensure_tenant

DEFAULT_NEXT = "/cep-builder"
MAX_NEXT = 2048  # a longer `next` is not a page of ours: the sign-in goes to DEFAULT_NEXT instead
MAX_SHOWN = 300  # the provider's error text shown on the page, at most
_pages = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
_NO_STORE = {"Cache-Control": "no-store"}
_HTML: dict[str, Any] = {"content": {"text/html": {}}}

router = APIRouter(tags=["auth"])


def _oidc(request: Request) -> OidcSignIn:
    oidc = state_of(request).oidc
    if oidc is None:
        raise Problem(404, "sign-in through an OpenID provider is not configured (CEP_OIDC_ISSUER)", kind="not-found")
    return oidc


def safe_next(value: str | None) -> str:
    """A path on this site to return to after signing in; anything else (another site, `//host`) -> the Rules page."""
    if not value or len(value) > MAX_NEXT or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return DEFAULT_NEXT
    if any(ord(char) < 0x20 for char in value):
        return DEFAULT_NEXT
    return value


def sign_in_problem(status: int, title: str, detail: str, oidc: OidcSignIn | None = None) -> HTMLResponse:
    """A page saying why the sign-in failed, with a link to try again; the sign-in cookie is dropped."""
    html = _pages.get_template("sign_in_problem.html").render(title=title, detail=detail[:MAX_SHOWN], status=status)
    response = HTMLResponse(html, status_code=status, headers=_NO_STORE)
    if oidc is not None:
        oidc.clear_cookie(response, oidc.sign_in_cookie)
    return response


@router.get(
    "/cep/auth/oidc/login",
    response_class=RedirectResponse,
    status_code=303,
    responses={303: {"description": "to the OpenID provider's sign-in"}, 502: {"description": "page", **_HTML}},
)
async def oidc_login(request: Request, next: str | None = None) -> Response:
    """Start signing in: to the provider with an authorization code request (PKCE S256, state, nonce)."""
    oidc = _oidc(request)
    try:
        url, transaction = await oidc.provider.authorization_url(oidc.redirect_uri(request), safe_next(next))
    except ProviderError as exc:
        return sign_in_problem(502, "The sign-in service cannot be reached", str(exc), oidc)
    response = RedirectResponse(url, status_code=303, headers=_NO_STORE)
    sealed = oidc.sessions.seal_sign_in(transaction, datetime.now(UTC))
    oidc.set_cookie(response, oidc.sign_in_cookie, sealed, oidc.settings.login_seconds)
    return response


@router.get(
    "/cep/auth/oidc/callback",
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: {"description": "signed in: back to the page the sign-in started from"},
        400: {"description": "a page: the answer does not belong to a sign-in under way here", **_HTML},
        403: {"description": "a page: the provider refused, or the account maps to no tenant or role", **_HTML},
        502: {"description": "a page: the provider cannot be reached", **_HTML},
    },
)
async def oidc_callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> Response:
    """Finish signing in: check the answer against the sign-in under way, verify the id token, map its claims to a
    tenant and role, and start the session."""
    oidc = _oidc(request)
    now = datetime.now(UTC)
    if error:
        said = f"{error}: {error_description}" if error_description else error
        return sign_in_problem(403, "The sign-in service did not sign you in", said, oidc)
    cookie = request.cookies.get(oidc.sign_in_cookie)
    if not cookie:
        detail = "no sign-in is under way in this browser (it may have started in another one, or timed out)"
        return sign_in_problem(400, "This sign-in cannot be finished", detail, oidc)
    try:
        transaction = oidc.sessions.open_sign_in(cookie, now)
    except SessionError:
        minutes = oidc.settings.login_seconds // 60
        detail = f"the sign-in took longer than {minutes} minutes, or its cookie was altered"
        return sign_in_problem(400, "This sign-in cannot be finished", detail, oidc)
    if not state or not hmac.compare_digest(state.encode(), transaction.state.encode()):
        detail = "the answer does not belong to the sign-in started in this browser (state mismatch)"
        return sign_in_problem(400, "This sign-in cannot be finished", detail, oidc)
    if not code:
        return sign_in_problem(400, "This sign-in cannot be finished", "the answer carries no authorization code", oidc)
    try:
        claims = await oidc.provider.redeem(code, transaction, int(now.timestamp()))
    except ProviderError as exc:
        return sign_in_problem(exc.status, "The sign-in could not be verified", str(exc), oidc)
    identity = map_claims(claims, oidc.settings.mapping)
    if isinstance(identity, Refusal):
        return sign_in_problem(403, "This account cannot use CEP", identity.reason, oidc)
    async with state_of(request).db.write() as session:
        await ensure_tenant(session, identity.tenant, now)  # a tenant starts with its first sign-in or token
    _, sealed = oidc.sessions.start(identity.subject, identity.tenant, identity.role, identity.name, now)
    response = RedirectResponse(transaction.next_path, status_code=303, headers=_NO_STORE)
    oidc.clear_cookie(response, oidc.sign_in_cookie)
    oidc.set_cookie(response, oidc.session_cookie, sealed, oidc.settings.session_seconds)
    return response


_SESSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tenant": {"type": "string"},
        "role": {"type": "string", "enum": ["viewer", "editor", "admin"]},
        "name": {"type": "string"},
        "subject": {"type": "string"},
        "token_id": {"type": "string"},
        "csrf_token": {"type": "string", "description": f"send it as {CSRF_HEADER} on every change"},
        "expires_at": {"type": "string", "format": "date-time"},
    },
}


@router.get(
    "/cep/auth/session",
    responses={200: {"description": "the session", "content": {"application/json": {"schema": _SESSION_SCHEMA}}}},
)
async def current_session(request: Request) -> Response:
    """Who is signed in in this browser (tenant, role, name) and the CSRF token its changes carry; 401 when nobody
    (always, where no OpenID provider is configured)."""
    oidc = state_of(request).oidc
    if oidc is None:
        raise unauthorized("not signed in: no OpenID provider is configured here (CEP_OIDC_ISSUER); use a bearer token")
    try:
        session = oidc.session_of(request, datetime.now(UTC))
    except SessionError as exc:
        raise unauthorized(str(exc)) from None
    if session is None:
        raise unauthorized("not signed in: sign in at /cep/auth/oidc/login")
    body = {
        "tenant": session.tenant,
        "role": session.role,
        "name": session.name,
        "subject": session.subject,
        "token_id": session.token_id,
        "csrf_token": session.csrf,
        "expires_at": datetime.fromtimestamp(session.expires, UTC).isoformat().replace("+00:00", "Z"),
    }
    return JSONResponse(body, headers=_NO_STORE)


@router.post("/cep/auth/logout", status_code=204, responses={204: {"description": "signed out (or never signed in)"}})
async def logout(request: Request) -> Response:
    """Sign out: the session stops being accepted and its cookie is cleared. Needs the CSRF header while the session
    is valid; answers 204 when there is no session."""
    oidc = state_of(request).oidc
    response = Response(status_code=204)
    if oidc is None:
        return response
    now = datetime.now(UTC)
    try:
        session = oidc.session_of(request, now)
    except SessionError:
        session = None
    if session is not None:
        try:
            check_csrf(session, request.method, request.headers.get(CSRF_HEADER))
        except CsrfError as exc:
            raise forbidden(str(exc)) from None
        oidc.sessions.sign_out(session, now)
    oidc.clear_cookie(response, oidc.session_cookie)
    return response


def shell_context(request: Request) -> dict[str, Any]:
    """What the UI's layout shows about sign-in: nothing without a provider, else the session (or None) and its
    CSRF token, so the page's scripts can make changes."""
    oidc = state_of(request).oidc
    if oidc is None:
        return {}
    try:
        session = oidc.session_of(request, datetime.now(UTC))
    except SessionError:
        session = None
    return {"sign_in": True, "session": session}
