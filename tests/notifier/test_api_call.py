"""The api_call sender against a real local server: methods, the templated body, auth, and the recorded answer."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

import httpx
import pytest

from services.common.messages.channels import ChannelEntry
from services.notifier.channels.api_call import send
from services.notifier.channels.base import Delivery, Outcome, excerpt
from tests.support.http_sink import http_sink

TOKEN = "tok-Api-Secret-4711"
EVENT: dict[str, Any] = {
    "event_id": "e1",
    "rule_id": "r1",
    "rule_name": "cpu_high_alert",
    "severity": "high",
    "status": "open",
    "group_key": "host=gt-01",
    "summary": "cpu_usage > 85 for 5m",
    "fired_at": "2025-05-01T12:00:00Z",
    "count": 1,
    "payload": {"host": "gt-01", "cpu_usage": 92},
}
BODY = '{"host": "{{ payload.host }}", "rule": "{{ rule.name }}", "sev": "{{ severity }}"}'


def _delivery(url: str, rule: dict[str, Any] | None = None, **config: Any) -> Delivery:
    full = {"url": url, "method": "GET", "headers": {}, "timeout": "5s", **config}
    entry = ChannelEntry("t", uuid.uuid4().hex, "call", "api_call", full, 1)
    return Delivery("tid:0", entry, EVENT, "message", 1, rule=rule)


async def _send(delivery: Delivery) -> Outcome:
    async with httpx.AsyncClient() as client:
        return await send(client, delivery)


async def test_a_get_sends_no_body_and_records_the_answer() -> None:
    with http_sink(lambda r: (200, b'{"created": "INC-42"}')) as api:
        outcome = await _send(_delivery(api.url + "/incidents?x=1", body=BODY, headers={"X-Team": "sre"}))
        [request] = api.wait_for(1)
    assert (request.method, request.path, request.body) == ("GET", "/incidents?x=1", b"")
    assert request.headers["X-Team"] == "sre" and "Content-Type" not in request.headers
    assert (outcome.ok, outcome.status_code, outcome.excerpt) == (True, 200, '{"created": "INC-42"}')


async def test_a_post_renders_the_body_with_the_message_context_and_sends_auth() -> None:
    with http_sink(lambda r: (201, b"")) as api:
        outcome = await _send(_delivery(api.url, method="POST", body=BODY, auth_token=TOKEN))
        [request] = api.wait_for(1)
    assert request.method == "POST" and request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.json() == {"host": "gt-01", "rule": "cpu_high_alert", "sev": "high"}
    assert request.headers["Content-Type"] == "application/json"
    assert (outcome.ok, outcome.status_code, outcome.excerpt) == (True, 201, "")


async def test_the_pipeline_rule_and_the_channel_content_type_win() -> None:
    with http_sink() as api:
        delivery = _delivery(
            api.url,
            {"name": "stored-name", "owner": "sre"},
            method="PUT",
            body="{{ rule.owner }}/{{ rule.name }}",
            headers={"content-type": "text/x-custom"},
        )
        await _send(delivery)
        [request] = api.wait_for(1)
    assert request.body == b"sre/stored-name" and request.headers["content-type"] == "text/x-custom"


async def test_a_plain_text_body_is_sent_as_text() -> None:
    with http_sink() as api:
        await _send(_delivery(api.url, method="PATCH", body="{{ summary }}"))
        [request] = api.wait_for(1)
    assert request.body == b"cpu_usage > 85 for 5m" and request.headers["Content-Type"].startswith("text/plain")


async def test_delete_sends_no_body() -> None:
    with http_sink(lambda r: (204, b"")) as api:
        outcome = await _send(_delivery(api.url + "/silences/1", method="DELETE", body=BODY))
        [request] = api.wait_for(1)
    assert (request.method, request.body, outcome.status_code) == ("DELETE", b"", 204)


async def test_a_missing_variable_is_a_template_error_and_nothing_is_sent() -> None:
    with http_sink() as api:
        outcome = await _send(_delivery(api.url, method="POST", body="{{ payload.nope }} {{ nothing }}"))
        assert api.requests == []
    assert (outcome.ok, outcome.error_kind) == (False, "template") and "nope" in str(outcome.detail)


async def test_a_body_over_its_budget_fails_with_kind_template_and_leaves_the_loop_free() -> None:
    ticks: list[float] = []

    async def heartbeat() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    beat = asyncio.create_task(heartbeat())
    slow = "{% for i in range(100000) %}{{ range(100000) | sum }}{% endfor %}"
    with http_sink() as api:
        outcome = await _send(_delivery(api.url, method="POST", body=slow))
        assert api.requests == []
    beat.cancel()
    assert (outcome.ok, outcome.error_kind) == (False, "template")
    assert outcome.detail == "body: render took longer than 1 s"
    assert max(later - earlier for earlier, later in itertools.pairwise(ticks)) < 0.5


@pytest.mark.parametrize(("status", "kind"), [(401, "auth"), (404, "http"), (500, "http")])
async def test_failures_keep_the_answer_excerpt(status: int, kind: str) -> None:
    with http_sink(lambda r: (status, b"upstream says no")) as api:
        outcome = await _send(_delivery(api.url))
    assert (outcome.ok, outcome.error_kind, outcome.status_code) == (False, kind, status)
    assert outcome.excerpt == "upstream says no"


async def test_the_excerpt_is_bounded_lenient_and_redacted() -> None:
    echo = b"\xff\xfe token=" + TOKEN.encode() + b" " + b"x" * 2000
    with http_sink(lambda r: (200, echo)) as api:
        outcome = await _send(_delivery(api.url, auth_token=TOKEN))
    assert outcome.excerpt is not None and len(outcome.excerpt.encode()) <= 512
    assert outcome.excerpt.startswith("\ufffd\ufffd token=***") and TOKEN not in outcome.excerpt
    # a secret straddling the 512th byte is still hidden, not cut in half
    head = b"y" * 505 + TOKEN.encode()
    assert excerpt(head, [TOKEN]) == "y" * 505 + "***"


async def test_an_unreachable_url_is_a_network_error() -> None:
    outcome = await _send(_delivery("http://127.0.0.1:9/x", auth_token=TOKEN))
    assert (outcome.ok, outcome.error_kind, outcome.excerpt) == (False, "network", None)
    assert TOKEN not in str(outcome)
