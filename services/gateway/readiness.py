"""The gateway's view of the whole stack: NATS, each peer service's `/readyz`, and the supervisor's records."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.common.ops import Check, CheckResult

PEER_TIMEOUT_SECONDS = 2.5


def peer_check(url: str) -> Check:
    """Ready when the peer's own `/readyz` says so; its failing checks become this check's detail."""

    async def check() -> CheckResult:
        async with httpx.AsyncClient(timeout=PEER_TIMEOUT_SECONDS) as client:
            try:
                response = await client.get(f"{url.rstrip('/')}/readyz")
            except httpx.HTTPError as exc:
                return CheckResult(False, f"{url} unreachable: {type(exc).__name__}")
        try:
            body = response.json()
        except ValueError:
            body = None
        checks = body.get("checks") if isinstance(body, dict) else body
        return CheckResult(response.status_code == 200, checks)

    return check


def supervisor_records(state_dir: Path) -> dict[str, Any]:
    """The children `cep up` supervises (pid, running, restarts, last exit code), or {} when not under it."""
    try:
        data = json.loads((state_dir / "supervisor.json").read_text())
    except (OSError, ValueError):
        return {}
    children = data.get("children") if isinstance(data, dict) else None
    return children if isinstance(children, dict) else {}


def supervisor_check(state_dir: Path) -> Check:
    """Informational: restarts and last exit codes of the supervised processes (never makes the stack unready)."""

    async def check() -> CheckResult:
        records = supervisor_records(state_dir)
        detail = {
            name: {k: r.get(k) for k in ("running", "restarts", "last_exit_code", "pid")} for name, r in records.items()
        }
        return CheckResult(True, detail or "not supervised by `cep up`")

    return check


def stack_checks(peers: Mapping[str, str], state_dir: Path) -> dict[str, Check]:
    """Every check the gateway's `/readyz` adds to its own (database, nats): the peers and the supervisor."""
    checks: dict[str, Check] = {name: peer_check(url) for name, url in peers.items()}
    checks["supervisor"] = supervisor_check(state_dir)
    return checks


class SupervisorCollector(Collector):
    """Prometheus figures from the supervisor's records: restarts and last exit code per service."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def collect(self) -> Iterator[Metric]:
        restarts = CounterMetricFamily(
            "cep_service_restarts", "Restarts of a supervised process by `cep up`", labels=["service"]
        )
        exit_code = GaugeMetricFamily(
            "cep_service_last_exit_code",
            "Last exit code of a supervised process (-N: killed by signal N)",
            labels=["service"],
        )
        running = GaugeMetricFamily(
            "cep_service_running", "1 when the supervised process is running", labels=["service"]
        )
        for name, record in supervisor_records(self.state_dir).items():
            restarts.add_metric([name], float(record.get("restarts") or 0))
            if record.get("last_exit_code") is not None:
                exit_code.add_metric([name], float(record["last_exit_code"]))
            running.add_metric([name], 1.0 if record.get("running") else 0.0)
        yield from (restarts, exit_code, running)
