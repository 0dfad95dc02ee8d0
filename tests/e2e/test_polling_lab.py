"""Metric polling against `cep up`: the scheduler leader polls the stack's own nats-server `/varz`, each sample
becomes a metric event through ingest, and a metric rule on `mem` (threshold set low on purpose) fires."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


def test_polling_nats_varz_feeds_a_metric_rule_that_fires(stack: Stack) -> None:
    tenant = f"poll-{uuid.uuid4().hex[:6]}"
    monitor = json.loads((stack.state_dir / "ports.json").read_text())["nats_monitor"]
    with stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": tenant, "role": "editor", "name": "sre"})
        assert minted.status_code == 201, minted.text
    with stack.client(minted.json()["token"]) as api:
        rule = api.post(
            "/cep/rules",
            json={
                "name": "nats_mem_seen",
                "active": True,
                "severity": "low",
                "trigger_type": "metric",
                "trigger_spec": {"metric_name": "mem", "operator": ">", "threshold": 1},
            },
        )
        assert rule.status_code == 201, rule.text
        rule_id = rule.json()["rule_id"]
        created = api.post(
            "/cep/scheduler/metric-polling",
            json={
                "name": "stack-nats",
                "url": f"http://127.0.0.1:{monitor}/varz",
                "interval": "1s",
                "metrics": [{"name": "mem", "path": "mem"}, {"name": "cpu", "path": "cpu"}],
                "labels": {"source": "varz"},
            },
        )
        assert created.status_code == 201, created.text
        target_id = created.json()["target_id"]
        try:
            events: list[dict[str, Any]] = []
            deadline = time.monotonic() + 60
            while not events and time.monotonic() < deadline:
                events = api.get("/cep/events", params={"rule_id": rule_id}).json()["items"]
                time.sleep(0.5)
            assert events, api.get("/cep/scheduler/metric-polling/snapshots/latest").json()
            fired = events[0]
            assert fired["status"] == "open" and fired["trigger_type"] == "metric"
            assert fired["payload"]["metric"] == "mem" and fired["payload"]["value"] > 1
            assert fired["payload"]["target"] == "stack-nats" and fired["payload"]["source"] == "varz"

            latest = api.get("/cep/scheduler/metric-polling/snapshots/latest", params={"target_id": target_id})
            [snapshot] = latest.json()["items"]
            assert snapshot["ok"] is True and snapshot["status_code"] == 200, snapshot
            assert snapshot["values"]["mem"] > 1 and snapshot["latency_ms"] > 0
            [listed] = api.get("/cep/scheduler/metric-polling").json()["items"]
            assert listed["last_status"] == "ok" and listed["last_error"] is None
        finally:
            assert api.delete(f"/cep/scheduler/metric-polling/{target_id}").status_code == 204
