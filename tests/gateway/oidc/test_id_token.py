"""The id token checks, on real id tokens of the real provider: signature (JWKS), issuer, audience, expiry, nonce."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from services.gateway.oidc.provider import Provider, ProviderError
from services.gateway.state import started
from tests.gateway.oidc.conftest import oidc_settings, through_provider
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider


def _real_id_token(gateway: TestClient, provider: OidcProvider) -> tuple[str, str]:
    """An id token the provider issued for a sign-in started at the gateway, and that sign-in's nonce."""
    code = parse_qs(urlsplit(through_provider(gateway, "erin")).query)["code"][0]
    state = started(gateway.app)  # type: ignore[arg-type]
    assert state is not None and state.oidc is not None
    transaction = state.oidc.sessions.open_sign_in(gateway.cookies["cep_sign_in"], datetime.now(UTC))
    token_endpoint = httpx.get(f"{provider.issuer}/.well-known/openid-configuration").json()["token_endpoint"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": transaction.redirect_uri}
    answer = httpx.post(
        token_endpoint, data={**form, "code_verifier": transaction.code_verifier}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["id_token"], transaction.nonce


def test_id_tokens_are_checked(gateway: TestClient, provider: OidcProvider) -> None:
    id_token, nonce = _real_id_token(gateway, provider)
    checker = Provider(oidc_settings(provider.issuer))
    now = int(time.time())
    claims = asyncio.run(checker.verify_id_token(id_token, nonce, now))
    assert (claims["sub"], claims["aud"], claims["iss"]) == ("erin", CLIENT_ID, provider.issuer)
    header, payload, signature = id_token.split(".")
    refusals = [
        (checker, id_token, "another-nonce", now, "nonce"),
        (checker, id_token, nonce, now + 24 * 3600, "exp"),
        (Provider(oidc_settings(provider.issuer, client_id="another-client")), id_token, nonce, now, "aud"),
        (checker, f"{header}.{payload}.{signature[::-1]}", nonce, now, "refused"),  # a broken signature
        (checker, f"{header}.{payload}.", nonce, now, "refused"),  # no signature at all
        (checker, "not-a-jwt", nonce, now, "refused"),
    ]
    for who, token, expected_nonce, at, why in refusals:
        with pytest.raises(ProviderError, match=why) as refused:
            asyncio.run(who.verify_id_token(token, expected_nonce, at))
        assert refused.value.status == 400
