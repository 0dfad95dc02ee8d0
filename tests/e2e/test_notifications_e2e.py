"""Labs 6 and 12, the escalation rule, a storm and a killed notifier, end to end against `cep up`."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.support.http_sink import http_sink
from tests.support.receiver import Received
from tests.support.stack import Stack
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
FAST_RETRIES = {"retry_initial": "100ms", "retry_max": "200ms"}


@pytest.fixture(scope="module")
def api(stack: Stack) -> Any:
    name = f"notify-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": name, "role": "editor", "name": "sre"})
    assert minted.status_code == 201, minted.text
    with stack.client(minted.json()["token"]) as client:
        yield client


def channel(api: httpx.Client, name: str, kind: str, config: dict[str, Any]) -> str:
    created = api.post("/cep/channels", json={"name": name, "type": kind, "config": config})
    assert created.status_code == 201, created.text
    return str(created.json()["channel_id"])


def event_rule(api: httpx.Client, name: str, event_type: str, actions: list[dict[str, Any]], **extra: Any) -> str:
    body = {
        "name": name,
        "active": True,
        "trigger_type": "event",
        "trigger_spec": {"event_type": event_type, "group_by": ["case"], "resolve_after": "1h"},
        "action_spec": actions,
        **extra,
    }
    created = api.post("/cep/rules", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["rule_id"])


def notification(api: httpx.Client, event_id: str, final: bool = True) -> dict[str, Any]:
    """The event's first notification once it is final (sent or failed)."""

    def probe() -> dict[str, Any] | None:
        event = api.get(f"/cep/events/{event_id}").json()
        entries = event.get("notifications") or []
        if entries and (not final or entries[0]["status"] in ("sent", "failed", "suppressed")):
            return dict(entries[0])
        return None

    return dict(eventually(probe, what=f"the notification of {event_id}"))


def trigger(api: httpx.Client, rule_id: str, payload: dict[str, Any]) -> str:
    answer = api.post(f"/cep/rules/{rule_id}/trigger", json={"payload": payload})
    assert answer.status_code == 202, answer.text
    assert answer.json()["state"] == "firing", answer.text
    return str(answer.json()["event_id"])


def test_lab6_channel_tests_record_every_cause(api: httpx.Client) -> None:
    types = {t["type"]: t for t in api.get("/cep/channels/types").json()["items"]}
    assert set(types) == {"webhook", "slack", "email", "pagerduty", "api_call"}
    assert all(t["deliverable"] for t in types.values())

    def slow(request: Received) -> tuple[int, bytes]:
        time.sleep(2.0)
        return 200, b"{}"

    def guarded(request: Received) -> tuple[int, bytes]:
        return (200, b"{}") if request.headers.get("Authorization") == "Bearer right" else (401, b"no")

    with http_sink() as good, http_sink(slow) as sluggish, http_sink(guarded) as locked:
        ok = api.post("/cep/channels/test", json={"type": "webhook", "config": {"url": good.url}}).json()
        assert ok["ok"] is True and ok["status_code"] == 200 and ok["error"] is None
        channel(api, "lab6-slow", "webhook", {"url": sluggish.url, "timeout": "500ms"})
        channel(api, "lab6-locked", "webhook", {"url": locked.url, "auth_token": "wrong"})
        channel(api, "lab6-template", "api_call", {"url": good.url, "method": "POST", "body": "{{ nope.missing }}"})
        expected = {"lab6-slow": "timeout", "lab6-locked": "auth", "lab6-template": "template"}
        for _ in range(2):  # reproducible: the same cause every time
            for name, kind in expected.items():
                answer = api.post("/cep/channels/test", json={"channel": name}).json()
                assert answer["ok"] is False and answer["error"]["kind"] == kind, (name, answer)
        assert "wrong" not in json.dumps(api.get("/cep/channels").json())
    status = {s["name"]: s for s in api.get("/cep/channels/status").json()["items"]}
    for name, kind in expected.items():
        last = status[name]["last_test"]
        assert last["ok"] is False and last["error"]["kind"] == kind, status[name]


def test_lab12_failure_injection_and_recovery(api: httpx.Client) -> None:
    def answer(request: Received) -> tuple[int, bytes]:
        if request.path.startswith("/slow"):
            time.sleep(1.5)
        if request.headers.get("Authorization") != "Bearer lab12-token":
            return 401, b"who are you"
        return 200, b"{}"

    with http_sink(answer) as sink:
        good = {"url": f"{sink.url}/hook", "auth_token": "lab12-token", **FAST_RETRIES}
        channel_id = channel(api, "lab12-hook", "webhook", {**good, "max_attempts": 3})
        rule_id = event_rule(api, "lab12", "lab12", [{"type": "webhook", "channel": "lab12-hook"}])

        def reconfigure(config: dict[str, Any]) -> None:
            put = api.put(
                f"/cep/channels/{channel_id}", json={"name": "lab12-hook", "type": "webhook", "config": config}
            )
            assert put.status_code == 200, put.text

        # A: a URL where nothing listens
        reconfigure({**good, "url": "http://127.0.0.1:9/nothing", "max_attempts": 2})
        a = notification(api, trigger(api, rule_id, {"event_type": "lab12", "case": "A"}))
        assert a["status"] == "failed" and a["attempts"] == 2 and a["last_error"].startswith("network")
        # B: the auth header removed (an explicit null clears the stored secret)
        reconfigure({**good, "auth_token": None, "max_attempts": 2})
        b = notification(api, trigger(api, rule_id, {"event_type": "lab12", "case": "B"}))
        assert b["status"] == "failed" and b["last_error"].startswith("auth: HTTP 401")
        # C: a short timeout against a slow endpoint: every retry is in the attempt log
        reconfigure({**good, "url": f"{sink.url}/slow", "timeout": "300ms", "max_attempts": 3})
        c = notification(api, trigger(api, rule_id, {"event_type": "lab12", "case": "C"}))
        assert c["status"] == "failed" and [line["n"] for line in c["attempt_log"]] == [1, 2, 3]
        assert all(line["error"].startswith("timeout") for line in c["attempt_log"])
        # Recovery: fix the channel, test it, trigger again
        reconfigure({**good, "max_attempts": 3})
        assert api.post("/cep/channels/test", json={"channel": "lab12-hook"}).json()["ok"] is True
        fixed = notification(api, trigger(api, rule_id, {"event_type": "lab12", "case": "fixed"}))
        assert fixed["status"] == "sent" and fixed["attempts"] == 1
        signed = sink.requests[-1].headers
        assert {"webhook-id", "webhook-timestamp"} <= {k.lower() for k in signed}


@pytest.mark.slow  # several seconds: make test keeps its budget
def test_escalation_rule_fires_once_for_an_alert_whose_notifications_keep_failing(api: httpx.Client) -> None:
    with http_sink(lambda _: (500, b"down")) as broken, http_sink() as pager:
        channel(api, "esc-broken", "webhook", {"url": broken.url, "max_attempts": 10, **FAST_RETRIES})
        channel(api, "esc-pager", "webhook", {"url": pager.url})
        failing = event_rule(api, "esc-source", "esc-source", [{"type": "webhook", "channel": "esc-broken"}])
        escalation = api.post(
            "/cep/rules",
            json={
                "name": "escalation",
                "active": True,
                "priority": "P1",
                "trigger_type": "event",
                "trigger_spec": {
                    "event_type": "cep.notification.failed",
                    "group_by": ["alert_fingerprint"],
                    "resolve_after": "1h",
                },
                "conditions": {"logic": "AND", "conditions": [{"field": "retry", "op": ">", "value": 3}]},
                "action_spec": [{"type": "notify", "channel": "esc-pager"}],
            },
        )
        assert escalation.status_code == 201, escalation.text
        escalation_id = escalation.json()["rule_id"]
        source = trigger(api, failing, {"event_type": "esc-source", "case": "1"})
        failed = notification(api, source)
        assert failed["status"] == "failed" and failed["attempts"] == 10
        assert len(broken.requests) == 10

        def escalated() -> list[dict[str, Any]] | None:
            items = api.get("/cep/events", params={"rule_id": escalation_id}).json()["items"]
            return items if items and items[0]["count"] == 6 else None  # retries 4..9 match `retry > 3`

        [event] = eventually(escalated, what="one escalation event absorbing six failures")
        assert event["payload"]["rule_id"] == failing and event["payload"]["channel"] == "esc-broken"
        pager.wait_for(1)
        time.sleep(1.0)
        assert len(pager.requests) == 1  # one page, not one per failure


@pytest.mark.slow  # long (a stack or a kill and recovery): `make test-slow` keeps `make test` under 10 min
def test_sigkill_of_the_notifier_mid_delivery_loses_no_notification(stack: Stack, api: httpx.Client) -> None:
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def slow_ok(request: Received) -> tuple[int, bytes]:
        time.sleep(0.3)
        with lock:
            seen[request.headers.get("webhook-id", "")] += 1
        return 200, b"{}"

    alerts = 120
    with http_sink(slow_ok) as sink:
        channel(api, "kill-hook", "webhook", {"url": sink.url, "secret": "whsec_" + "a2lsbC10aGUtbm90aWZpZXI="})
        rule_id = event_rule(
            api,
            "kill-notifier",
            "kill-notifier",
            [{"type": "webhook", "channel": "kill-hook"}],
            suppression={"storm_budget": 1000},
        )
        items = [{"event_type": "kill-notifier", "case": f"c{i}"} for i in range(alerts)]
        assert api.post("/cep/ingest", json=items).status_code == 202
        eventually(lambda: len(sink.requests) >= 10, what="deliveries in flight")
        records = json.loads((stack.state_dir / "supervisor.json").read_text())["children"]
        print(f"\nkilling the notifier after {len(sink.requests)} of {alerts} deliveries started")
        os.killpg(records["notifier"]["pid"], signal.SIGKILL)

        statuses: Counter[str] = Counter()

        def all_sent() -> bool:
            items = api.get("/cep/events", params={"rule_id": rule_id, "limit": 1000}).json()["items"]
            statuses.clear()
            statuses.update(str([n["status"] for n in e["notifications"]]) for e in items)
            return len(items) == alerts and all(e["notifications"][0]["status"] == "sent" for e in items)

        try:
            eventually(all_sent, timeout=120, what="every notification sent after the restart")
        except AssertionError as exc:  # say where it stopped: events by their notifications' statuses
            raise AssertionError(f"{exc}; events by notification statuses: {dict(statuses)}") from None
        time.sleep(1.0)
    assert len(seen) == alerts  # every alert's webhook-id arrived; a repeat (if any) carried the same id
    repeats = sum(n - 1 for n in seen.values())
    print(f"repeated deliveries after the kill: {repeats}")
    with stack.client() as admin:
        ready = admin.get("/readyz").json()
    assert ready["checks"]["supervisor"]["detail"]["notifier"]["restarts"] >= 1


@pytest.mark.slow
def test_a_storm_of_10000_matching_events_sends_the_budget_and_one_digest(api: httpx.Client) -> None:
    with http_sink() as sink:
        channel(api, "storm-hook", "webhook", {"url": sink.url})
        rule_id = event_rule(
            api,
            "storm",
            "storm",
            [{"type": "webhook", "channel": "storm-hook"}],
            suppression={"storm_window": "2m"},  # the whole storm in one window
        )
        for start in range(0, 10_000, 1000):
            batch = [{"event_type": "storm", "case": f"host-{i % 2500}-{i}"} for i in range(start, start + 1000)]
            assert api.post("/cep/ingest", json=batch).status_code == 202

        def digest() -> dict[str, Any] | None:
            bodies = [r.json() for r in sink.requests]
            found = [b for b in bodies if b.get("kind") == "digest"]
            return found[0] if found else None

        body = eventually(digest, timeout=400, what="the storm digest")
        time.sleep(1.0)
        sent = [r for r in sink.requests if r.json().get("kind") == "fired"]
    assert len(sent) == 20 and (body["sent"], body["suppressed"]) == (20, 10_000 - 20)
    listed = api.get("/cep/events", params={"rule_id": rule_id, "limit": 1000}).json()
    assert listed["total"] == 10_000
    assert sum(e["suppressed"] for e in listed["items"]) >= 1000 - 20
