"""Team policies and the Daily Report against `cep up`: the anomaly-baseline policy asks the real evaluator, and a
schedule rule's `daily_report` action goes through evaluator, notifier and gateway to a real webhook receiver."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.test_pipeline_labs import ingest
from tests.support.receiver import receiver
from tests.support.stack import Stack
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


def tokens(stack: Stack) -> tuple[str, str]:
    """(editor, admin) tokens of a fresh tenant."""
    tenant = f"policy-{uuid.uuid4().hex[:6]}"
    with stack.client() as platform:
        minted = [
            platform.post("/cep/auth/tokens", json={"tenant": tenant, "role": role, "name": role}).json()["token"]
            for role in ("editor", "admin")
        ]
    return minted[0], minted[1]


def test_an_anomaly_rule_goes_live_only_once_its_baseline_is_ready(stack: Stack) -> None:
    editor, admin = tokens(stack)
    with stack.client(admin) as settings:
        put = settings.put("/cep/settings", json={"policies": {"anomaly_requires_ready_baseline": True}})
        assert put.status_code == 200, put.text
    now = datetime.now(UTC).replace(microsecond=0)
    rule = {
        "name": "latency_anomaly",
        "trigger_type": "anomaly",
        "trigger_spec": {"value_path": "latency_ms", "anomaly_method": "zscore", "threshold": 3, "min_baseline": 8},
    }
    with stack.client(editor) as api:
        rule_id = api.post("/cep/rules", json=rule).json()["rule_id"]
        stamp = [(now + timedelta(seconds=n)).isoformat().replace("+00:00", "Z") for n in range(8)]
        ingest(api, [{"latency_ms": 100 + n % 3, "timestamp": stamp[n]} for n in range(3)])
        eventually(
            lambda: (
                api.get(f"/cep/rules/{rule_id}/anomaly-status")
                .json()["keys"]
                .get("", {})
                .get("baseline", {})
                .get("samples")
                == 3
            ),
            what="3 samples learned",
        )
        refused = api.patch(f"/cep/rules/{rule_id}", json={"active": True})
        assert refused.status_code == 409, refused.text
        assert refused.json()["policy"] == "anomaly_requires_ready_baseline"
        assert "the baseline is learning: 3 of 8 samples" in refused.json()["detail"]

        ingest(api, [{"latency_ms": 100 + n % 3, "timestamp": stamp[n]} for n in range(3, 8)])
        eventually(lambda: api.get(f"/cep/rules/{rule_id}/anomaly-status").json()["ready"], what="a ready baseline")
        activated = api.patch(f"/cep/rules/{rule_id}", json={"active": True})
        assert activated.status_code == 200 and activated.json()["active"] is True, activated.text


def test_a_daily_report_rule_sends_the_day_to_its_channel(stack: Stack) -> None:
    editor, _ = tokens(stack)
    with receiver() as hook, stack.client(editor) as api:
        cpu = {
            "name": "cpu_high",
            "active": True,
            "severity": "critical",
            "trigger_type": "metric",
            "trigger_spec": {"metric_name": "cpu", "operator": ">", "threshold": 90, "group_by": ["host"]},
        }
        cpu_id = api.post("/cep/rules", json=cpu).json()["rule_id"]
        ingest(api, [{"cpu": 95, "host": f"h{n}"} for n in range(3)])
        eventually(
            lambda: len(api.get("/cep/events", params={"rule_id": cpu_id}).json()["items"]) == 3, what="3 events"
        )

        api.post("/cep/channels", json={"name": "ops-report", "type": "webhook", "config": {"url": hook.url}})
        report_rule: dict[str, Any] = {
            "name": "daily_report",
            "trigger_type": "schedule",
            "trigger_spec": {"cron": "0 8 * * *"},
            "action_spec": [{"type": "daily_report", "channel": "ops-report"}],
        }
        report_id = api.post("/cep/rules", json=report_rule).json()["rule_id"]
        ran = api.post(f"/cep/rules/{report_id}/trigger", json={"payload": {}})  # a run now, as 08:00 would be
        assert ran.status_code == 202 and ran.json()["matched"] is True, ran.text
        [request] = hook.wait_for(1)
    report = request.json()["report"]
    assert report["events"] == 3 and report["by_severity"] == {"critical": 3} and report["by_status"] == {"open": 3}
    assert report["top_rules"] == [{"rule_name": "cpu_high", "events": 3}]
    assert request.json()["message"].endswith("Top rules: cpu_high 3")
    with stack.client(editor) as api:
        run = eventually(lambda: api.get("/cep/events", params={"rule_id": report_id}).json()["items"], what="the run")
        assert eventually(
            lambda: api.get(f"/cep/events/{run[0]['event_id']}").json()["notifications"][0]["status"] == "sent",
            what="the report recorded as sent",
        )
