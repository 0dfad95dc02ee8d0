"""The recorders dead-letter what they cannot decode, with the reason naming the field, and ack it."""

from __future__ import annotations

from nats.js.client import JetStreamContext

from services.common.messages import codec
from services.common.messages.alerts import action_dict, alert
from services.common.messages.dead_letters import DeadLetter
from services.common.messages.dead_letters import decode as decode_letter
from services.common.messages.schedule import RunRecord
from services.common.nats import subjects
from tests.gateway.live_gateway import (
    HOOK,
    T0,
    Episode,
    LiveGateway,
    drop_stale_results,
    new_tenant,
    recorder_idle,
    result_for,
)
from tests.support.nats import dead_letters, read
from tests.support.waiting import eventually_async


async def test_malformed_alerts_results_and_run_records_become_dead_letters(
    gateway: LiveGateway, js: JetStreamContext
) -> None:
    await drop_stale_results(js)
    tenant = new_tenant()
    episode = Episode(tenant)
    fired = codec.loads(alert(episode.transition("fired"), [action_dict(a) for a in HOOK]))
    result = result_for(episode.transition("fired"), 1, "sent").as_dict()
    record = RunRecord(tenant, "r1", 1, T0, "fired", "sched-a", 3, T0, 1.0).as_dict()
    await js.publish(subjects.alerts_subject(tenant), codec.dumps({**fired, "count": "many"}))
    await js.publish(subjects.results_subject(tenant), codec.dumps({k: v for k, v in result.items() if k != "status"}))
    await js.publish(subjects.schedule_runs_subject(tenant, "r1"), codec.dumps({**record, "fencing": [3]}))

    async def three() -> list[DeadLetter] | None:
        found = await dead_letters(js, tenant)
        return found if len(found) >= 3 else None

    letters = await eventually_async(three)
    assert sorted(letter.error for letter in letters) == [
        "recorder-results: status: Field required",
        "recorder-schedule-runs: fencing: Input should be a valid integer",
        "recorder: transition.count: Input should be a valid integer, unable to parse string as an integer",
    ]
    assert {letter.source for letter in letters} == {"undecodable"}
    assert await eventually_async(lambda: recorder_idle(js))  # acked, not coming back


async def test_a_malformed_dead_letter_becomes_an_undecodable_letter(
    gateway: LiveGateway, js: JetStreamContext
) -> None:
    tenant = new_tenant()
    await js.publish(subjects.dead_subject(tenant), codec.dumps({"dead_letter": 1, "id": "dl-x", "tenant": tenant}))

    async def reported() -> list[DeadLetter] | None:  # the stream holds the malformed letter too: read past it
        stored = [codec.loads(data) for _, data in await read(js, subjects.DEAD_STREAM, subjects.dead_subject(tenant))]
        return [decode_letter(codec.dumps(x)) for x in stored if x.get("source") == "undecodable"] or None

    (letter,) = await eventually_async(reported)
    assert letter.error == "recorder-dead-letters: source: Field required (and 1 more)" and letter.tenant == tenant
