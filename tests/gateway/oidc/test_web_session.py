"""The sealed session and sign-in cookies: genuine, unreadable, expiring on time, refused once signed out; the CSRF
check; the settings that configure them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError
from starlette.responses import Response

from services.gateway.oidc.oidc_settings import OidcSettings
from services.gateway.oidc.sign_in import CsrfError, OidcSignIn, check_csrf
from services.gateway.oidc.web_session import (
    KEY_FILE,
    MAX_COOKIE_BYTES,
    SessionError,
    SignInTransaction,
    WebSessions,
    session_key,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = 3600


def sessions(key: bytes | None = None) -> WebSessions:
    return WebSessions(key or Fernet.generate_key(), session_seconds=HOUR, login_seconds=600)


def test_a_session_opens_until_it_expires() -> None:
    box = sessions()
    session, cookie = box.start("sub-1", "acme", "editor", "Erin", T0)
    assert box.open(cookie, T0 + timedelta(seconds=HOUR - 1)) == session
    assert session.token_id == f"oidc:{session.sid}" and len(session.token_id) <= 64  # the audit column
    assert "acme" not in cookie and "Erin" not in cookie  # encrypted, not only signed
    with pytest.raises(SessionError, match="expired"):
        box.open(cookie, T0 + timedelta(seconds=HOUR + 1))


def test_a_forged_altered_or_foreign_cookie_opens_nothing() -> None:
    box = sessions()
    _, cookie = box.start("sub-1", "acme", "viewer", "Vic", T0)
    altered = cookie[:40] + ("A" if cookie[40] != "A" else "B") + cookie[41:]
    _, foreign = sessions().start("sub-1", "acme", "admin", "Vic", T0)  # another key
    for bad in (altered, foreign, "garbage", "ü", "", "x" * (MAX_COOKIE_BYTES + 1)):
        with pytest.raises(SessionError):
            box.open(bad, T0)


def test_a_signed_out_session_is_refused_and_others_are_not() -> None:
    box = sessions()
    first, first_cookie = box.start("sub-1", "acme", "editor", "Erin", T0)
    _, second_cookie = box.start("sub-1", "acme", "editor", "Erin", T0)
    box.sign_out(first, T0)
    with pytest.raises(SessionError, match="signed out"):
        box.open(first_cookie, T0)
    assert box.open(second_cookie, T0).sid != first.sid


def test_signed_out_sessions_are_forgotten_once_expired_past_the_prune_size() -> None:
    box = WebSessions(Fernet.generate_key(), session_seconds=HOUR, login_seconds=600, prune_after=2)
    old, old_cookie = box.start("sub-1", "acme", "editor", "Erin", T0)
    young = [box.start("sub-1", "acme", "editor", "Erin", T0 + timedelta(seconds=HOUR)) for _ in range(2)]
    box.sign_out(old, T0)
    box.sign_out(young[0][0], T0 + timedelta(seconds=HOUR))
    assert box.is_signed_out(old.sid)  # not past the size yet
    box.sign_out(young[1][0], T0 + timedelta(seconds=HOUR + 1))  # past it: the expired one is forgotten
    assert not box.is_signed_out(old.sid) and all(box.is_signed_out(session.sid) for session, _ in young)
    with pytest.raises(SessionError, match="expired"):  # forgotten, yet still refused: it has expired
        box.open(old_cookie, T0 + timedelta(seconds=HOUR + 1))


def test_cookies_are_secure_host_only_by_default(tmp_path: Path) -> None:
    secure = OidcSignIn.from_settings(OidcSettings(issuer="https://id.example", client_id="cep"), tmp_path)
    response = Response()
    secure.set_cookie(response, secure.session_cookie, "v", 60)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-cep_session=v;")
    assert {"HttpOnly", "Path=/", "SameSite=lax", "Secure", "Max-Age=60"} <= {p.strip() for p in cookie.split(";")}
    assert "Domain" not in cookie
    plain = OidcSignIn.from_settings(
        OidcSettings(issuer="https://id.example", client_id="cep", cookie_secure=False), tmp_path
    )
    assert (plain.session_cookie, plain.sign_in_cookie) == ("cep_session", "cep_sign_in")


def test_a_sign_in_transaction_lives_login_seconds() -> None:
    box = sessions()
    transaction = SignInTransaction("state", "nonce", "verifier", "http://gw/cep/auth/oidc/callback", "/cep-events")
    cookie = box.seal_sign_in(transaction, T0)
    assert box.open_sign_in(cookie, T0 + timedelta(seconds=599)) == transaction
    with pytest.raises(SessionError):
        box.open_sign_in(cookie, T0 + timedelta(seconds=601))
    _, session_cookie = box.start("sub-1", "acme", "editor", "Erin", T0)
    with pytest.raises(SessionError):  # one kind of cookie is never taken for the other
        box.open_sign_in(session_cookie, T0)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_changes_need_the_sessions_csrf_token(method: str) -> None:
    session, _ = sessions().start("sub-1", "acme", "editor", "Erin", T0)
    for presented in (None, "", "wrong", session.csrf + "x"):
        with pytest.raises(CsrfError, match="X-CSRF-Token"):
            check_csrf(session, method, presented)
    check_csrf(session, method, session.csrf)
    check_csrf(session, "GET", None)  # reads need none


def test_the_session_key_comes_from_the_setting_or_one_file_in_the_state_dir(tmp_path: Path) -> None:
    configured = OidcSettings(session_key="a passphrase")
    assert session_key(configured, tmp_path) == session_key(configured, tmp_path / "elsewhere")
    generated = session_key(OidcSettings(), tmp_path)
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert session_key(OidcSettings(), tmp_path) == generated != session_key(configured, tmp_path)
    Fernet(generated)  # a usable key


def test_settings_are_checked_at_start_without_echoing_values() -> None:
    on = {"issuer": "https://id.example", "client_id": "cep"}
    assert not OidcSettings().enabled and OidcSettings(**on).enabled
    assert OidcSettings(**on).cookie_secure  # Secure unless turned off
    cases = [
        ({"issuer": "https://id.example"}, "CEP_OIDC_CLIENT_ID is required"),
        ({**on, "role_map": "devs:superuser"}, "CEP_OIDC_ROLE_MAP"),
        ({**on, "tenant": "Not A Tenant"}, "CEP_OIDC_TENANT"),
        ({**on, "scopes": "profile email"}, "openid"),
        ({**on, "session_seconds": 10}, "session_seconds"),
        ({**on, "default_role": "owner"}, "default_role"),
    ]
    for values, message in cases:
        with pytest.raises(ValidationError, match=message):
            OidcSettings(**values)
    with pytest.raises(ValidationError) as caught:
        OidcSettings(issuer="https://id.example", client_secret="s3cr3t-value", session_seconds=1)
    assert "s3cr3t-value" not in str(caught.value)
