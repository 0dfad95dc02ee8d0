"""Delivery by the tenant's notification policy in the running notifier, against a real nats-server and real local
HTTP receivers: a route's receiver gets the alerts of a rule without actions, a rule's own action to the same
channel is not doubled, tenants without a policy (or with another tenant's) are unchanged, a route's time
intervals record `suppressed`, `continue` reaches two receivers, and a restarted notifier routes the same way.
Each alert here is a group of its own, notified at once; the route's grouping is in test_policy_grouping.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.domain.routing.route_groups import POLICY_GROUP_INDEX
from services.common.messages import codec
from services.common.messages.delivery import DeliveryResult
from services.common.nats import subjects
from services.common.ops import run_checks
from services.notifier.app import NotifierService
from tests.notifier.muting_entries import matcher, put_silence
from tests.notifier.running import RunningNotifier, fast_settings, running_notifier, tenant, transition, webhook
from tests.support.receiver import receiver

DB = {"alertname": "db_down", "team": "db", "host": "db-1"}
ALWAYS = {"name": "always", "time_intervals": [{"times": [{"start_time": "00:00", "end_time": "24:00"}]}]}


def _policy(routes: list[dict[str, Any]], receivers: list[dict[str, Any]]) -> dict[str, Any]:
    """Every alert in its own group (`...`, each alert's labels differ), notified at once (group_wait 0s): each
    delivery carries one alert. Grouping proper is tested in test_policy_grouping.py."""
    return {
        "route": {"receiver": "none", "routes": routes, "group_by": ["..."], "group_wait": "0s"},
        "receivers": [{"name": "none", "channels": []}, *receivers],
        "time_intervals": [ALWAYS],
    }


DB_TO_HOOK = _policy([{"matchers": ['team="db"'], "receiver": "db"}], [{"name": "db", "channels": ["db-hook"]}])


def _put_policy(notifier: RunningNotifier, owner: str, policy: Mapping[str, Any], version: int = 1) -> None:
    """Write the policy as the gateway's publisher does (key: the tenant), once the notifier holds it."""

    async def put() -> None:
        kv = await notifier.js.key_value(subjects.NOTIFICATION_POLICIES_BUCKET)
        await kv.put(owner, codec.dumps({"tenant": owner, "version": version, "policy": policy}))

    notifier.run(put())
    mirror = notifier.service.policies
    assert mirror is not None
    _wait(lambda: (held := mirror.of_tenant(owner)) is not None and held.version == version)


def _wait(predicate: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _seen(results: list[DeliveryResult]) -> list[tuple[str, str, str, str | None, str | None]]:
    """(event, channel, status, via, reason) of each final result, sorted (the reason of those not sent)."""
    return sorted(
        (r.event_id, r.channel, r.status, r.via, r.reason if r.status != "sent" else None) for r in results if r.final
    )


def _alert(owner: str, event_id: str, labels: Mapping[str, str] = DB) -> Any:
    """An alert of its own: its labels name the event."""
    return transition(owner, labels={**labels, "event": event_id}, event_id=event_id, fingerprint=event_id)


def _events(request: Any) -> list[str]:
    """The events a policy group's delivery carries."""
    return [alert["event_id"] for alert in request.json()["alerts"]]


def test_the_notifier_is_not_ready_before_its_policies_are_loaded() -> None:
    service = NotifierService(fast_settings())  # not started: nothing loaded
    checks = asyncio.run(run_checks(service.checks()))
    assert (checks["routing"].ok, checks["routing"].detail) == (False, {"waiting": "setting up"})


def test_a_route_delivers_an_alert_of_a_rule_without_actions_to_its_receiver(notifier: RunningNotifier) -> None:
    owner = tenant()
    _put_policy(notifier, owner, DB_TO_HOOK)
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url, name="db-hook"))
        notifier.watch(owner)
        notifier.publish_alert(_alert(owner, "e1"), [])
        notifier.publish_alert(_alert(owner, "e2", {"team": "web"}), [])  # the root's null receiver: nothing
        notifier.publish_alert(_alert(owner, "e3"), [])
        results = notifier.wait_results(owner, final=2)
        assert _seen(results) == [
            ("e1", "db-hook", "sent", "policy:0", None),
            ("e3", "db-hook", "sent", "policy:0", None),
        ]
        assert {r.action_index for r in results} == {POLICY_GROUP_INDEX}  # apart from any rule's actions
        bodies = [(_events(r)[0], r.json()["alerts"][0]["labels"]["team"]) for r in hook.wait_for(2)]
        assert sorted(bodies) == [("e1", "db"), ("e3", "db")]
        time.sleep(0.3)
        assert len(hook.requests) == 2


def test_a_rules_own_action_to_the_policys_channel_is_not_doubled(notifier: RunningNotifier) -> None:
    owner = tenant()
    with receiver() as hook, receiver() as other:
        channel = webhook(owner, hook.url, name="db-hook")
        policy = _policy(  # the policy names the channel by id, the rule by name: the same channel
            [{"matchers": ['team="db"'], "receiver": "db"}], [{"name": "db", "channels": [channel.channel_id, "other"]}]
        )
        _put_policy(notifier, owner, policy)
        notifier.put_channel(channel)
        notifier.put_channel(webhook(owner, other.url, name="other"))
        notifier.watch(owner)
        actions = [{"type": "notify", "channel": "db-hook", "message": "by the rule"}]
        notifier.publish_alert(_alert(owner, "e1"), actions)
        assert _seen(notifier.wait_results(owner, final=2)) == [
            ("e1", "db-hook", "sent", None, None),
            ("e1", "other", "sent", "policy:0", None),
        ]
        assert [r.json()["message"] for r in hook.wait_for(1)] == ["by the rule"]
        other.wait_for(1)
        time.sleep(0.3)
        assert (len(hook.requests), len(other.requests)) == (1, 1)


def test_tenants_without_a_policy_are_unchanged_and_never_take_anothers(notifier: RunningNotifier) -> None:
    owner, bystander = tenant(), tenant()
    _put_policy(notifier, owner, DB_TO_HOOK)
    with receiver() as hook:
        notifier.put_channel(webhook(bystander, hook.url, name="db-hook"))  # the same channel name, another tenant
        notifier.watch(bystander)
        notifier.publish_alert(_alert(bystander, "no-actions"), [])
        notifier.publish_alert(_alert(bystander, "own-action"), [{"type": "notify", "channel": "db-hook"}])
        assert _seen(notifier.wait_results(bystander, final=1)) == [("own-action", "db-hook", "sent", None, None)]
        time.sleep(0.3)
        assert [r.json()["event_id"] for r in hook.requests] == ["own-action"]
        assert len(notifier.results[bystander]) == 1


def test_a_route_muted_by_its_time_interval_records_suppressed(notifier: RunningNotifier) -> None:
    owner = tenant()
    routes = [{"matchers": ['team="db"'], "receiver": "db", "mute_time_intervals": ["always"]}]
    _put_policy(notifier, owner, _policy(routes, [{"name": "db", "channels": ["db-hook"]}]))
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url, name="db-hook"))
        notifier.watch(owner)
        notifier.publish_alert(_alert(owner, "e1"), [])
        reason = "muted by the notification policy: route 0 is inside a mute time interval 'always'"
        assert _seen(notifier.wait_results(owner, final=1)) == [("e1", "db-hook", "suppressed", "policy:0", reason)]
        time.sleep(0.3)
        assert hook.requests == []


def test_continue_sends_to_two_receivers(notifier: RunningNotifier) -> None:
    owner = tenant()
    routes = [
        {"matchers": ['team="db"'], "receiver": "db", "continue": True},
        {"matchers": ['host=~"db-.*"'], "receiver": "hosts"},
    ]
    receivers = [{"name": "db", "channels": ["db-hook"]}, {"name": "hosts", "channels": ["hosts-hook"]}]
    _put_policy(notifier, owner, _policy(routes, receivers))
    with receiver() as db_hook, receiver() as hosts_hook:
        notifier.put_channel(webhook(owner, db_hook.url, name="db-hook"))
        notifier.put_channel(webhook(owner, hosts_hook.url, name="hosts-hook"))
        notifier.watch(owner)
        notifier.publish_alert(_alert(owner, "e1"), [])
        assert _seen(notifier.wait_results(owner, final=2)) == [
            ("e1", "db-hook", "sent", "policy:0", None),
            ("e1", "hosts-hook", "sent", "policy:1", None),
        ]
        assert _events(db_hook.wait_for(1)[0]) == _events(hosts_hook.wait_for(1)[0]) == ["e1"]


def test_a_restarted_notifier_routes_the_same_way() -> None:
    owner = tenant()
    with receiver() as hook:
        with running_notifier() as first:
            _put_policy(first, owner, DB_TO_HOOK)
            first.put_channel(webhook(owner, hook.url, name="db-hook"))
        with running_notifier() as second:  # a new process: it loads the policies before it consumes an alert
            assert second.run(run_checks(second.service.checks()))["routing"].ok
            second.watch(owner)
            second.publish_alert(_alert(owner, "e1"), [])
            assert _seen(second.wait_results(owner, final=1)) == [("e1", "db-hook", "sent", "policy:0", None)]
        assert [_events(r) for r in hook.wait_for(1)] == [["e1"]]


def test_a_silence_mutes_the_policys_delivery_and_a_new_version_applies_next(notifier: RunningNotifier) -> None:
    owner = tenant()
    _put_policy(notifier, owner, DB_TO_HOOK)
    now = datetime.now(UTC)
    muting = notifier.service.muting
    assert muting is not None
    silence_id = notifier.run(
        put_silence(notifier.js, owner, [matcher("host", "db-1")], now - timedelta(hours=1), now + timedelta(hours=1))
    )
    _wait(lambda: any(e.silence.id == silence_id for e in muting.silences.of_tenant(owner)))
    with receiver() as hook, receiver() as web:
        notifier.put_channel(webhook(owner, hook.url, name="db-hook"))
        notifier.put_channel(webhook(owner, web.url, name="web-hook"))
        notifier.watch(owner)
        notifier.publish_alert(_alert(owner, "e1"), [])
        assert _seen(notifier.wait_results(owner, final=1)) == [
            ("e1", "db-hook", "suppressed", "policy:0", f"silenced by {silence_id}")
        ]
        to_web = _policy([{"matchers": ['team="web"'], "receiver": "web"}], [{"name": "web", "channels": ["web-hook"]}])
        _put_policy(notifier, owner, to_web, version=2)
        notifier.publish_alert(_alert(owner, "e2", {"team": "web"}), [])
        assert _seen(notifier.wait_results(owner, final=2))[1] == ("e2", "web-hook", "sent", "policy:0", None)
        assert [_events(r) for r in web.wait_for(1)] == [["e2"]]
        assert hook.requests == []
