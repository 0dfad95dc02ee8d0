"""The sealed session and sign-in cookies: genuine, unreadable, expiring on time, refused once signed out; the CSRF
check; the settings that configure them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from services.gateway.oidc.oidc_settings import OidcSettings
from services.gateway.oidc.sign_in import CsrfError, check_csrf
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
