"""Labs 4 and 13 and the "insufficient anomaly baseline" failure row, end to end through the API of `cep up`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.test_pipeline_labs import ingest
from tests.support.stack import Stack
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

T0 = datetime.now(UTC).replace(microsecond=0)  # event time at the wall clock, ahead of the driver's ticks
LAB4_RULE: dict[str, Any] = {
    "name": "cpu_anomaly",
    "trigger_type": "anomaly",
    "trigger_spec": {"value_path": "cpu_percent", "anomaly_method": "zscore", "threshold": 3.0, "min_baseline": 20},
}


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def baseline(first: int, count: int) -> list[dict[str, Any]]:
    return [{"cpu_percent": 40 + n % 5, "host": "gt-01", "timestamp": at(n)} for n in range(first, first + count)]


@pytest.fixture(scope="module")
def api(stack: Stack) -> Any:
    """An editor of a fresh tenant, so these labs see only their own events."""
    with stack.client() as admin:
        minted = admin.post(
            "/cep/auth/tokens", json={"tenant": f"anomaly-{uuid.uuid4().hex[:6]}", "role": "editor", "name": "sre"}
        )
    assert minted.status_code == 201, minted.text
    with stack.client(minted.json()["token"]) as client:
        yield client


def test_lab4_baseline_learned_while_draft_then_the_outlier_fires(api: httpx.Client) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    rule = api.post("/cep/rules", json=LAB4_RULE).json()
    rule_id, status_path = rule["rule_id"], f"/cep/rules/{rule['rule_id']}/anomaly-status"
    assert rule["active"] is False

    # Failure-injection row "insufficient anomaly baseline": detection disabled, with the reason.
    ingest(api, baseline(0, 12))

    def learning(count: int) -> Callable[[], dict[str, Any] | None]:
        def probe() -> dict[str, Any] | None:
            status = api.get(status_path).json()
            return status if status.get("reason", "").startswith(f"learning: {count} of 20 samples") else None

        return probe

    status = eventually(learning(12), what="12 samples learned by the draft rule")
    assert (status["ready"], status["detection"], status["active"]) == (False, "disabled", False)
    assert (
        status["keys"][""]["baseline"] | {"ready": False, "samples": 12, "required": 20}
        == status["keys"][""]["baseline"]
    )
    held = api.post(f"/cep/rules/{rule_id}/trigger", json={"payload": {"cpu_percent": 42, "timestamp": at(12)}})
    assert held.status_code == 202, held.text
    assert held.json() == {
        "matched": False,
        "event_id": None,
        "state": "no_match",
        "errors": ["trigger_spec: anomaly detection disabled: baseline 12 of 20 samples"],
    }

    # Lab 4: feed the rest of the baseline, check it, activate, send the outlier.
    ingest(api, baseline(13, 10))
    ready = eventually(lambda: (s := api.get(status_path).json())["ready"] and s, what="a ready baseline")
    assert ready["detection"] == "enabled" and ready["reason"] == "baseline ready: 23 samples, min_baseline 20"
    stats = ready["keys"][""]["baseline"]
    assert stats["samples"] == 23 and 41 < stats["mean"] < 43 and stats["std"] > 0
    assert api.get(f"/cep/events?rule_id={rule_id}").json()["total"] == 0  # learning never fires

    assert api.patch(f"/cep/rules/{rule_id}", json={"active": True}).json()["active"] is True
    ingest(api, [{"cpu_percent": 99, "host": "gt-01", "timestamp": at(30)}])
    fired = eventually(lambda: api.get(f"/cep/events?rule_id={rule_id}").json()["items"], what="the anomaly event")[0]
    node = fired["explanation"][0]
    assert node["is_anomaly"] is True and node["method"] == "zscore" and node["score"] > 3
    assert node["value"] == 99 and node["details"]["expected_band"][1] < 99
    last = api.get(status_path).json()["keys"][""]["last"]
    assert (last["value"], last["is_anomaly"], last["method"]) == (99, True, "zscore")
    assert last["score"] > 3 and {"mean", "std", "z", "expected_band"} <= set(last["details"])

    # Feedback feeds the rule's measured precision.
    api.post(f"/cep/events/{fired['event_id']}/feedback", json={"label": "true_positive"}).raise_for_status()
    precision = api.get(f"/cep/rules/{rule_id}/precision").json()
    assert (precision["labelled"], precision["true_positive"], precision["precision"]) == (1, 1, 1.0)

    # Lab 13 over the same stored data: variants side by side (no labels in stored events).
    body = {
        "rule": LAB4_RULE,
        "since": since.isoformat(),
        "variants": [
            {"name": "zscore-3", "trigger_spec": {}},
            {"name": "iqr-3", "trigger_spec": {"anomaly_method": "iqr", "threshold": 3}},
        ],
    }
    replay = api.post("/cep/rules/backtest", json=body)
    assert replay.status_code == 200, replay.text
    report = replay.json()
    assert (report["source"], report["samples"]) == ("events", 23)  # ingested ones: a trigger reaches one rule only
    for variant in report["variants"]:
        assert [f["value"] for f in variant["flagged"]] == [99] and variant["firings"] == 1


def test_lab13_tuning_with_labels_explains_the_false_positive_ratio(api: httpx.Client) -> None:
    values = [40 + n % 5 + (5 if n in (25, 27, 38) else 0) + (40 if n in (33, 50) else 0) for n in range(60)]
    series = [{"timestamp": at(1000 + n), "value": v, "label": n in (33, 50)} for n, v in enumerate(values)]
    rule = {**LAB4_RULE, "trigger_spec": {**LAB4_RULE["trigger_spec"], "threshold": 2.0}}
    body = {
        "rule": rule,
        "series": series,
        "variants": [
            {"name": "zscore-2", "trigger_spec": {}},
            {"name": "zscore-4", "trigger_spec": {"threshold": 4}},
            {"name": "iqr-3", "trigger_spec": {"anomaly_method": "iqr", "threshold": 3, "iqr_multiplier": 1.5}},
            {"name": "ema-4", "trigger_spec": {"anomaly_method": "ema", "threshold": 4, "ema_alpha": 0.1}},
        ],
    }
    response = api.post("/cep/rules/backtest", json=body)
    assert response.status_code == 200, response.text
    first, *tuned = response.json()["variants"]
    assert first["labels"]["false_positive"] >= 2 and first["labels"]["recall"] == 1.0
    best = min(tuned, key=lambda v: v["labels"]["false_positive_ratio"])
    assert best["labels"]["false_positive_ratio"] < first["labels"]["false_positive_ratio"]
    assert best["labels"]["recall"] == 1.0
    assert best["compared_with_first"]["false_positive_ratio"] < 0
    assert "false positive ratio" in best["compared_with_first"]["explanation"]
    assert sum(b["count"] for b in first["scores"]["histogram"]) == first["scores"]["count"] > 0
    print("\n" + "\n".join(v["compared_with_first"]["explanation"] for v in tuned))
