"""The notifier's stages against a real nats-server and real HTTP receivers: storm budget and digest, cooldown,
failure events for escalation, dead letters, and never sending a recorded delivery twice."""

from __future__ import annotations

import time
import uuid
from typing import Any

from services.common.domain.lifecycle.transitions import fingerprint
from services.common.messages import codec
from services.common.messages.alerts import Action
from services.common.messages.delivery import DeliveryJob
from services.common.nats import subjects
from tests.notifier.running import RunningNotifier, tenant, transition, webhook
from tests.support.receiver import receiver


def _put_rule(notifier: RunningNotifier, owner: str, rule_id: str, **fields: Any) -> None:
    rule = {"rule_id": rule_id, "tenant": owner, "name": "cpu_high_alert", "version": 1, **fields}

    async def put() -> None:
        kv = await notifier.js.key_value(subjects.RULES_BUCKET)
        await kv.put(subjects.rule_key(owner, rule_id), codec.dumps(rule))

    notifier.run(put())


def _collect(notifier: RunningNotifier, subject: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def subscribe() -> None:
        async def on_msg(msg: Any) -> None:
            found.append(codec.loads(msg.data))

        assert notifier.service.nc is not None
        await notifier.service.nc.subscribe(subject, cb=on_msg)
        await notifier.service.nc.flush()

    notifier.run(subscribe())
    return found


def _wait(predicate: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _alert(owner: str, rule_id: str, group_key: str, kind: str = "fired", event_id: str | None = None) -> Any:
    return transition(
        owner,
        kind=kind,
        rule_id=rule_id,
        group_key=group_key,
        fingerprint=fingerprint(owner, rule_id, group_key),
        event_id=event_id or uuid.uuid4().hex,
    )


def test_a_storm_sends_the_budget_then_one_digest_and_records_every_suppression(notifier: RunningNotifier) -> None:
    owner, rule_id = tenant(), "r" + uuid.uuid4().hex[:12]
    action = {"type": "notify", "channel": "ops-hook"}
    _put_rule(notifier, owner, rule_id, action_spec=[action], suppression={"storm_budget": 3, "storm_window": "2s"})
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url))
        results = notifier.watch(owner)
        for i in range(30):
            notifier.publish_alert(_alert(owner, rule_id, f"host=h{i % 4}"), [action])
        _wait(lambda: len(results) >= 30)
        requests = hook.wait_for(4, timeout=20)  # 3 within the budget + the digest once the window has ended
        time.sleep(1.0)
        assert len(hook.requests) == 4
    kinds = [r.json()["kind"] for r in requests]
    assert kinds == ["fired", "fired", "fired", "digest"]
    digest = requests[3].json()
    assert (digest["sent"], digest["suppressed"], digest["rule_id"]) == (3, 27, rule_id)
    assert sum(k["count"] for k in digest["top_keys"]) == 27 and len(digest["top_keys"]) == 4
    assert "27 suppressed" in digest["message"]
    suppressed = [r for r in results if r.status == "suppressed"]
    assert len(suppressed) == 27 and all("storm budget of 3" in (r.reason or "") for r in suppressed)
    assert sum(r.status == "sent" for r in results) == 3


def test_cooldown_suppresses_a_refiring_alert_and_its_resolution(notifier: RunningNotifier) -> None:
    owner, rule_id = tenant(), "r" + uuid.uuid4().hex[:12]
    action = {"type": "notify", "channel": "ops-hook"}
    _put_rule(notifier, owner, rule_id, action_spec=[action], suppression={"cooldown": "1h"})
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url))
        results = notifier.watch(owner)
        first, second = uuid.uuid4().hex, uuid.uuid4().hex
        for kind, event_id in (("fired", first), ("resolved", first), ("fired", second), ("resolved", second)):
            notifier.publish_alert(_alert(owner, rule_id, "host=a", kind, event_id), [action])
            _wait(lambda n=len(results): len(results) > n)
        other = _alert(owner, rule_id, "host=b")  # another alert of the rule is not cooled down
        notifier.publish_alert(other, [action])
        notifier.wait_results(owner, final=5)
        assert len(hook.wait_for(3)) == 3
    by_event = [(r.event_id, r.status) for r in results]
    assert by_event[:4] == [(first, "sent"), (first, "sent"), (second, "suppressed"), (second, "suppressed")]
    assert "cooldown of 3600s" in (results[2].reason or "")
    assert results[4].status == "sent"


def test_failed_attempts_become_escalation_events_and_a_dead_letter(notifier: RunningNotifier) -> None:
    owner = tenant()
    failures = _collect(notifier, subjects.internal_subject(owner))
    dead = _collect(notifier, subjects.dead_subject(owner))
    with receiver(answer=lambda n: 500) as hook:
        notifier.put_channel(webhook(owner, hook.url, max_attempts=3))
        fired = transition(owner)
        notifier.watch(owner)
        notifier.publish_alert(fired, [{"type": "notify", "channel": "ops-hook"}])
        notifier.wait_results(owner)
        assert len(hook.wait_for(3)) == 3
    _wait(lambda: len(failures) >= 3 and len(dead) >= 1)
    assert [f["retry"] for f in failures] == [0, 1, 2]
    first = failures[0]
    assert first["event_type"] == "cep.notification.failed" and first["alert_fingerprint"] == fired.fingerprint
    assert (first["rule_id"], first["channel"], first["channel_type"], first["error_kind"]) == (
        fired.rule_id,
        "ops-hook",
        "webhook",
        "http",
    )
    assert [f["final"] for f in failures] == [False, False, True]
    assert dead[0]["result"]["status"] == "failed" and dead[0]["job"]["transition"]["transition_id"] == (
        fired.transition_id
    )


def test_a_failing_escalation_notification_emits_no_further_failure_event(notifier: RunningNotifier) -> None:
    owner = tenant()
    failures = _collect(notifier, subjects.internal_subject(owner))
    with receiver(answer=lambda n: 500) as hook:
        notifier.put_channel(webhook(owner, hook.url, max_attempts=2))
        escalation = transition(owner, payload={"event_type": "cep.notification.failed", "retry": 4})
        results = notifier.watch(owner)
        notifier.publish_alert(escalation, [{"type": "notify", "channel": "ops-hook"}])
        notifier.wait_results(owner)
        hook.wait_for(2)
    time.sleep(0.5)
    assert failures == [] and results[-1].status == "failed"


def test_a_job_recorded_as_sent_is_not_sent_again(notifier: RunningNotifier) -> None:
    owner = tenant()
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url))
        results = notifier.watch(owner)
        job = DeliveryJob(transition(owner), Action(type="notify", channel="ops-hook"), 0)
        subject = subjects.delivery_subject(owner)
        notifier.run(notifier.js.publish(subject, job.encode(), headers={subjects.MSG_ID: "first"}))
        notifier.wait_results(owner)
        # the same job again, as a redelivery after a crash between the send and the ack would bring it
        notifier.run(notifier.js.publish(subject, job.encode(), headers={subjects.MSG_ID: "second"}))

        async def pending() -> int:
            info = await notifier.js.consumer_info(subjects.DELIVERY_STREAM, subjects.DELIVERY_CONSUMER)
            return int(info.num_ack_pending + info.num_pending)

        _wait(lambda: notifier.run(pending()) == 0)
        time.sleep(0.3)
        assert len(hook.requests) == 1
    # the redelivered job reports its result again, the same message (one Nats-Msg-Id: the recorder keeps one)
    assert {(r.msg_id(), r.status) for r in results} == {(results[0].msg_id(), "sent")}


def test_schedule_runs_are_never_suppressed(notifier: RunningNotifier) -> None:
    owner, rule_id = tenant(), "r" + uuid.uuid4().hex[:12]
    action = {"type": "notify", "channel": "ops-hook"}
    _put_rule(notifier, owner, rule_id, action_spec=[action], suppression={"storm_budget": 1, "cooldown": "1h"})
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url))
        notifier.watch(owner)
        for _ in range(4):
            run = transition(owner, rule_id=rule_id, trigger_type="schedule", group_key="")
            notifier.publish_alert(run, [action])
        notifier.wait_results(owner, final=4)
        assert len(hook.wait_for(4)) == 4
