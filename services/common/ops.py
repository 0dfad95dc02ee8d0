"""Operational routes every service serves: `/healthz`, `/readyz` (named checks) and Prometheus `/metrics`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

CHECK_TIMEOUT_SECONDS = 3.0
_JSON = {"application/json": {"schema": {"type": "object"}}}


@dataclass(frozen=True)
class CheckResult:
    """The answer of one readiness check: ok or not, and what an operator needs to see why."""

    ok: bool
    detail: Any = None


Check = Callable[[], Awaitable[CheckResult]]


async def run_checks(checks: Mapping[str, Check]) -> dict[str, CheckResult]:
    """Run every check concurrently, each bounded by a timeout; an exception is a failed check, not a crash."""

    async def one(check: Check) -> CheckResult:
        try:
            return await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            return CheckResult(False, f"check timed out after {CHECK_TIMEOUT_SECONDS:g}s")
        except Exception as exc:  # a failing dependency must show as not ready, never as a 500
            return CheckResult(False, f"{type(exc).__name__}: {exc}")

    names = list(checks)
    results = await asyncio.gather(*(one(checks[name]) for name in names))
    return dict(zip(names, results, strict=True))


def add_ops_routes(
    app: Starlette,
    *,
    service: str,
    checks: Mapping[str, Check],
    registry: CollectorRegistry = REGISTRY,
) -> None:
    """Add the unauthenticated ops routes to an application (FastAPI apps keep them out of the OpenAPI)."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": service})

    async def readyz(_: Request) -> Response:
        results = await run_checks(checks)
        ready = all(r.ok for r in results.values())
        body = {
            "ready": ready,
            "service": service,
            "checks": {name: {"ok": r.ok, "detail": r.detail} for name, r in results.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # How each answers, for the OpenAPI document of a FastAPI app: /metrics is Prometheus text, /readyz says 503
    # with the same JSON body when a check fails.
    documented: dict[str, dict[str, Any]] = {
        "/healthz": {},
        "/readyz": {"responses": {503: {"description": "not ready: the failing checks", "content": _JSON}}},
        "/metrics": {"response_class": PlainTextResponse},
    }
    for path, endpoint in (("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics)):
        if hasattr(app, "add_api_route"):
            extra = documented[path]
            app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=True, tags=["operations"], **extra)
        else:
            app.add_route(path, endpoint, methods=["GET"])
