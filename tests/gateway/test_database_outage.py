"""A database outage is a 503 problem with Retry-After, never a 500, and the gateway recovers when it is back.

The gateway reaches the session's PostgreSQL through a local TCP proxy; the outage is real: the proxy resets
every open connection and refuses new ones until it is told to forward again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from services.common.cli.procs import free_port
from services.gateway.app import create_app
from tests.chaos.proxy import DroppingProxy
from tests.common.db.postgres import truncate
from tests.gateway.conftest import ADMIN, CPU_RULE, is_problem, mint, settings_for

pytestmark = pytest.mark.postgres


class Switch:
    """Where the proxy forwards: PostgreSQL, or a port nothing listens on (the outage)."""

    def __init__(self, port: int) -> None:
        self.real, self.dead, self.port = port, free_port(), port

    def __call__(self) -> int:
        return self.port


@pytest.fixture
def outage(pg_url: str) -> Iterator[tuple[str, Switch, DroppingProxy]]:
    """(the database URL through the proxy, its switch, the proxy)."""
    truncate(pg_url)
    url = make_url(pg_url)
    switch = Switch(url.port or 5432)
    proxy = DroppingProxy(switch).start()
    yield url.set(port=proxy.port).render_as_string(hide_password=False), switch, proxy
    proxy.stop()


def test_a_database_outage_is_a_503_with_retry_after(tmp_path: Path, outage: tuple[str, Switch, DroppingProxy]) -> None:
    url, switch, proxy = outage
    with TestClient(create_app(settings_for(tmp_path, url))) as client:
        editor = mint(client, "acme", "editor")
        assert client.get("/cep/rules", headers=editor).status_code == 200

        switch.port = switch.dead  # the database goes away: open connections are reset, new ones refused
        proxy.drop()
        for method, path, headers, body in [
            ("GET", "/cep/rules", editor, None),  # a read (and the token lookup before it)
            ("POST", "/cep/rules", ADMIN, CPU_RULE),  # a write
            ("GET", "/cep/events", ADMIN, None),
        ]:
            response = client.request(method, path, headers=headers, json=body)
            problem = is_problem(response, 503)
            assert int(response.headers["Retry-After"]) >= 1, response.headers
            assert problem["type"] == "urn:cep:problem:unavailable"
            assert "database" in problem["detail"] and "psycopg" not in problem["detail"]  # no driver internals

        switch.port = switch.real  # back: the pool reconnects on its own
        assert client.get("/cep/rules", headers=editor).status_code == 200
        assert client.post("/cep/rules", headers=ADMIN, json=CPU_RULE).status_code == 201
