"""Readiness checks: concurrent, bounded in time, and a failing dependency is 'not ready', never a crash."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.testclient import TestClient

from services.common import ops
from services.common.ops import CheckResult


async def ok() -> CheckResult:
    return CheckResult(True, {"x": 1})


async def broken() -> CheckResult:
    raise ConnectionError("refused")


async def stuck() -> CheckResult:
    await asyncio.sleep(60)
    return CheckResult(True)


def test_ready_only_when_every_check_passes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ops, "CHECK_TIMEOUT_SECONDS", 0.2)
    app = Starlette()
    ops.add_ops_routes(app, service="t", checks={"a": ok, "b": broken, "c": stuck})
    client = TestClient(app)
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["a"] == {"ok": True, "detail": {"x": 1}}
    assert checks["b"] == {"ok": False, "detail": "ConnectionError: refused"}
    assert checks["c"]["ok"] is False and "timed out" in checks["c"]["detail"]
    assert client.get("/healthz").json() == {"status": "ok", "service": "t"}
    assert "python_info" in client.get("/metrics").text


def test_ready_with_passing_checks() -> None:
    app = Starlette()
    ops.add_ops_routes(app, service="t", checks={"a": ok})
    assert TestClient(app).get("/readyz").json() == {
        "ready": True,
        "service": "t",
        "checks": {"a": {"ok": True, "detail": {"x": 1}}},
    }
