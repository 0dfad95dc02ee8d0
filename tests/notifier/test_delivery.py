"""Deliveries against real local HTTP receivers through the real notifier and nats-server."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook

from services.common.domain.notify.channels import split_stored
from services.common.messages import codec
from services.common.messages.alerts import Action
from services.common.messages.delivery import DeliveryJob, DeliveryResult
from services.common.nats import subjects
from services.common.ops import run_checks
from services.common.secrets.channel_sealing import sealed_config
from services.common.secrets.sealing import load_box
from services.notifier.channels.webhook import DELIVERY_HEADER, ID_HEADER
from services.notifier.consumers import FETCH_WAIT
from tests.notifier.running import RunningNotifier, running_notifier, tenant, transition, webhook
from tests.support.receiver import receiver

TOKEN = "tok-Very-Secret-4711"
HMAC_KEY = "hmac-Key-Secret-0815"


def _no_secret(notifier: RunningNotifier, owner: str, caplog: pytest.LogCaptureFixture) -> None:
    for result in notifier.results[owner]:
        text = str(result.as_dict())
        assert TOKEN not in text and HMAC_KEY not in text
    assert TOKEN not in caplog.text and HMAC_KEY not in caplog.text


def test_a_delivery_that_succeeds(notifier: RunningNotifier, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    owner = tenant()
    with receiver() as hook:
        channel = webhook(owner, hook.url, auth_token=TOKEN, secret=HMAC_KEY, headers={"X-Team": "sre"})
        notifier.put_channel(channel)
        results = notifier.watch(owner)
        fired = transition(owner)
        actions = [
            {"type": "notify"},  # names no channel: nothing to deliver
            {"type": "notify", "channel": "ops-hook", "message": "CPU {{ payload.cpu_usage }} on {{ payload.host }}"},
        ]
        notifier.publish_alert(fired, actions)
        notifier.wait_results(owner, final=1)
        request = hook.wait_for(1)[0]
    body = request.json()
    assert body["event_id"] == fired.event_id and body["rule_id"] == fired.rule_id
    assert body["message"] == "CPU 92 on gt-01"
    assert body["status"] == "open" and body["severity"] == "high" and body["payload"]["host"] == "gt-01"
    assert (
        body["fired_at"] == "2025-05-01T12:00:00Z" and body["count"] == 1 and body["id"] == f"{fired.transition_id}:1"
    )
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-team"] == "sre" and headers["content-type"] == "application/json"
    assert headers[DELIVERY_HEADER.lower()] == f"{fired.transition_id}:1"
    assert headers[ID_HEADER] == fired.transition_id  # Standard Webhooks: a plain secret's key is its UTF-8 bytes
    assert Webhook(HMAC_KEY.encode()).verify(request.body, headers)["event_id"] == fired.event_id
    [result] = results
    assert (result.status, result.final, result.attempt, result.status_code) == ("sent", True, 1, 200)
    assert (result.channel, result.channel_id, result.type, result.action_index) == (
        "ops-hook",
        channel.channel_id,
        "webhook",
        1,
    )
    assert result.event_id == fired.event_id and result.error is None and result.latency_ms is not None
    _no_secret(notifier, owner, caplog)


def test_a_channel_named_by_id_and_basic_auth(notifier: RunningNotifier) -> None:
    owner = tenant()
    with receiver() as hook:
        channel = webhook(owner, hook.url, basic_user="alice", basic_password="pw-Secret-99")
        notifier.put_channel(channel)
        results = notifier.watch(owner)
        notifier.publish_alert(transition(owner), [{"type": "webhook", "channel": channel.channel_id}])
        notifier.wait_results(owner)
        request = hook.wait_for(1)[0]
    assert request.headers["Authorization"] == "Basic YWxpY2U6cHctU2VjcmV0LTk5"
    assert [r.status for r in results] == ["sent"] and results[0].channel == channel.channel_id


def test_sealed_secrets_are_opened_for_the_attempt_only(notifier: RunningNotifier) -> None:
    """The bucket holds the entry as the gateway seals it; the receiver still gets the real credentials."""
    owner = tenant()
    box = load_box(SecretStr(os.environ["CEP_SECRETS_KEY"]), None)
    with receiver() as hook:
        real = webhook(owner, hook.url, basic_user="alice", basic_password="pw-Secret-99", headers={"X-Key": "k-4711"})
        public, secrets = split_stored("webhook", real.config, {"basic_password": "pw-Secret-99"})
        sealed = replace(real, config=sealed_config(box, "webhook", public, secrets))
        assert "pw-Secret-99" not in sealed.encode().decode() and "k-4711" not in sealed.encode().decode()
        notifier.put_channel(sealed)
        results = notifier.watch(owner)
        notifier.publish_alert(transition(owner), [{"type": "webhook", "channel": "ops-hook"}])
        notifier.wait_results(owner)
        request = hook.wait_for(1)[0]
    assert request.headers["Authorization"] == "Basic YWxpY2U6cHctU2VjcmV0LTk5" and request.headers["X-Key"] == "k-4711"
    assert [r.status for r in results] == ["sent"]


def test_500_then_200_retries_once(notifier: RunningNotifier) -> None:
    owner = tenant()
    with receiver(answer=lambda n: 500 if n == 1 else 200) as hook:
        notifier.put_channel(webhook(owner, hook.url))
        results = notifier.watch(owner)
        notifier.publish_alert(transition(owner), [{"type": "notify", "channel": "ops-hook"}])
        notifier.wait_results(owner)
        assert len(hook.wait_for(2)) == 2
        first, second = hook.requests
    assert [(r.status, r.attempt, r.final) for r in results] == [("retrying", 1, False), ("sent", 2, True)]
    assert results[0].error_kind == "http" and results[0].status_code == 500 and "HTTP 500" in (results[0].error or "")
    assert first.json()["id"] == second.json()["id"]  # the same delivery id on every attempt: receivers de-duplicate
    assert (first.headers["X-Cep-Attempt"], second.headers["X-Cep-Attempt"]) == ("1", "2")


def test_401_is_an_auth_failure_not_retried(notifier: RunningNotifier, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    owner = tenant()
    with receiver(answer=lambda n: 401) as hook:
        notifier.put_channel(webhook(owner, hook.url, auth_token=TOKEN))
        results = notifier.watch(owner)
        notifier.publish_alert(transition(owner), [{"type": "notify", "channel": "ops-hook"}])
        notifier.wait_results(owner)
        time.sleep(0.5)
        requests = len(hook.requests)
    assert requests == 1
    assert [(r.status, r.attempt, r.error_kind, r.final) for r in results] == [("failed", 1, "auth", True)]
    assert "not retried" in (results[0].reason or "")
    _no_secret(notifier, owner, caplog)


def test_500_is_retried_then_failed_after_6_attempts(notifier: RunningNotifier) -> None:
    owner = tenant()
    started = time.monotonic()
    with receiver(answer=lambda n: 500) as hook:
        notifier.put_channel(webhook(owner, hook.url))
        results = notifier.watch(owner)
        notifier.publish_alert(transition(owner), [{"type": "notify", "channel": "ops-hook"}])
        notifier.wait_results(owner)
        requests = len(hook.requests)
    assert requests == 6
    assert [(r.status, r.attempt) for r in results] == [("retrying", n) for n in range(1, 6)] + [("failed", 6)]
    assert time.monotonic() - started < 10  # 5 backoffs of at most 0.2 s each (fast settings)


def test_a_slow_endpoint_times_out_and_is_retried(notifier: RunningNotifier) -> None:
    owner = tenant()

    def slow(n: int) -> int:
        time.sleep(1.0)
        return 200

    with receiver(answer=slow) as hook:
        notifier.put_channel(webhook(owner, hook.url, timeout="200ms", max_attempts=2))
        results = notifier.watch(owner)
        notifier.publish_alert(transition(owner), [{"type": "notify", "channel": "ops-hook"}])
        notifier.wait_results(owner)
    assert [(r.status, r.error_kind) for r in results] == [("retrying", "timeout"), ("failed", "timeout")]
    assert all(r.latency_ms is not None and r.latency_ms < 900 for r in results)


def test_a_missing_channel_fails_at_once_with_kind_config(notifier: RunningNotifier) -> None:
    owner = tenant()
    results = notifier.watch(owner)
    notifier.publish_alert(transition(owner), [{"type": "notify", "channel": "no-such-channel"}])
    notifier.wait_results(owner)
    [result] = results
    assert (result.status, result.final, result.attempt, result.error_kind) == ("failed", True, 1, "config")
    assert result.channel == "no-such-channel" and result.channel_id is None


def test_a_template_error_fails_at_once_with_kind_template(notifier: RunningNotifier) -> None:
    owner = tenant()
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url))
        results = notifier.watch(owner)
        action = {"type": "notify", "channel": "ops-hook", "message": "{{ payload.nope }}"}
        notifier.publish_alert(transition(owner), [action])
        notifier.wait_results(owner)
        assert hook.requests == []
    [result] = results
    assert (result.status, result.error_kind, result.final) == ("failed", "template", True)


NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
SLOW = "{% for i in range(100000) %}{{ range(100000) | sum }}{% endfor %}"  # under the loop budget: to the deadline


@pytest.mark.parametrize(
    ("message", "detail"),
    [(NESTED_LOOPS, "loop iterations"), (SLOW, "render took longer than 1 s")],
    ids=["nested-loops", "deadline"],
)
def test_a_template_over_its_budget_fails_at_once_with_kind_template(
    notifier: RunningNotifier, message: str, detail: str
) -> None:
    """The render runs off the notifier's event loop: the loop answers at once while it runs."""
    owner = tenant()
    waits = []
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url))
        results = notifier.watch(owner)
        notifier.publish_alert(transition(owner), [{"type": "notify", "channel": "ops-hook", "message": message}])
        deadline = time.monotonic() + 20
        while not results and time.monotonic() < deadline:
            started = time.monotonic()
            notifier.run(asyncio.sleep(0))
            waits.append(time.monotonic() - started)
            time.sleep(0.02)
        notifier.wait_results(owner)
        assert hook.requests == []
    [result] = results
    assert (result.status, result.error_kind, result.final) == ("failed", "template", True)
    assert detail in (result.error or ""), result.error
    assert max(waits) < 0.5, f"the notifier's loop stalled for {max(waits):.2f} s"


def test_an_unknown_channel_type_fails_with_kind_config(notifier: RunningNotifier) -> None:
    owner = tenant()
    entry = webhook(owner, "http://127.0.0.1:9/")
    notifier.put_channel(type(entry)(owner, entry.channel_id, "pager", "carrier-pigeon", {"bird": "rk-1234"}, 1))
    results = notifier.watch(owner)
    notifier.publish_alert(transition(owner), [{"type": "notify", "channel": "pager"}])
    notifier.wait_results(owner)
    assert [(r.status, r.error_kind, r.type) for r in results] == [("failed", "config", "carrier-pigeon")]
    assert "not deliverable" in (results[0].error or "")


def test_transitions_not_to_notify_send_nothing_and_duplicates_send_once(notifier: RunningNotifier) -> None:
    owner = tenant()
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url))
        results = notifier.watch(owner)
        action = [{"type": "notify", "channel": "ops-hook"}]
        notifier.publish_alert(transition(owner, kind="updated", notify=False), action)
        fired = transition(owner)
        notifier.publish_alert(fired, action)
        notifier.publish_alert(fired, action)  # a re-published alert (same id): JetStream drops the duplicate
        notifier.wait_results(owner)
        time.sleep(0.3)
        assert len(hook.requests) == 1
    assert [(r.transition_id, r.status) for r in results] == [(fired.transition_id, "sent")]


def test_a_job_marked_sent_by_a_killed_notifier_is_reported_not_sent_again(notifier: RunningNotifier) -> None:
    """A notifier killed between marking a job sent and reporting it: the redelivered job reports the result."""
    owner = tenant()
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url))
        results = notifier.watch(owner)
        job = DeliveryJob(transition(owner), Action(type="notify", channel="ops-hook"), 0)
        reported = DeliveryResult(
            owner,
            job.transition.event_id,
            job.transition.transition_id,
            0,
            "ops-hook",
            "c1",
            "webhook",
            "sent",
            1,
            datetime(2025, 5, 1, 12, 0, 1, tzinfo=UTC),
            latency_ms=12.0,
            status_code=200,
            final=True,
        )
        mark = {"at": "2025-05-01T12:00:01Z", "result": reported.as_dict()}

        async def killed_after_the_mark() -> None:
            sent = await notifier.js.key_value(subjects.SENT_BUCKET)
            await sent.put(job.msg_id().replace(":", "."), codec.dumps(mark))
            await notifier.js.publish(subjects.delivery_subject(owner), job.encode())

        notifier.run(killed_after_the_mark())
        notifier.wait_results(owner)
        time.sleep(0.3)
        assert hook.requests == []
    assert [r.as_dict() for r in results] == [reported.as_dict()]


def test_any_channel_name_resolves_and_other_tenants_channels_do_not(notifier: RunningNotifier) -> None:
    owner, stranger = tenant(), tenant()
    with receiver() as hook:
        channel = webhook(owner, hook.url, name="Ops Slack #1 / ünïcode.x")
        notifier.put_channel(channel)
        mine, theirs = notifier.watch(owner), notifier.watch(stranger)
        notifier.publish_alert(transition(owner), [{"type": "notify", "channel": "Ops Slack #1 / ünïcode.x"}])
        notifier.publish_alert(transition(stranger), [{"type": "notify", "channel": channel.channel_id}])
        notifier.wait_results(owner)
        notifier.wait_results(stranger)
        assert len(hook.requests) == 1
    assert [r.status for r in mine] == ["sent"]
    assert [(r.status, r.error_kind) for r in theirs] == [("failed", "config")]


def test_readiness_needs_every_consumer() -> None:
    with running_notifier() as running:
        checks = running.run(run_checks(running.service.checks()))
        assert checks["consumers"].ok and checks["consumers"].detail == {"consuming": ["acks", "alerts", "deliveries"]}
        assert checks["nats"].ok
        running.service.stopping.set()
        time.sleep(FETCH_WAIT + 0.5)
        assert not running.run(run_checks(running.service.checks()))["consumers"].ok
