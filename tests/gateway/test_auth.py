"""Tokens and roles: minting, hashing at rest, revocation, expiry, tenant rules, and the role matrix."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import datetime
from pathlib import Path

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from services.gateway.app import create_app
from services.gateway.auth import Principal, require
from tests.gateway.conftest import ADMIN, ADMIN_SECRET, CPU_RULE, create_rule, is_problem, mint, settings_for


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {ADMIN_SECRET}x"},
        {"Authorization": "Bearer cep_" + "A" * 43},
        {"Authorization": "Bearer \u00e9\u00e9".encode()},
        {"Authorization": ADMIN_SECRET},
    ],
)
def test_missing_or_invalid_tokens_are_401_with_a_challenge(client: TestClient, headers: dict[str, object]) -> None:
    for method, url in (("GET", "/cep/rules"), ("POST", "/cep/rules"), ("GET", "/cep/auth/whoami")):
        response = client.request(method, url, headers=headers, json=CPU_RULE)
        body = is_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        assert body["detail"] in {  # fixed texts: never an echo of what was presented
            "missing bearer token: send 'Authorization: Bearer <token>'",
            "invalid or revoked token",
        }


def test_platform_admin_whoami(client: TestClient) -> None:
    me = client.get("/cep/auth/whoami", headers=ADMIN).json()
    assert me == {
        "tenant": "default",
        "role": "admin",
        "token_id": "platform-admin",
        "name": "platform-admin",
        "platform_admin": True,
        "expires_at": None,
    }


def test_minted_tokens_are_random_and_stored_only_as_a_hash(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path))) as client:
        first = client.post("/cep/auth/tokens", headers=ADMIN, json={"tenant": "acme", "role": "viewer", "name": "a"})
        second = client.post("/cep/auth/tokens", headers=ADMIN, json={"tenant": "acme", "role": "viewer", "name": "a"})
    assert first.status_code == second.status_code == 201
    one, two = first.json(), second.json()
    assert set(one) == {"token", "token_id", "tenant", "role", "name", "created_at", "expires_at"}
    assert one["token"] != two["token"] and one["token_id"] != two["token_id"]
    assert len(one["token"]) >= 40
    engine = create_engine(f"sqlite:///{tmp_path / 'cep.db'}")
    with engine.connect() as connection:
        dump = "\n".join(str(row) for row in connection.execute(text("SELECT * FROM tokens")))
    engine.dispose()
    assert one["token"] not in dump and two["token"] not in dump
    assert hashlib.sha256(one["token"].encode()).hexdigest() in dump


def test_a_tenant_is_created_on_its_first_token(client: TestClient) -> None:
    before = client.get("/cep/tenants", headers=ADMIN).json()
    assert [t["tenant"] for t in before["items"]] == ["default"]
    headers = mint(client, "acme", "editor")
    assert client.get("/cep/auth/whoami", headers=headers).json()["tenant"] == "acme"
    after = client.get("/cep/tenants", headers=ADMIN).json()
    assert [t["tenant"] for t in after["items"]] == ["acme", "default"]
    assert after["total"] == 2


@pytest.mark.parametrize("tenant", ["Acme", "a_b", "", "a" * 64, "a b", "ünï", "a.b", "../x", 5, None, ["a"]])
def test_tenant_names_are_validated(client: TestClient, tenant: object) -> None:
    body = {"tenant": tenant, "role": "viewer", "name": "x"}
    if tenant is None:
        assert client.post("/cep/auth/tokens", headers=ADMIN, json=body).status_code == 201  # null = own tenant
        return
    problem = is_problem(client.post("/cep/auth/tokens", headers=ADMIN, json=body), 422)
    assert problem["errors"][0]["loc"] == ["tenant"]


def test_tenant_admins_mint_only_for_their_own_tenant(client: TestClient) -> None:
    acme_admin = mint(client, "acme", "admin")
    is_problem(
        client.post("/cep/auth/tokens", headers=acme_admin, json={"tenant": "other", "role": "viewer", "name": "x"}),
        403,
    )
    is_problem(
        client.post("/cep/auth/tokens", headers=acme_admin, json={"tenant": "default", "role": "admin", "name": "x"}),
        403,
    )
    own = client.post("/cep/auth/tokens", headers=acme_admin, json={"role": "viewer", "name": "dash"})
    assert own.status_code == 201 and own.json()["tenant"] == "acme"
    explicit = client.post(
        "/cep/auth/tokens", headers=acme_admin, json={"tenant": "acme", "role": "admin", "name": "x"}
    )
    assert explicit.status_code == 201
    is_problem(client.get("/cep/tenants", headers=acme_admin), 403)


def test_token_list_is_the_own_tenant_and_never_shows_secrets(client: TestClient) -> None:
    acme_admin = mint(client, "acme", "admin", name="boss")
    minted = client.post("/cep/auth/tokens", headers=acme_admin, json={"role": "viewer", "name": "dash"}).json()
    mint(client, "other", "viewer")
    page = client.get("/cep/auth/tokens", headers=acme_admin).json()
    assert [t["name"] for t in page["items"]] == ["boss", "dash"]
    assert page["total"] == 2
    assert minted["token"] not in str(page)
    assert all("token" not in t and "token_hash" not in t for t in page["items"])
    assert page["items"][1]["created_by"] == page["items"][0]["token_id"]
    is_problem(client.get("/cep/auth/tokens?tenant=other", headers=acme_admin), 403)
    as_platform = client.get("/cep/auth/tokens?tenant=other", headers=ADMIN).json()
    assert [t["tenant"] for t in as_platform["items"]] == ["other"]
    first = client.get("/cep/auth/tokens?limit=1", headers=acme_admin).json()
    second = client.get(f"/cep/auth/tokens?limit=1&cursor={first['next_cursor']}", headers=acme_admin).json()
    assert [t["name"] for t in first["items"] + second["items"]] == ["boss", "dash"]


def test_revoked_tokens_stop_working(client: TestClient) -> None:
    acme_admin = mint(client, "acme", "admin")
    response = client.post("/cep/auth/tokens", headers=acme_admin, json={"role": "viewer", "name": "v"})
    viewer = {"Authorization": f"Bearer {response.json()['token']}"}
    token_id = response.json()["token_id"]
    assert client.get("/cep/rules", headers=viewer).status_code == 200
    assert client.delete(f"/cep/auth/tokens/{token_id}", headers=acme_admin).status_code == 204
    assert client.delete(f"/cep/auth/tokens/{token_id}", headers=acme_admin).status_code == 204  # idempotent
    is_problem(client.get("/cep/rules", headers=viewer), 401)
    revoked = client.get("/cep/auth/tokens", headers=acme_admin).json()["items"][1]
    assert revoked["revoked_at"] is not None


def test_tokens_of_another_tenant_cannot_be_revoked(client: TestClient) -> None:
    acme_admin = mint(client, "acme", "admin")
    other = client.post(
        "/cep/auth/tokens", headers=ADMIN, json={"tenant": "other", "role": "viewer", "name": "v"}
    ).json()
    is_problem(client.delete(f"/cep/auth/tokens/{other['token_id']}", headers=acme_admin), 404)
    is_problem(client.delete("/cep/auth/tokens/tok_nope", headers=acme_admin), 404)
    assert client.delete(f"/cep/auth/tokens/{other['token_id']}", headers=ADMIN).status_code == 204


def test_tokens_expire(client: TestClient) -> None:
    response = client.post(
        "/cep/auth/tokens", headers=ADMIN, json={"tenant": "acme", "role": "viewer", "name": "t", "expires_in": "200ms"}
    )
    body = response.json()
    assert datetime.fromisoformat(body["expires_at"]) > datetime.fromisoformat(body["created_at"])
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/cep/auth/whoami", headers=headers).json()["expires_at"] == body["expires_at"]
    time.sleep(0.3)
    assert "expired" in is_problem(client.get("/cep/rules", headers=headers), 401)["detail"]


@pytest.mark.parametrize("expires_in", ["0s", "soon", 5, "", "-1m"])
def test_bad_expiry_is_422(client: TestClient, expires_in: object) -> None:
    body = {"tenant": "acme", "role": "viewer", "name": "t", "expires_in": expires_in}
    problem = is_problem(client.post("/cep/auth/tokens", headers=ADMIN, json=body), 422)
    assert problem["errors"][0]["loc"] == ["expires_in"]


# (method, path, body, minimum role); {id} is a rule of the caller's tenant.
ROLE_MATRIX = [
    ("GET", "/cep/rules", None, "viewer"),
    ("GET", "/cep/rules/{id}", None, "viewer"),
    ("GET", "/cep/rules/{id}/versions", None, "viewer"),
    ("GET", "/cep/audit", None, "viewer"),
    ("GET", "/cep/auth/whoami", None, "viewer"),
    ("POST", "/cep/rules/preview", {"name": "x"}, "viewer"),
    ("POST", "/cep/rules/{id}/simulate", {"payload": {"cpu_usage": 1}}, "viewer"),
    ("POST", "/cep/rules", {**CPU_RULE, "name": "new"}, "editor"),
    ("POST", "/cep/rules/form", {"name": "f", "trigger_type": "event", "trigger": {"event_type": "e"}}, "editor"),
    ("PATCH", "/cep/rules/{id}", {"active": True}, "editor"),
    ("PUT", "/cep/rules/{id}", CPU_RULE, "editor"),
    ("DELETE", "/cep/rules/{id}", None, "editor"),
    ("POST", "/cep/auth/tokens", {"role": "viewer", "name": "x"}, "admin"),
    ("GET", "/cep/auth/tokens", None, "admin"),
]
ROLES = ("viewer", "editor", "admin")


@pytest.mark.parametrize(("method", "path", "body", "needed"), ROLE_MATRIX)
def test_role_matrix(client: TestClient, method: str, path: str, body: object, needed: str) -> None:
    for role in ROLES:
        headers = mint(client, "acme", role, name=f"{role}-{method}-{path}")
        rule = create_rule(client, mint(client, "acme", "editor"), name=f"rule-for-{role}")
        if isinstance(body, dict) and "name" in body:
            body = {**body, "name": f"{body['name']}-{role}"}
        response = client.request(method, path.format(id=rule["rule_id"]), headers=headers, json=body)
        if ROLES.index(role) < ROLES.index(needed):
            assert "role" in is_problem(response, 403)["detail"]
        else:
            assert response.status_code < 400, (role, response.text)


def test_query_tokens_work_only_where_a_route_opts_in(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path))

    @app.get("/test/stream")
    async def stream(principal: Principal = Depends(require("viewer", allow_query_token=True))) -> dict[str, str]:
        return {"tenant": principal.tenant}

    with TestClient(app) as client:
        assert client.get(f"/test/stream?access_token={ADMIN_SECRET}").json() == {"tenant": "default"}
        is_problem(client.get("/test/stream?access_token=wrong"), 401)
        is_problem(client.get(f"/cep/rules?access_token={ADMIN_SECRET}"), 401)
        is_problem(client.get(f"/cep/auth/whoami?access_token={ADMIN_SECRET}"), 401)


def test_without_an_admin_token_setting_no_platform_admin_exists(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path, admin_token=None))) as client:
        is_problem(client.get("/cep/rules", headers=ADMIN), 401)
    with TestClient(create_app(settings_for(tmp_path, admin_token=""))) as client:
        is_problem(client.get("/cep/rules", headers={"Authorization": "Bearer "}), 401)


UNAUTHENTICATED = {"/healthz", "/readyz", "/metrics", "/openapi.json"}  # the contract's list (with the UI pages)
# The UI's sign-in through an OpenID provider: how a browser gets its session, so before it has one.
SIGN_IN = {"/cep/auth/oidc/login", "/cep/auth/oidc/callback", "/cep/auth/logout"}
API_PREFIXES = ("/cep/", "/api/", "/v1/")  # the API: /cep/..., Prometheus remote_write, OTLP/HTTP; others are UI


def test_every_documented_route_but_the_contracts_list_needs_a_token(client: TestClient) -> None:
    """Walk /openapi.json: every operation answers 401 without a token, except the contract's unauthenticated few."""
    document = client.get("/openapi.json").json()
    checked = []
    for path, item in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x-1", path)
        for method in item:
            response = client.request(method.upper(), concrete, json={})
            if path in UNAUTHENTICATED | SIGN_IN or not path.startswith(API_PREFIXES):  # the UI pages
                assert response.status_code != 401, (method, path)
                continue
            assert response.status_code == 401, (method, path, response.status_code, response.text[:200])
            assert response.headers["www-authenticate"].startswith("Bearer")
            checked.append(f"{method} {path}")
    assert len(checked) > 40, checked  # the walk really covered the API
