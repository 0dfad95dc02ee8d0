"""Timers held in the delivery stream (group flushes and repeats wait there for hours, unacknowledged) never
stop other deliveries: a tenant with more open groups than a consumer's default ack limit (1,000) cannot stall
everyone's notifications."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from services.common.messages.delivery import GroupJob
from services.common.nats import subjects
from tests.notifier.running import RunningNotifier, tenant, transition, webhook
from tests.support.receiver import receiver

HELD = 1_200  # above JetStream's default max_ack_pending (1,000)


@pytest.mark.slow  # publishes and holds 1,200 timers: a few seconds
def test_a_tenants_many_held_group_timers_do_not_stall_another_tenants_delivery(notifier: RunningNotifier) -> None:
    noisy, quiet = tenant(), tenant()
    held_before = _ack_pending(notifier)
    due = time.time() + 20  # after the check below; when due, a timer without a group acks and is gone

    async def hold_timers() -> None:
        for n in range(HELD):
            timer = GroupJob("repeat-timer", noisy, "r-noisy", uuid.uuid4().hex, f"host=h{n}", due, 1)
            await notifier.js.publish(
                subjects.delivery_subject(noisy), timer.encode(), headers={subjects.MSG_ID: timer.msg_id()}
            )

    notifier.run(hold_timers(), timeout=120)
    deadline = time.monotonic() + 30
    while _info(notifier).num_pending:
        assert time.monotonic() < deadline, "the notifier stopped taking jobs: held timers fill the ack limit"
        time.sleep(0.1)
    with receiver() as hook:
        notifier.put_channel(webhook(quiet, hook.url))
        results = notifier.watch(quiet)
        notifier.publish_alert(transition(quiet), [{"type": "notify", "channel": "ops-hook"}])
        notifier.wait_results(quiet, timeout=20)
        assert len(hook.requests) == 1
    assert [r.status for r in results] == ["sent"]
    while _ack_pending(notifier) > held_before:  # leave no held timer to the next test
        assert time.monotonic() < deadline + 60, "the timers did not fire"
        time.sleep(0.2)


def _info(notifier: RunningNotifier) -> Any:
    return notifier.run(notifier.js.consumer_info(subjects.DELIVERY_STREAM, subjects.DELIVERY_CONSUMER))


def _ack_pending(notifier: RunningNotifier) -> int:
    return int(_info(notifier).num_ack_pending)
