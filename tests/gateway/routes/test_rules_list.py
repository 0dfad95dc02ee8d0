"""`GET /cep/rules`: filters, stable order, the list shape, and cursors that walk every rule exactly once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.gateway.conftest import ADMIN, create_rule, is_problem


@pytest.fixture
def seeded(any_client: TestClient) -> TestClient:
    create_rule(any_client, ADMIN, name="cpu_high", active=True)
    create_rule(any_client, ADMIN, name="cpu_low", description="quiet CPU 100%_ok")
    create_rule(
        any_client, ADMIN, name="errors", description=None, trigger_type="event", trigger_spec={"event_type": "error"}
    )
    create_rule(
        any_client,
        ADMIN,
        name="nightly",
        description=None,
        active=True,
        trigger_type="schedule",
        trigger_spec={"cron": "0 3 * * *"},
    )
    return any_client


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["cpu_high", "cpu_low", "errors", "nightly"]),
        ("active=true", ["cpu_high", "nightly"]),
        ("active=false", ["cpu_low", "errors"]),
        ("trigger_type=event", ["errors"]),
        ("trigger_type=metric&active=true", ["cpu_high"]),
        ("q=cpu", ["cpu_high", "cpu_low"]),
        ("q=QUIET", ["cpu_low"]),
        ("q=100%25_", ["cpu_low"]),  # LIKE wildcards in q are literal
        ("q=%25", ["cpu_low"]),
        ("q=_", ["cpu_high", "cpu_low"]),
        ("q=zzz", []),
    ],
)
def test_filters(seeded: TestClient, query: str, names: list[str]) -> None:
    page = seeded.get(f"/cep/rules?{query}", headers=ADMIN).json()
    assert [r["name"] for r in page["items"]] == names
    assert page["total"] == len(names)
    assert page["next_cursor"] is None


def test_cursor_walks_every_rule_once_in_creation_order(seeded: TestClient) -> None:
    seen, cursor = [], None
    while True:
        url = "/cep/rules?limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = seeded.get(url, headers=ADMIN).json()
        assert page["total"] == 4
        seen += [r["name"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["cpu_high", "cpu_low", "errors", "nightly"]


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("limit=0", ["limit"]),
        ("limit=1001", ["limit"]),
        ("limit=abc", ["limit"]),
        ("limit=1e400", ["limit"]),
        ("limit=99999999999999999999999999", ["limit"]),
        ("active=maybe", ["active"]),
        ("trigger_type=cron", ["trigger_type"]),
        ("cursor=!!!", ["cursor"]),
        ("cursor=W10", ["cursor"]),
        ("cursor=WyJ4IiwieSJd", ["cursor"]),
        ("cursor=" + "A" * 600, ["cursor"]),
        ("q=" + "x" * 300, ["q"]),
    ],
)
def test_bad_query_parameters_are_422_naming_them(client: TestClient, query: str, loc: list[str]) -> None:
    problem = is_problem(client.get(f"/cep/rules?{query}", headers=ADMIN), 422)
    assert problem["errors"][0]["loc"] == loc


def test_limit_default_is_50_and_max_1000(client: TestClient) -> None:
    for i in range(51):
        create_rule(client, ADMIN, name=f"r{i:02d}")
    page = client.get("/cep/rules", headers=ADMIN).json()
    assert (len(page["items"]), page["total"]) == (50, 51)
    assert page["next_cursor"]
    assert len(client.get("/cep/rules?limit=1000", headers=ADMIN).json()["items"]) == 51
