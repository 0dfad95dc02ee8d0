"""Gateway fixtures: an app on a fresh database (SQLite, or PostgreSQL where a test asks), tokens, helpers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.db.migrate import upgrade
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.common.db.fixtures import db_url, pg_url  # noqa: F401
from tests.common.db.postgres import truncate
from tests.conftest import TEST_SECRETS_KEY

ADMIN_SECRET = "admin-secret"
ADMIN = {"Authorization": f"Bearer {ADMIN_SECRET}"}

CPU_RULE: dict[str, Any] = {
    "name": "cpu_high_alert",
    "description": "CPU > 85 for 5m",
    "trigger_type": "metric",
    "trigger_spec": {"metric_name": "cpu_usage", "operator": ">", "threshold": 85, "duration": "5m"},
    "action_spec": [{"type": "notify", "channel": "slack-ops", "message": "CPU threshold exceeded"}],
}


def settings_for(state_dir: Path, database_url: str | None = None, **overrides: Any) -> GatewaySettings:
    """Settings of a test gateway (the platform admin token is `admin-secret`; no ACK SLA unless a test sets one:
    the tests' events fired long ago and would all have breached it)."""
    values: dict[str, Any] = {
        "admin_token": ADMIN_SECRET,
        "ack_sla": "off",
        "secrets_key": TEST_SECRETS_KEY,  # explicit, so apps built at import (the fuzzer's) need no environment
        **overrides,
    }
    return GatewaySettings(state_dir=state_dir, database_url=database_url, **values)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database migrated to the head revision, once per session. The fixtures below start each
    test's gateway on a copy of it: its start-up migration then finds nothing to do (10 ms instead of 65 ms, some
    500 times a session). Migrating from empty is tested in tests/common/db and by every `cep up`."""
    path = tmp_path_factory.mktemp("migrated") / "cep.db"
    upgrade(f"sqlite:///{path}")
    return path


def _sqlite_copy(template: Path, state_dir: Path) -> str:
    """A copy of the migrated database at the gateway's default place in `state_dir`; its URL."""
    target = state_dir / "cep.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def client(tmp_path: Path, migrated_sqlite: Path) -> Iterator[TestClient]:
    """A started gateway on SQLite in a temp dir."""
    _sqlite_copy(migrated_sqlite, tmp_path)
    with TestClient(create_app(settings_for(tmp_path))) as test_client:
        yield test_client


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Path) -> str:
    """A database URL for the gateway: SQLite in a temp dir, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return _sqlite_copy(migrated_sqlite, tmp_path)
    url: str = request.getfixturevalue("pg_url")
    truncate(url)
    return url


@pytest.fixture
def any_client(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    """A started gateway, once on SQLite and once on PostgreSQL."""
    with TestClient(create_app(settings_for(tmp_path, database_url))) as test_client:
        yield test_client


def mint(client: TestClient, tenant: str, role: str, name: str = "test", **extra: Any) -> dict[str, str]:
    """Mint a token as the platform admin; return the Authorization header that carries it."""
    response = client.post(
        "/cep/auth/tokens", headers=ADMIN, json={"tenant": tenant, "role": role, "name": name, **extra}
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def create_rule(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    """Create a rule (CPU_RULE with overrides) and return its JSON."""
    response = client.post("/cep/rules", headers=headers, json={**CPU_RULE, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def is_problem(response: Any, status: int) -> dict[str, Any]:
    """Assert an application/problem+json answer with this status; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "errors"}
    assert body["status"] == status
    return body
