"""From alerts to jobs, the event view and the rendered message (no I/O)."""

from __future__ import annotations

import pytest

from services.common.domain.notify.templates import TemplateError
from services.common.messages.alerts import Action
from services.common.messages.delivery import DeliveryJob
from services.notifier.delivery.jobs import event_view, jobs_for, message_of, rule_view
from tests.notifier.running import transition

ACTIONS = [
    Action(type="notify", channel="slack-ops", message="hi"),
    Action(type="api_call"),  # no channel: nothing to deliver
    Action(type="webhook", channel="c0ffee"),
    Action(type="notify", channel=""),
]


def test_one_job_per_action_naming_a_channel_with_its_index() -> None:
    fired = transition("acme")
    jobs = jobs_for(fired, ACTIONS)
    assert [(j.index, j.action.channel) for j in jobs] == [(0, "slack-ops"), (2, "c0ffee")]
    assert [j.msg_id() for j in jobs] == [f"{fired.transition_id}:0", f"{fired.transition_id}:2"]
    assert jobs_for(transition("acme", kind="updated", notify=False), ACTIONS) == []
    again = DeliveryJob.decode(jobs[1].encode())
    assert again == jobs[1] and again.tenant == "acme"


def test_event_view_uses_the_event_field_names() -> None:
    resolved = transition("acme", kind="resolved")
    view = event_view(resolved)
    assert view["status"] == "resolved" and view["resolved_at"] == "2025-05-01T12:00:00Z"
    assert view["fired_at"] == "2025-05-01T12:00:00Z" and view["event_id"] == resolved.event_id
    assert event_view(transition("acme"))["status"] == "open"


def test_messages_render_with_the_contract_context() -> None:
    fired = transition("acme")
    event = event_view(fired)
    rule = rule_view(fired, {"name": "cpu_high_alert", "owner": "sre-team"})
    text = "{{ rule.owner }}: {{ payload.host }} {{ severity }} x{{ count }} {{ event.rule_name }}"
    assert message_of(Action(type="notify", message=text), event, rule) == "sre-team: gt-01 high x1 cpu_high_alert"
    assert message_of(Action(type="notify"), event, rule) == "cpu_high_alert: cpu_usage > 85 for 5m"
    assert rule_view(fired, None)["rule_id"] == fired.rule_id
    with pytest.raises(TemplateError):
        message_of(Action(type="notify", message="{{ missing }}"), event, rule)
