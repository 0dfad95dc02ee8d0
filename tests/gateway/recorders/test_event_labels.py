"""The recorder stores an event's labels and its rendered annotations; a broken annotation never loses the event.

A real gateway on the session's nats-server: the rule is created over the API (its version row holds the annotation
templates), the alert goes through the alert stream as the evaluator publishes it, the Event is read back over HTTP.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
from nats.js.client import JetStreamContext

from services.common.domain.notify.annotations import ERROR_PREFIX, NOT_RENDERED, render_annotations
from services.gateway import row_codec
from services.gateway.recorders import annotation_renders, event_record
from tests.gateway.live_gateway import Episode, LiveGateway, new_tenant, publish_alert
from tests.support.waiting import eventually_async

LABELS = {"alertname": "cpu", "severity": "high", "priority": "P2", "team": "sre", "host": "web-1"}
ANNOTATIONS = {
    "summary": "{{ rule_name }} on {{ payload.host }} ({{ event.labels.team }})",
    "missing": "{{ payload.nothing.here }}",  # undefined when it fires: an error text, not a lost event
    "budget": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
}


async def _create_rule(gateway: LiveGateway, headers: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    body = {
        "name": "cpu",
        "trigger_type": "metric",
        "trigger_spec": {"metric_name": "cpu", "operator": ">", "threshold": 85, "group_by": ["host"]},
        "labels": {"team": "sre"},
        "annotations": annotations,
    }
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=10) as client:
        response = await client.post("/cep/rules", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _event(gateway: LiveGateway, headers: dict[str, str], event_id: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=10) as client:
        response = await client.get(f"/cep/events/{event_id}")
    return response.json() if response.status_code == 200 else None


async def test_labels_and_rendered_annotations_are_stored(gateway: LiveGateway, js: JetStreamContext) -> None:
    tenant = new_tenant()
    headers = gateway.token(tenant, "editor")
    # The loop over the budget is refused at save, so it is stored only through a rule saved without it.
    rule = await _create_rule(gateway, headers, {k: v for k, v in ANNOTATIONS.items() if k != "budget"})
    episode = Episode(tenant, rule_id=rule["rule_id"], group_key="host=web-1")
    fired = dataclasses.replace(episode.transition("fired", payload={"host": "web-1", "cpu": 91}), labels=LABELS)
    await publish_alert(js, fired)
    event = await eventually_async(lambda: _event(gateway, headers, episode.event_id))
    assert event["labels"] == LABELS
    assert event["annotations"]["summary"] == f"{rule['rule_id']}-name on web-1 (sre)"  # the alert's rule name
    assert event["annotations"]["missing"].startswith(ERROR_PREFIX)
    assert event["status"] == "open" and event["payload"] == {"host": "web-1", "cpu": 91}

    await publish_alert(
        js, dataclasses.replace(episode.transition("resolved"), labels={})
    )  # an evaluator without labels

    async def resolved() -> dict[str, Any] | None:
        found = await _event(gateway, headers, episode.event_id)
        return found if found and found["status"] == "resolved" else None

    final = await eventually_async(resolved)
    assert final["labels"] == LABELS and final["annotations"] == event["annotations"]


async def test_an_event_without_a_rule_version_has_no_annotations(gateway: LiveGateway, js: JetStreamContext) -> None:
    """A rule deleted long ago (no version row to read): the event is recorded all the same."""
    tenant = new_tenant()
    headers = gateway.token(tenant, "viewer")
    episode = Episode(tenant, rule_id="no-such-rule")
    await publish_alert(js, dataclasses.replace(episode.transition("fired"), labels={"alertname": "x"}))
    event = await eventually_async(lambda: _event(gateway, headers, episode.event_id))
    assert (event["labels"], event["annotations"]) == ({"alertname": "x"}, {})


def test_an_annotation_over_its_budget_stores_the_budget_error() -> None:
    """The render budget stops a template that spends it on this event; the other annotations still render."""
    event = row_codec.event_json(event_record.open_event(Episode(new_tenant()).transition("fired"), []))
    rendered = render_annotations({"budget": ANNOTATIONS["budget"], "ok": "{{ severity }}"}, event, {})
    assert rendered == {"budget": ERROR_PREFIX + "template exceeded its budget of 100000 loop iterations", "ok": "high"}


def test_annotations_past_the_batch_time_are_marked_not_rendered() -> None:
    """CEP_ANNOTATION_RENDER_SECONDS bounds all renders of a batch: with no time left, none runs and each says so."""
    event = row_codec.event_json(event_record.open_event(Episode(new_tenant()).transition("fired"), []))
    jobs = [("e1", {"a": "{{ severity }}", "b": "{{ severity }}"}, event, {})]
    assert annotation_renders.render_jobs(jobs, seconds=60) == {"e1": {"a": "high", "b": "high"}}
    assert annotation_renders.render_jobs(jobs, seconds=-1) == {"e1": {"a": NOT_RENDERED, "b": NOT_RENDERED}}
