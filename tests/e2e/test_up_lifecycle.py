"""`cep up` as an operator meets it: ready, restarts a crash, stops everything, keeps data, reaps leftovers."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.stack import describe, stack_pids, start_stack, stop_stack

# Each starts (and kills) its own `cep up`, about 50 s together: `make test-slow` keeps `make test` under 10 minutes.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RULE = {
    "name": "cpu_high_alert",
    "trigger_type": "metric",
    "trigger_spec": {"metric_name": "cpu_usage", "operator": ">", "threshold": 85, "duration": "5m"},
}


def wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def assert_all_gone(state_dir: Path, within: float) -> None:
    deadline = time.monotonic() + within
    while stack_pids(state_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = stack_pids(state_dir)
    assert not left, f"processes left behind:\n{describe(left)}"


def test_crash_restart_stop_and_data_kept_across_runs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    stack = start_stack(state)
    try:
        with stack.client() as api:
            ready = httpx.get(f"{stack.url}/readyz").json()
            assert ready["ready"] is True
            assert {"database", "nats", "ingest", "evaluator", "notifier", "scheduler", "supervisor"} <= set(
                ready["checks"]
            )
            assert ready["checks"]["evaluator"]["ok"] is True
            created = api.post("/cep/rules", json=RULE)
            assert created.status_code == 201, created.text
            minted = api.post("/cep/auth/tokens", json={"tenant": "team-a", "role": "viewer", "name": "ro"})
            assert minted.status_code == 201, minted.text
        viewer_token = minted.json()["token"]

        # A crashed service is restarted, and the restart shows in /readyz and /metrics.
        notifier_pid = ready["checks"]["supervisor"]["detail"]["notifier"]["pid"]
        os.kill(notifier_pid, signal.SIGKILL)

        def restarted():  # type: ignore[no-untyped-def]
            body = httpx.get(f"{stack.url}/readyz").json()
            record = body["checks"]["supervisor"]["detail"]["notifier"]
            return body if record["restarts"] == 1 and body["ready"] else None

        after = wait_for(restarted, 60, "the notifier to be restarted and the stack ready again")
        assert after["checks"]["supervisor"]["detail"]["notifier"]["last_exit_code"] == -signal.SIGKILL
        metrics = httpx.get(f"{stack.url}/metrics").text
        assert re.search(r'cep_service_restarts_total\{service="notifier"\} 1\.0', metrics)
        assert re.search(r'cep_service_last_exit_code\{service="notifier"\} -9\.0', metrics)

        # SIGTERM to `cep up` alone stops every child, Ray included, within 10 s.
        assert len(stack_pids(state)) >= 7
        elapsed = stop_stack(stack, signal.SIGTERM)
        assert elapsed < 10, stack.log()
        assert_all_gone(state, within=10 - elapsed)
    finally:
        stop_stack(stack)

    # Running again on the same state directory keeps rules and tokens.
    again = start_stack(state)
    try:
        with again.client() as api:
            names = [r["name"] for r in api.get("/cep/rules").json()["items"]]
            assert names == ["cpu_high_alert"]
        with again.client(viewer_token) as viewer:
            assert viewer.get("/cep/auth/whoami").json()["tenant"] == "team-a"
        # Ctrl-C to the whole process group (as a terminal sends it) stops everything within 10 s.
        began = time.monotonic()
        os.killpg(again.proc.pid, signal.SIGINT)
        again.proc.wait(timeout=10)
        assert_all_gone(state, within=10 - (time.monotonic() - began))
    finally:
        stop_stack(again)


def test_leftovers_of_a_killed_run_are_reaped(tmp_path: Path) -> None:
    state = tmp_path / "state"
    stack = start_stack(state)
    stop_stack(stack, signal.SIGKILL)  # the supervisor dies without stopping anything
    orphans = stack_pids(state)
    assert orphans, "a SIGKILLed `cep up` should leave its children running"
    again = start_stack(state)
    try:
        assert "reaped" in again.log()
        assert not set(orphans) & set(stack_pids(state)), "an orphan of the killed run survived the new start"
    finally:
        elapsed = stop_stack(again)
    assert elapsed < 10
    assert_all_gone(state, within=5)
