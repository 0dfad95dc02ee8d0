"""Regex conditions at the gateway: RE2 answers the evil pattern at once, refusals are 422s naming the field,
and one client's evil simulations do not stall another client's requests on a real server."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from tests.gateway.conftest import ADMIN, is_problem
from tests.gateway.live_gateway import LiveGateway, new_tenant, start_gateway

EVIL = "(a+)+$"
EVIL_TEXT = "a" * 34 + "b"  # Python's re backtracks through 2**34 splits of the a's: minutes of a blocked loop
# A bound no scheduling hiccup of a loaded 2-core machine reaches, and one backtracking regex blows through by
# orders of magnitude: the tests tell "answered" from "stalled", they do not time the answer.
SLOW = 10.0
EVENT_RULE: dict[str, Any] = {"name": "evil", "trigger_type": "event", "trigger_spec": {"event_type": "log"}}


def regex_rule(pattern: str) -> dict[str, Any]:
    return {**EVENT_RULE, "conditions": {"field": "msg", "op": "regex", "value": pattern}}


def test_simulating_the_evil_regex_is_fast_and_correct(client: TestClient) -> None:
    body = {"rule": regex_rule(EVIL), "payloads": [{"msg": EVIL_TEXT}, {"msg": "a" * 34}, {"msg": EVIL_TEXT}]}
    start = time.perf_counter()
    response = client.post("/cep/rules/simulate", headers=ADMIN, json=body)
    assert time.perf_counter() - start < SLOW  # Python's re would take minutes
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["matched"] for r in results] == [False, True, False]
    assert [r["conditions"][1]["result"] for r in results] == [False, True, False]  # [0] is the event type
    assert response.json()["errors"] == []


BACKREF_MSG = "backreferences like \\1 are not supported (RE2 syntax)"


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/cep/rules", regex_rule(r"(a)\1"), ["conditions", "value"]),
        (
            "/cep/rules/simulate",
            {"rule": regex_rule(r"(a)\1"), "payload": {"msg": "aa"}},
            ["rule", "conditions", "value"],
        ),
    ],
)
def test_a_backreference_is_a_422_naming_the_field(
    client: TestClient, path: str, body: dict[str, Any], loc: list[Any]
) -> None:
    problem = is_problem(client.post(path, headers=ADMIN, json=body), 422)
    assert {"loc": loc, "msg": BACKREF_MSG} in problem["errors"]


def test_updates_and_over_long_patterns_are_refused_too(client: TestClient) -> None:
    rule = client.post("/cep/rules", headers=ADMIN, json=regex_rule("^ok")).json()
    url = f"/cep/rules/{rule['rule_id']}"
    nested = {
        "logic": "OR",
        "conditions": [{"field": "a", "op": "==", "value": 1}, regex_rule("(?<=x)y")["conditions"]],
    }
    problem = is_problem(client.put(url, headers=ADMIN, json={**EVENT_RULE, "conditions": nested}), 422)
    assert problem["errors"] == [
        {
            "loc": ["conditions", "conditions", 1, "value"],
            "msg": "lookbehind (?<=...) and (?<!...) is not supported (RE2 syntax)",
        }
    ]
    problem = is_problem(
        client.patch(url, headers=ADMIN, json={"conditions": regex_rule("x" * 1001)["conditions"]}), 422
    )
    assert problem["errors"] == [
        {"loc": ["conditions", "value"], "msg": "a pattern is at most 1000 characters, got 1001"}
    ]
    assert client.get(url, headers=ADMIN).json()["version"] == 1


def test_the_form_routes_name_the_field_too(client: TestClient) -> None:
    form = {
        "name": "form-regex",
        "trigger_type": "event",
        "trigger": {"event_type": "log"},
        "conditions": [{"field": "msg", "op": "regex", "value": "a{1000}{1000}"}],
    }
    error = {
        "loc": ["conditions", "conditions", 0, "value"],  # a form's conditions are an AND group
        "msg": "invalid regular expression (RE2 syntax): bad repetition operator: {1000}{1000}",
    }
    preview = client.post("/cep/rules/preview", headers=ADMIN, json=form)
    assert preview.status_code == 200 and preview.json()["errors"] == [error]  # preview shows errors in a 200
    assert is_problem(client.post("/cep/rules/form", headers=ADMIN, json=form), 422)["errors"] == [error]


def test_a_rule_saved_before_re2_still_reads_and_says_what_to_fix(tmp_path: Path, client: TestClient) -> None:
    rule = client.post("/cep/rules", headers=ADMIN, json=regex_rule("^ok")).json()
    url = f"/cep/rules/{rule['rule_id']}"
    with sqlite3.connect(tmp_path / "cep.db") as db:  # as Python's re accepted it before RE2
        (spec,) = db.execute("SELECT spec FROM rules WHERE rule_id = ?", (rule["rule_id"],)).fetchone()
        legacy = {**orjson.loads(spec), "conditions": {"field": "msg", "op": "regex", "value": r"(a)\1"}}
        db.execute("UPDATE rules SET spec = ? WHERE rule_id = ?", (orjson.dumps(legacy).decode(), rule["rule_id"]))
    assert client.get(url, headers=ADMIN).json()["conditions"]["value"] == r"(a)\1"
    result = client.post(f"{url}/simulate", headers=ADMIN, json={"payload": {"msg": "aa"}}).json()
    assert result["matched"] is False
    assert result["conditions"][1]["error"] == BACKREF_MSG
    assert result["errors"] == [f"conditions: {BACKREF_MSG}"]
    fixed = client.patch(url, headers=ADMIN, json={"conditions": regex_rule("(a)a")["conditions"]})
    assert fixed.status_code == 200, fixed.text


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("regex-dos"))
    yield gateway
    gateway.stop()


def test_evil_simulations_do_not_stall_another_tenant(live: LiveGateway) -> None:
    attacker, victim = live.token(new_tenant(), "viewer"), live.token(new_tenant(), "viewer")
    evil = {"rule": regex_rule(EVIL), "payloads": [{"msg": EVIL_TEXT}] * 10}
    answers: list[tuple[int, float]] = []
    attack_window: list[float] = []
    ready = threading.Barrier(2)

    def attack() -> None:
        with httpx.Client(base_url=live.url, headers=attacker, timeout=30) as http:
            ready.wait()
            attack_window.append(time.monotonic())
            for _ in range(20):
                start = time.monotonic()
                response = http.post("/cep/rules/simulate", json=evil)
                answers.append((response.status_code, time.monotonic() - start))
            attack_window.append(time.monotonic())

    thread = threading.Thread(target=attack, daemon=True)
    thread.start()
    probes: list[tuple[float, float]] = []  # (sent at, seconds to answer)
    with httpx.Client(base_url=live.url, headers=victim, timeout=5) as http:
        ready.wait()
        while thread.is_alive() or len(probes) < 5:
            sent = time.monotonic()
            response = http.get("/cep/rules")
            assert response.status_code == 200, response.text
            probes.append((sent, time.monotonic() - sent))
            if len(probes) >= 500:
                break
    thread.join(timeout=60)
    assert [status for status, _ in answers] == [200] * 20
    assert max(seconds for _, seconds in answers) < SLOW
    assert max(seconds for _, seconds in probes) < SLOW, probes
    assert any(attack_window[0] <= sent <= attack_window[1] for sent, _ in probes), "no probe overlapped the attack"
