"""Grouped notifications, repeats, and ACK notices through the real notifier, nats-server and HTTP receivers."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from services.common.domain.events.model import format_time
from services.common.domain.lifecycle.transitions import fingerprint
from services.common.messages.channels import ChannelEntry
from services.common.messages.feed import feed
from services.common.nats import subjects
from tests.notifier.running import FIRED_AT, RunningNotifier, tenant, transition, webhook
from tests.notifier.test_noise_and_escalation import _put_rule
from tests.support.receiver import receiver


def _fired(owner: str, rule_id: str, host: str, n: int) -> Any:
    group_key = f"host={host},disk={n}"
    return transition(
        owner,
        rule_id=rule_id,
        group_key=group_key,
        fingerprint=fingerprint(owner, rule_id, group_key),
        payload={"host": host, "disk": n, "usage": 97},
        summary=f"disk {n} of {host} is full",
    )


def _ack_notice(notifier: RunningNotifier, fired: Any) -> None:
    event = {
        "event_id": fired.event_id,
        "tenant": fired.tenant,
        "rule_id": fired.rule_id,
        "rule_name": fired.rule_name,
        "rule_version": 1,
        "trigger_type": "metric",
        "severity": fired.severity,
        "priority": "P1",
        "status": "acked",
        "fired_at": format_time(FIRED_AT),
        "last_seen": format_time(FIRED_AT),
        "acked_at": format_time(FIRED_AT),
        "acked_by": "alice",
        "count": 1,
        "group_key": fired.group_key,
        "fingerprint": fired.fingerprint,
        "summary": fired.summary,
        "payload": dict(fired.payload),
    }
    body = feed("acked", event)
    subject = subjects.acks_subject(fired.tenant)
    notifier.run(notifier.js.publish(subject, body, headers={subjects.MSG_ID: f"ack:{fired.event_id}"}))


def test_alerts_of_one_group_go_out_as_one_message_and_each_event_records_it(notifier: RunningNotifier) -> None:
    owner, rule_id = tenant(), "r" + uuid.uuid4().hex[:12]
    action = {"type": "notify", "channel": "ops-hook", "message": "{{ summary }}"}
    _put_rule(notifier, owner, rule_id, action_spec=[action], suppression={"group_by": ["host"], "group_wait": "1s"})
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url))
        results = notifier.watch(owner)
        alerts = [_fired(owner, rule_id, host, n) for host in ("a", "b") for n in range(3)]
        for alert in alerts:
            notifier.publish_alert(alert, [action])
        requests = hook.wait_for(2)
        time.sleep(0.5)
        assert len(hook.requests) == 2
        notifier.wait_results(owner, final=6)
    bodies = sorted((r.json() for r in requests), key=lambda b: b["group_key"])
    assert [b["group_key"] for b in bodies] == ["host=a", "host=b"]
    first = bodies[0]
    assert first["kind"] == "group" and first["count"] == 3 and len(first["alerts"]) == 3
    assert first["message"].splitlines() == [
        "[3 firing, 0 resolved] cpu_high_alert {host=a}",
        "- disk 0 of a is full",
        "- disk 1 of a is full",
        "- disk 2 of a is full",
    ]
    assert sorted(r.event_id for r in results) == sorted(a.event_id for a in alerts)
    assert all(r.status == "sent" and "batch of 3" in (r.reason or "") for r in results)


@pytest.mark.slow  # several seconds: make test keeps its budget
def test_repeats_go_out_until_the_alert_is_acknowledged(notifier: RunningNotifier) -> None:
    owner, rule_id = tenant(), "r" + uuid.uuid4().hex[:12]
    action = {"type": "notify", "channel": "ops-hook"}
    suppression = {"group_by": ["host"], "group_wait": "0s", "repeat_interval": "1s"}
    _put_rule(notifier, owner, rule_id, action_spec=[action], suppression=suppression)
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url))
        fired = _fired(owner, rule_id, "a", 1)
        notifier.publish_alert(fired, [action])
        requests = hook.wait_for(3, timeout=20)  # the batch, then a reminder every second
        assert [r.json()["repeat"] for r in requests[:3]] == [False, True, True]
        assert requests[1].json()["summary"].startswith("[REMINDER, still firing] cpu_high_alert")
        _ack_notice(notifier, fired)
        time.sleep(1.5)
        count = len(hook.requests)
        time.sleep(2.5)
        assert len(hook.requests) == count  # no reminder after the ACK


def test_an_ack_sends_acknowledge_to_pagerduty_only(notifier: RunningNotifier) -> None:
    owner, rule_id = tenant(), "r" + uuid.uuid4().hex[:12]
    actions = [{"type": "notify", "channel": "pager"}, {"type": "notify", "channel": "ops-hook"}]
    _put_rule(notifier, owner, rule_id, action_spec=actions)
    with receiver() as pd, receiver() as hook:
        config = {"routing_key": "R0123456789abcdef0123456789abcdef", "url": pd.url, "timeout": "10s"}
        notifier.put_channel(ChannelEntry(owner, uuid.uuid4().hex, "pager", "pagerduty", config, 1))
        notifier.put_channel(webhook(owner, hook.url))
        results = notifier.watch(owner)
        fired = _fired(owner, rule_id, "a", 1)
        notifier.publish_alert(fired, actions)
        notifier.wait_results(owner, final=2)
        _ack_notice(notifier, fired)
        _ack_notice(notifier, fired)  # a repeated notice (same id) changes nothing
        notifier.wait_results(owner, final=3)
        pd.wait_for(2)
        time.sleep(0.5)
        assert len(pd.requests) == 2 and len(hook.requests) == 1
    trigger, acknowledge = (r.json() for r in pd.requests)
    assert (trigger["event_action"], acknowledge["event_action"]) == ("trigger", "acknowledge")
    assert trigger["dedup_key"] == acknowledge["dedup_key"] == fired.fingerprint
    acked = [r for r in results if r.transition_id == f"ack:{fired.event_id}"]
    assert [(r.status, r.channel, r.type) for r in acked] == [("sent", "pager", "pagerduty")]
