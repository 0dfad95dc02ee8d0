"""A real OpenID provider (oidc-provider under node) and a gateway that signs in through it (TestClient)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.gateway.oidc.oidc_settings import OidcSettings
from tests.gateway.conftest import settings_for
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider, start_provider

CALLBACK = "http://testserver/cep/auth/oidc/callback"
ACCOUNTS = {
    "erin": {"cep_tenant": "acme", "groups": ["staff", "cep-editors"], "name": "Erin Editor"},
    "victor": {"cep_tenant": "acme", "groups": ["cep-viewers"], "name": "Victor Viewer"},
    "gina": {"cep_tenant": "globex", "groups": ["cep-editors"], "name": "Gina"},
    "nomad": {"groups": ["cep-editors"], "name": "No Tenant"},
}


def oidc_settings(issuer: str, **overrides: object) -> OidcSettings:
    """The sign-in settings the tests use: the test client, groups mapped to roles, cookies over plain http."""
    values: dict[str, object] = {
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": "openid profile groups tenant",
        "role_map": "cep-admins:admin,cep-editors:editor,cep-viewers:viewer",
        "cookie_secure": False,
        **overrides,
    }
    return OidcSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="package")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    running = start_provider(tmp_path_factory.mktemp("oidc"), [CALLBACK], ACCOUNTS)
    yield running
    running.stop()


@pytest.fixture(scope="package")
def oidc_client(tmp_path_factory: pytest.TempPathFactory, provider: OidcProvider) -> Iterator[TestClient]:
    """A gateway that signs users in through `provider` (its cookies are cleared before each test)."""
    settings = settings_for(Path(tmp_path_factory.mktemp("oidc-gateway")), oidc=oidc_settings(provider.issuer))
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def gateway(oidc_client: TestClient) -> TestClient:
    oidc_client.cookies.clear()
    return oidc_client


def _form_action(html: str) -> str:
    found = re.search(r'<form[^>]*action="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def through_provider(gateway: TestClient, login: str, next_path: str = "/cep-events") -> str:
    """Start a sign-in at the gateway and play the browser at the provider: its login form (any password), then its
    consent form. Returns the callback URL the provider sends the browser back to."""
    start = gateway.get("/cep/auth/oidc/login", params={"next": next_path}, follow_redirects=False)
    assert start.status_code == 303, start.text
    with httpx.Client(timeout=10) as browser:
        answer = browser.get(start.headers["location"])
        for prompt in ("login", "consent"):
            while answer.status_code in (302, 303):
                answer = browser.get(urljoin(str(answer.url), answer.headers["location"]))
            fields = {"prompt": prompt, "login": login, "password": "any"} if prompt == "login" else {"prompt": prompt}
            answer = browser.post(urljoin(str(answer.url), _form_action(answer.text)), data=fields)
        while answer.headers.get("location", "").startswith("/") or (
            answer.status_code in (302, 303) and not answer.headers["location"].startswith("http://testserver")
        ):
            answer = browser.get(urljoin(str(answer.url), answer.headers["location"]))
        assert answer.status_code in (302, 303), answer.text[:500]
        return answer.headers["location"]


def sign_in(gateway: TestClient, login: str, next_path: str = "/cep-events") -> httpx.Response:
    """The whole sign-in; returns the gateway's answer to the callback."""
    callback = urlsplit(through_provider(gateway, login, next_path))
    return gateway.get(f"{callback.path}?{callback.query}", follow_redirects=False)


def csrf(gateway: TestClient) -> dict[str, str]:
    """The CSRF header of the signed-in session."""
    session = gateway.get("/cep/auth/session")
    assert session.status_code == 200, session.text
    return {"X-CSRF-Token": session.json()["csrf_token"]}
