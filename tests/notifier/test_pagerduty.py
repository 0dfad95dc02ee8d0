"""The PagerDuty sender: Events API v2 bodies, checked by a real local server that validates them as the real
API does, and through the real notifier (the alert fingerprint is the dedup_key of every change)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from services.common.messages.channels import ChannelEntry
from services.notifier.channels.base import Delivery
from services.notifier.channels.pagerduty import body, classify, send
from tests.notifier.running import RunningNotifier, tenant, transition
from tests.support.http_sink import http_sink
from tests.support.receiver import Received

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
EVENT: dict[str, Any] = {
    "event_id": "e1",
    "transition_id": "t1",
    "fingerprint": "fp-123",
    "kind": "fired",
    "rule_id": "r1",
    "rule_name": "cpu_high_alert",
    "severity": "high",
    "group_key": "host=gt-01",
    "summary": "cpu_usage > 85 for 5m",
    "at": "2025-05-01T12:00:00Z",
    "value": 92,
    "payload": {"host": "gt-01"},
}
_ACTIONS = {"trigger", "acknowledge", "resolve"}
_SEVERITIES = {"critical", "error", "warning", "info"}


def events_api(request: Received) -> tuple[int, bytes]:
    """What the Events API v2 answers: 202 for a valid event of the known routing key, 400 with reasons else."""
    try:
        event = request.json()
    except ValueError:
        return 400, b'{"status":"invalid event","message":"Event object is invalid","errors":["not JSON"]}'
    errors = []
    if event.get("routing_key") != ROUTING_KEY:
        errors.append("Invalid routing key")
    if event.get("event_action") not in _ACTIONS:
        errors.append("'event_action' is invalid")
    if not isinstance(event.get("dedup_key"), str) or not 0 < len(event["dedup_key"]) <= 255:
        errors.append("'dedup_key' is invalid")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        if not payload.get("summary") or len(payload["summary"]) > 1024:
            errors.append("'payload.summary' is missing or blank")
        if not payload.get("source"):
            errors.append("'payload.source' is missing or blank")
        if payload.get("severity") not in _SEVERITIES:
            errors.append("'payload.severity' is invalid")
    elif set(event) - {"routing_key", "event_action", "dedup_key"}:
        errors.append("unexpected fields")
    if errors:
        answer = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        return 400, json.dumps(answer).encode()
    answer = {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]}
    return 202, json.dumps(answer).encode()


def _channel(url: str, routing_key: str = ROUTING_KEY) -> ChannelEntry:
    config = {"routing_key": routing_key, "url": url, "timeout": "5s"}
    return ChannelEntry("t", uuid.uuid4().hex, "pager", "pagerduty", config, 1)


def _delivery(url: str = "http://h/enqueue", routing_key: str = ROUTING_KEY, **event: Any) -> Delivery:
    return Delivery("t1:0", _channel(url, routing_key), {**EVENT, **event}, "CPU 92 on gt-01", 1)


def test_a_trigger_carries_the_payload() -> None:
    assert body(_delivery()) == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "fp-123",
        "payload": {
            "summary": "CPU 92 on gt-01",
            "source": "host=gt-01",
            "severity": "error",
            "timestamp": "2025-05-01T12:00:00Z",
            "component": "cpu_high_alert",
            "custom_details": {
                "rule_id": "r1",
                "event_id": "e1",
                "group_key": "host=gt-01",
                "value": 92,
                "payload": {"host": "gt-01"},
            },
        },
    }


@pytest.mark.parametrize(
    ("severity", "mapped"),
    [("critical", "critical"), ("high", "error"), ("medium", "warning"), ("low", "info"), ("info", "info")],
)
def test_severities_map_to_pagerduty_ones(severity: str, mapped: str) -> None:
    assert body(_delivery(severity=severity))["payload"]["severity"] == mapped


@pytest.mark.parametrize(("kind", "action"), [("acked", "acknowledge"), ("resolved", "resolve")])
def test_acknowledge_and_resolve_send_only_the_key(kind: str, action: str) -> None:
    assert body(_delivery(kind=kind)) == {"routing_key": ROUTING_KEY, "event_action": action, "dedup_key": "fp-123"}


def test_a_channel_test_triggers_under_its_event_id() -> None:
    test_event = {"event_id": "test-1", "kind": "test", "rule_name": "channel test", "severity": "info"}
    sent = body(Delivery("test-1", _channel("http://h/"), test_event, "CEP channel test for pager", 1))
    assert (sent["event_action"], sent["dedup_key"], sent["payload"]["source"]) == ("trigger", "test-1", "channel test")


@pytest.mark.parametrize(
    ("status", "kind"), [(202, None), (400, "config"), (401, "auth"), (403, "auth"), (429, "http"), (502, "http")]
)
def test_classify(status: int, kind: str | None) -> None:
    outcome = classify(status, b'{"message":"Event object is invalid","errors":["Invalid routing key"]}', 1.0)
    assert (outcome.ok, outcome.error_kind, outcome.status_code) == (kind is None, kind, status)


async def test_trigger_acknowledge_resolve_are_accepted_by_the_events_api() -> None:
    with http_sink(events_api, "application/json") as api:
        async with httpx.AsyncClient() as client:
            outcomes = [
                await send(client, _delivery(api.url + "/v2/enqueue", kind=k)) for k in ("fired", "acked", "resolved")
            ]
        requests = api.wait_for(3)
    assert [(o.ok, o.status_code) for o in outcomes] == [(True, 202)] * 3
    sent = [r.json() for r in requests]
    assert [s["event_action"] for s in sent] == ["trigger", "acknowledge", "resolve"]
    assert {s["dedup_key"] for s in sent} == {"fp-123"} and requests[0].path == "/v2/enqueue"


async def test_an_invalid_event_is_config_and_names_the_reason_not_the_key() -> None:
    with http_sink(events_api, "application/json") as api:
        async with httpx.AsyncClient() as client:
            outcome = await send(client, _delivery(api.url, routing_key="wrong-Key-0815"))
    assert (outcome.ok, outcome.error_kind, outcome.status_code) == (False, "config", 400)
    assert "Invalid routing key" in str(outcome.detail) and "wrong-Key-0815" not in str(outcome)


@pytest.mark.parametrize(("status", "kind"), [(403, "auth"), (429, "http"), (503, "http")])
async def test_refusals_and_overload(status: int, kind: str) -> None:
    with http_sink(
        lambda _: (
            status,
            b'{"status":"throttle event","message":"Requests for this service are arriving too quickly"}',
        )
    ) as api:
        async with httpx.AsyncClient() as client:
            outcome = await send(client, _delivery(api.url))
    assert (outcome.ok, outcome.error_kind, outcome.status_code) == (False, kind, status)


def test_the_notifier_keys_every_change_of_an_alert_by_its_fingerprint(notifier: RunningNotifier) -> None:
    owner = tenant()
    with http_sink(events_api, "application/json") as api:
        channel = ChannelEntry(
            owner,
            uuid.uuid4().hex,
            "pager",
            "pagerduty",
            {"routing_key": ROUTING_KEY, "url": api.url, "timeout": "5s"},
            1,
        )
        notifier.put_channel(channel)
        results = notifier.watch(owner)
        fired = transition(owner, fingerprint="fp-" + uuid.uuid4().hex)
        resolved = transition(owner, kind="resolved", fingerprint=fired.fingerprint, event_id=fired.event_id)
        for change in (fired, resolved):
            notifier.publish_alert(change, [{"type": "notify", "channel": "pager"}])
        notifier.wait_results(owner, final=2)
        requests = api.wait_for(2)
    assert sorted(r.json()["event_action"] for r in requests) == ["resolve", "trigger"]
    assert {r.json()["dedup_key"] for r in requests} == {fired.fingerprint}
    assert [(r.status, r.type) for r in results] == [("sent", "pagerduty")] * 2
    assert all(ROUTING_KEY not in str(r.as_dict()) for r in results)
