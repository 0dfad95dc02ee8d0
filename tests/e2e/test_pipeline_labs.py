"""Labs 1, 2, 5, 7, 10 and 11 end to end against `cep up`: events in, alerts recorded, streamed, notified, acked."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.labs import LAB1_RULE, LAB5_RULE, LAB8_FORM
from tests.support.receiver import receiver
from tests.support.stack import Stack
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

# Event time starts at the wall clock: the driver's ticks (wall-clock time) stay behind these samples.
T0 = datetime.now(UTC).replace(microsecond=0)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


class SSE:
    """A background SSE reader (as a browser's EventSource would be) recording (id, event, data, seen_at)."""

    def __init__(self, url: str, token: str, last_id: str | None = None) -> None:
        self.messages: list[tuple[str, str, dict[str, Any], float]] = []
        headers = {"Last-Event-ID": last_id} if last_id else {}
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=60))
        self._response = self._client.send(
            self._client.build_request(
                "GET", f"{url}/cep/events/stream", params={"access_token": token}, headers=headers
            ),
            stream=True,
        )
        assert self._response.status_code == 200, self._response.read()
        assert self._response.headers["content-type"].startswith("text/event-stream")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for line in self._response.iter_lines():
                if line == "":
                    if "data" in fields:
                        self.messages.append(
                            (
                                fields.get("id", ""),
                                fields.get("event", ""),
                                json.loads(fields["data"]),
                                time.monotonic(),
                            )
                        )
                    fields = {}
                elif not line.startswith(":") and ":" in line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
        except httpx.HTTPError:
            pass

    def of(self, event_id: str) -> list[tuple[str, str]]:
        return [(m[0], m[1]) for m in self.messages if m[2].get("event_id") == event_id]

    def close(self) -> None:
        self._response.close()
        self._client.close()


def ingest(api: httpx.Client, items: list[dict[str, Any]]) -> dict[str, Any]:
    response = api.post("/cep/ingest", json=items)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == len(items), response.text
    return response.json()


def events_of(api: httpx.Client, rule_id: str) -> list[dict[str, Any]]:
    return api.get("/cep/events", params={"rule_id": rule_id}).json()["items"]


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> tuple[str, str]:
    """A fresh tenant with an editor token, so this module's assertions see only its own data."""
    name = f"labs-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": name, "role": "editor", "name": "lab-operator"})
    assert minted.status_code == 201, minted.text
    return name, minted.json()["token"]


def test_lab1_metric_rule_fires_is_streamed_notified_and_acked(stack: Stack, tenant: tuple[str, str]) -> None:
    _, token = tenant
    with receiver() as hook, stack.client(token) as api:
        channel = api.post(
            "/cep/channels", json={"name": "ops-webhook", "type": "webhook", "config": {"url": hook.url}}
        )
        assert channel.status_code == 201, channel.text
        rule = {
            **LAB1_RULE,
            "action_spec": [{"type": "notify", "channel": "ops-webhook", "message": "CPU {{ payload.cpu_usage }}"}],
        }
        created = api.post("/cep/rules", json=rule).json()
        assert created["active"] is False
        rule_id = created["rule_id"]
        assert api.patch(f"/cep/rules/{rule_id}", json={"active": True}).json()["active"] is True
        stream = SSE(stack.url, token)
        try:
            # Held above 85 for 5 minutes of event time: pending at t=0, firing at t=301 s.
            ingest(api, [{"cpu_usage": 92, "host": "gt-01", "timestamp": at(0)}])
            sent_at = time.monotonic()
            ingest(api, [{"cpu_usage": 93, "host": "gt-01", "timestamp": at(301)}])
            fired = eventually(lambda: events_of(api, rule_id), what="the fired event")[0]
            assert fired["status"] == "open" and fired["rule_id"] == rule_id and fired["fired_at"]
            assert fired["history"][0]["status"] == "open" and fired["history"][0]["actor"] == "system"
            received = eventually(lambda: [m for m in stream.messages if m[1] == "fired"], what="fired on SSE")
            print(f"\nSSE latency from the firing ingest's 202 to the fired message: {received[0][3] - sent_at:.3f}s")
            assert received[0][2]["event_id"] == fired["event_id"]

            # The webhook heard about it, and the event shows the per-channel result (Lab 1 step 5).
            request = hook.wait_for(1)[0]
            assert request.json()["event_id"] == fired["event_id"]

            def delivered() -> dict[str, Any] | None:
                event = api.get(f"/cep/events/{fired['event_id']}").json()
                entries = [n for n in event["notifications"] if n["status"] == "sent"]
                return event if entries else None

            event = eventually(delivered, what="notifications[] to show the delivery")
            note = next(n for n in event["notifications"] if n["status"] == "sent")
            assert note["channel"] == "ops-webhook" and note["attempts"] == 1 and note["attempt_log"][0]["n"] == 1

            # Lab 7: filter, detail, ACK with a note; the state before and after is recorded.
            assert [
                e["event_id"]
                for e in api.get("/cep/events", params={"severity": "medium", "rule_id": rule_id}).json()["items"]
            ] == [fired["event_id"]]
            acked = api.post(f"/cep/events/{fired['event_id']}/ack", json={"note": "looking"}).json()
            assert acked["status"] == "acked" and acked["acked_by"]
            assert [h["status"] for h in acked["history"]] == ["open", "acked"]
            assert acked["history"][1]["note"] == "looking"
            assert (
                api.post(f"/cep/events/{fired['event_id']}/ack", json={"note": "again"}).json()["history"]
                == acked["history"]
            )
            eventually(lambda: any(m[1] == "acked" for m in stream.messages), what="acked on SSE")
        finally:
            stream.close()

        # Lab 10: resuming with Last-Event-ID replays every later message and nothing earlier.
        ids = [m[0] for m in stream.messages]
        resumed = SSE(stack.url, token, last_id=ids[0])
        try:
            eventually(lambda: len(resumed.messages) >= len(ids) - 1, what="the replay")
            assert [m[0] for m in resumed.messages][: len(ids) - 1] == ids[1:]
        finally:
            resumed.close()


def test_lab2_event_rule_matches_only_critical_and_trigger_evaluates_it(stack: Stack, tenant: tuple[str, str]) -> None:
    _, token = tenant
    with stack.client(token) as api:
        form = {**LAB8_FORM, "actions": [], "active": "true"}
        rule = api.post("/cep/rules/form", json=form).json()
        rule_id = rule["rule_id"]
        assert api.get(f"/cep/rules/{rule_id}").json()["trigger_spec"] == rule["trigger_spec"]  # Lab 11
        warning = api.post(
            f"/cep/rules/{rule_id}/trigger", json={"payload": {"severity": "warning", "service": "api-gateway"}}
        )
        assert warning.status_code == 202, warning.text
        assert warning.json() == {"matched": False, "event_id": None, "state": "no_match"}
        critical = api.post(
            f"/cep/rules/{rule_id}/trigger", json={"payload": {"severity": "critical", "service": "api-gateway"}}
        )
        assert (
            critical.status_code == 202 and critical.json()["matched"] is True and critical.json()["state"] == "firing"
        )
        event_id = critical.json()["event_id"]
        eventually(lambda: api.get(f"/cep/events/{event_id}").status_code == 200, what="the triggered event")
        # A real ingested occurrence of the same fingerprint is absorbed into the open event.
        ingest(
            api,
            [
                {"event_type": "error", "severity": "critical", "service": "api-gateway"},
                {"event_type": "error", "severity": "warning", "service": "api-gateway"},
            ],
        )
        absorbed = eventually(
            lambda: (e := api.get(f"/cep/events/{event_id}").json())["count"] == 2 and e, what="absorption"
        )
        assert absorbed["status"] == "open"
        assert len(events_of(api, rule_id)) == 1


def test_lab5_aggregated_composite_rule_fires_on_the_window_average(stack: Stack, tenant: tuple[str, str]) -> None:
    _, token = tenant
    with stack.client(token) as api:
        rule_id = api.post("/cep/rules", json={**LAB5_RULE, "active": True}).json()["rule_id"]
        base = {"cpu": 85, "memory": 75, "disk": 10}
        ingest(api, [{**base, "cpu_percent": 70, "timestamp": at(0)}, {**base, "cpu_percent": 80, "timestamp": at(60)}])
        time.sleep(1)
        assert events_of(api, rule_id) == []  # avg 75: not above 80
        ingest(api, [{**base, "cpu_percent": 99, "timestamp": at(120)}])  # avg 83
        fired = eventually(lambda: events_of(api, rule_id), what="the aggregated rule to fire")[0]
        trigger_node = fired["explanation"][0]
        assert trigger_node["expr"] == "avg(cpu_percent) over 5m > 80" and trigger_node["result"] is True
        assert round(trigger_node["value"], 3) == 83.0
