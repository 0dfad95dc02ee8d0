"""Every failure is application/problem+json: 400, 404, 405, 413, 422 and a 500 that leaks nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from tests.gateway.conftest import ADMIN, CPU_RULE, create_rule, is_problem, settings_for


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    is_problem(client.get("/cep/nothing-here", headers=ADMIN), 404)
    is_problem(client.get("/nothing"), 404)


def test_wrong_method_is_a_405_problem_with_allow(client: TestClient) -> None:
    response = client.post("/cep/auth/whoami", headers=ADMIN)
    is_problem(response, 405)
    assert "GET" in response.headers["allow"]
    is_problem(client.delete("/cep/rules", headers=ADMIN), 405)


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"{'a': 1}",
        b"[1,]",
        b"NaN",
        b'{"threshold": NaN}',
        b'{"x": Infinity}',
        b'{"x": 1e999}',
        b'{"x": -1e999}',
        b"\xff\xfe\x00",
        b"\xc3\x28",
        b"[" * 100_000,
        b'{"a": ' + b"9" * 5000 + b"}",
        b" ",
        b"",
        b"{}{}",
        b"undefined",
    ],
)
def test_malformed_json_is_400(client: TestClient, raw: bytes) -> None:
    for url in ("/cep/rules", "/cep/rules/preview", "/cep/rules/form", "/cep/rules/simulate", "/cep/auth/tokens"):
        body = is_problem(client.post(url, headers={**ADMIN, "content-type": "application/json"}, content=raw), 400)
        assert len(body["detail"]) < 300


def test_deeply_nested_but_valid_json_is_422(client: TestClient) -> None:
    raw = b'{"name": ' + b"[" * 200 + b"]" * 200 + b"}"
    is_problem(client.post("/cep/rules", headers=ADMIN, content=raw), 422)


def test_a_body_over_the_limit_is_413(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path, max_body_bytes=1000))) as client:
        small = {**CPU_RULE, "description": "x" * 500}
        assert client.post("/cep/rules", headers=ADMIN, json=small).status_code == 201
        big = {**CPU_RULE, "name": "big", "description": "x" * 2000}
        body = is_problem(client.post("/cep/rules", headers=ADMIN, json=big), 413)
        assert "1000 bytes" in body["detail"]
        assert client.get("/cep/rules", headers=ADMIN).json()["total"] == 1


def test_a_streamed_body_is_cut_off_at_the_limit(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    with TestClient(create_app(settings_for(tmp_path, max_body_bytes=1000))) as client:
        is_problem(client.post("/cep/rules", headers=ADMIN, content=chunks()), 413)


def test_a_lying_content_length_header_is_refused_before_reading(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path, max_body_bytes=1000))) as client:
        headers = {**ADMIN, "content-length": "5000000"}
        is_problem(client.post("/cep/rules", headers=headers, content=b"{}"), 413)


def test_default_limit_is_one_mebibyte(client: TestClient) -> None:
    big = {**CPU_RULE, "description": "x" * (1024 * 1024)}
    is_problem(client.post("/cep/rules", headers=ADMIN, json=big), 413)
    fits = {**CPU_RULE, "description": "x" * (1024 * 1000)}
    assert client.post("/cep/rules", headers=ADMIN, json=fits).status_code == 201


def test_a_crash_is_a_500_problem_that_leaks_nothing(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path))

    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("secret-internal-detail at /srv/db password=hunter2")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/test/boom")
    body = is_problem(response, 500)
    assert "secret" not in response.text and "hunter2" not in response.text and "RuntimeError" not in response.text
    assert body["detail"] == "internal error; the server log has the details"


def test_validation_problems_carry_every_field_and_a_readable_detail(client: TestClient) -> None:
    body = {
        "name": "",
        "priority": "P9",
        "trigger_type": "metric",
        "trigger_spec": {"metric_name": "cpu", "operator": "=>", "threshold": "x"},
    }
    problem = is_problem(client.post("/cep/rules", headers=ADMIN, json=body), 422)
    locs = [tuple(e["loc"]) for e in problem["errors"]]
    assert ("trigger_spec", "operator") in locs
    assert ("trigger_spec", "threshold") in locs
    assert ("priority",) in locs
    assert ("name",) in locs
    assert "trigger_spec.threshold: expected a number" in problem["detail"]
    assert problem["type"] == "urn:cep:problem:validation"


def test_ops_routes_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    deadline = time.monotonic() + 15  # the bus connects in the background after start
    while (ready := client.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"]["ok"] is True
    assert ready.json()["checks"]["nats"]["ok"] is True
    assert client.get("/metrics").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_extra_ready_checks_are_merged(tmp_path: Path) -> None:
    from services.common.ops import CheckResult

    async def nats() -> CheckResult:
        return CheckResult(False, "down")

    with TestClient(create_app(settings_for(tmp_path), extra_ready_checks={"nats": nats})) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert set(response.json()["checks"]) == {"database", "nats", "recorder", "run_recorder"}


def test_rule_hooks_see_every_committed_change_in_order(tmp_path: Path) -> None:
    seen: list[tuple[str, int]] = []

    async def hook(change) -> None:  # type: ignore[no-untyped-def]
        seen.append((change.kind, change.rule.version))

    app = create_app(settings_for(tmp_path), rule_hooks=[hook])
    with TestClient(app) as client:
        rule = create_rule(client, ADMIN)
        url = f"/cep/rules/{rule['rule_id']}"
        client.patch(url, headers=ADMIN, json={"active": True})
        client.patch(url, headers=ADMIN, json={"trigger_spec": {"threshold": "bad"}})  # rejected: no hook
        client.put(url, headers=ADMIN, json=CPU_RULE)
        client.delete(url, headers=ADMIN)
    assert seen == [("created", 1), ("patched", 2), ("replaced", 3), ("deleted", 4)]
