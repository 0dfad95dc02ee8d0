"""Message templates and webhook bodies see the event's labels (`{{ labels.team }}`), as the Event shows them."""

from __future__ import annotations

import dataclasses

from services.common.domain.notify.templates import render, template_context
from services.notifier.delivery.jobs import event_view
from tests.notifier.running import transition


def test_the_event_view_has_the_labels_of_the_transition() -> None:
    fired = dataclasses.replace(transition("acme"), labels={"alertname": "cpu", "team": "sre"})
    view = event_view(fired)
    assert view["labels"] == {"alertname": "cpu", "team": "sre"}
    assert render("{{ labels.team }}/{{ event.labels.alertname }}", template_context(view, {})) == "sre/cpu"
    assert event_view(transition("acme"))["labels"] == {}  # an alert from before labels
