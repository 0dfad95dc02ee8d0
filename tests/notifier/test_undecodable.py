"""Messages the notifier cannot decode go to the dead letters with a reason naming the field, and are acked."""

from __future__ import annotations

import time

from services.common.messages import codec
from services.common.messages.alerts import Action, action_dict, alert
from services.common.messages.dead_letters import DeadLetter
from services.common.messages.delivery import DeliveryJob
from services.common.messages.feed import feed
from services.common.nats import subjects
from tests.notifier.running import RunningNotifier, tenant, transition
from tests.support.nats import dead_letters

ACTION = Action(type="notify", channel="ops-hook")


def _letters(notifier: RunningNotifier, owner: str, count: int) -> list[DeadLetter]:
    deadline = time.monotonic() + 20
    while True:
        found = notifier.run(dead_letters(notifier.js, owner))
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _pending(notifier: RunningNotifier, stream: str, consumer: str) -> tuple[int, int]:
    info = notifier.run(notifier.js.consumer_info(stream, consumer))
    return info.num_pending, info.num_ack_pending


def test_a_malformed_alert_job_or_ack_notice_is_dead_lettered_with_the_field(notifier: RunningNotifier) -> None:
    owner = tenant()
    body = codec.loads(alert(transition(owner), [action_dict(ACTION)]))
    job = codec.loads(DeliveryJob(transition(owner), ACTION, 0).encode())
    notice = {"event_id": "ev-1", "tenant": owner, "rule_id": "r1", "fired_at": 12}
    published = [
        (subjects.alerts_subject(owner), codec.dumps({**body, "rule_version": "two"})),  # wrong type
        (subjects.delivery_subject(owner), codec.dumps({k: v for k, v in job.items() if k != "index"})),  # missing
        (subjects.acks_subject(owner), feed("acked", notice)),  # wrong type
    ]
    # Earlier tests' group and repeat timers wait in the delivery stream as unacknowledged messages (for hours):
    # none of this test's messages may join them.
    held_before = _pending(notifier, subjects.DELIVERY_STREAM, subjects.DELIVERY_CONSUMER)[1]
    for subject, data in published:
        notifier.run(notifier.js.publish(subject, data))

    letters = _letters(notifier, owner, 3)
    assert sorted((letter.source, letter.error) for letter in letters) == [
        ("undecodable", "deliverer: index: Field required"),
        ("undecodable", "notifier-acks: event.fired_at: expected an RFC 3339 time string, got int"),
        (
            "undecodable",
            "notifier: transition.rule_version: Input should be a valid integer, unable to parse string as an integer",
        ),
    ]
    letter = next(x for x in letters if x.error.startswith("deliverer"))
    assert letter.tenant == owner and letter.origin and letter.origin["subject"] == subjects.delivery_subject(owner)
    assert letter.replay is not None and codec.loads(letter.replay.data) == {
        k: v for k, v in job.items() if k != "index"
    }
    # acked, not redelivered
    assert _pending(notifier, subjects.ALERTS_STREAM, subjects.NOTIFIER_CONSUMER)[1] == 0
    assert _pending(notifier, subjects.DELIVERY_STREAM, subjects.DELIVERY_CONSUMER)[1] <= held_before
