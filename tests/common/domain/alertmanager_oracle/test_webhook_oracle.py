"""The `format: alertmanager` webhook body against the body the real Alertmanager sends for the same alert.

Alertmanager 0.25 gets the alert over its API and notifies a real local HTTP server; our notifier's webhook
channel sends the same event (as the notifier sees it) to another one. The bodies must have the same fields, the
same alert fields, the same labels, fingerprint, group labels, group key and common labels and annotations.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.common.messages.channels import ChannelEntry
from services.notifier.channels.base import Delivery
from services.notifier.channels.webhook import send
from tests.common.domain.alertmanager_oracle.conftest import PLAIN
from tests.support.alertmanager import Alertmanager, stamp
from tests.support.http_sink import Sink, http_sink

LABELS = {"alertname": "disk_full", "severity": "high", "priority": "P2", "host": "db-1", "suite": "webhook"}
ANNOTATIONS = {"summary": "disk_full on db-1", "description": "disk at 97%", "runbook": "https://wiki/disk"}


@pytest.fixture
def notified(alertmanager: Alertmanager) -> Iterator[Sink]:
    """Alertmanager notifying a webhook receiver on a real local server, grouped by alertname."""
    with http_sink() as sink:
        # The root route (our group key is the root route's): other suites' alerts reach the sink too, in their
        # own groups, and the test picks its own group's body.
        route = {"receiver": "hook", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1s"}
        receivers = [{"name": "null"}, {"name": "hook", "webhook_configs": [{"url": f"{sink.url}/am"}]}]
        alertmanager.reload({"route": route, "receivers": receivers, "inhibit_rules": []})
        try:
            yield sink
        finally:
            alertmanager.reload(PLAIN)


def _ours(event: dict[str, Any], message: str) -> dict[str, Any]:
    with http_sink() as sink:
        config = {"url": f"{sink.url}/ours", "format": "alertmanager", "external_url": "http://cep.example:8080"}
        channel = ChannelEntry("t", "c1", "hook", "webhook", config, 1)

        async def go() -> None:
            async with httpx.AsyncClient() as client:
                outcome = await send(client, Delivery("tid:0", channel, event, message, 1))
                assert outcome.ok, outcome.error

        asyncio.run(go())
        received: dict[str, Any] = json.loads(sink.wait_for(1)[0].body)
        return received


def _body_of_group(sink: Sink, alertname: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for request in list(sink.requests):
            body: dict[str, Any] = json.loads(request.body)
            if body["groupLabels"] == {"alertname": alertname}:
                return body
        time.sleep(0.05)
    raise AssertionError(f"Alertmanager sent no notification for {alertname}")


def test_a_firing_alert_has_the_body_alertmanager_sends(alertmanager: Alertmanager, notified: Sink) -> None:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    alertmanager.post_alerts([{"labels": LABELS, "annotations": ANNOTATIONS, "startsAt": stamp(started)}])
    theirs = _body_of_group(notified, "disk_full")

    event = {
        "event_id": "ev-1",
        "transition_id": "tid",
        "kind": "fired",
        "rule_name": "disk_full",
        "severity": "high",
        "priority": "P2",
        "status": "open",
        "summary": "disk_full on db-1",
        "fired_at": stamp(started),
        "at": stamp(started),
        "labels": LABELS,
        "annotations": {"runbook": "https://wiki/disk"},
    }
    ours = _ours(event, "disk at 97%")

    assert set(ours) == set(theirs)
    assert set(ours["alerts"][0]) == set(theirs["alerts"][0])
    for name in ("version", "status", "receiver", "groupKey", "groupLabels", "commonLabels", "commonAnnotations"):
        assert ours[name] == theirs[name], name
    assert ours["truncatedAlerts"] == theirs["truncatedAlerts"] == 0
    mine, real = ours["alerts"][0], theirs["alerts"][0]
    for name in ("status", "labels", "annotations", "fingerprint", "endsAt"):
        assert mine[name] == real[name], name
    assert datetime.fromisoformat(mine["startsAt"]) == datetime.fromisoformat(real["startsAt"])
    assert mine["generatorURL"] == "http://cep.example:8080/cep-events?event=ev-1"
    assert ours["externalURL"] == "http://cep.example:8080"
