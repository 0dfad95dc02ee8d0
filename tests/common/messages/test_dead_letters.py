"""Dead letters round-trip through their envelope; the notifier's letters read as such; bad ones name the field."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from services.common.messages import codec
from services.common.messages.codec import MessageError
from services.common.messages.dead_letters import DeadLetter, Replay, decode, letter_id
from services.common.messages.delivery import dead_letter

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
LETTER = DeadLetter(
    id=letter_id("rule_failure", "acme", "r1", "e1"),
    tenant="acme",
    source="rule_failure",
    error="ZeroDivisionError: division by zero",
    at=T0,
    rule_id="r1",
    event={"event_id": "e1"},
    origin={"stream": "CEP_WORK", "seq": 7, "subject": "cep.work.0"},
    replay=Replay("cep.ingest.acme", b'{"cpu": 1}', {"Content-Type": "application/json"}),
)


def envelope(**changes: object) -> dict[str, object]:
    body = codec.loads(LETTER.encode())
    body.update(changes)
    return body


def test_an_envelope_round_trips() -> None:
    assert decode(LETTER.encode()) == LETTER
    assert codec.loads(LETTER.encode())["replay"]["data"] == base64.b64encode(b'{"cpu": 1}').decode()


def test_a_notifier_letter_reads_as_a_failed_delivery_of_its_tenant() -> None:
    job = codec.dumps(
        {"tenant": "acme", "rule_id": "r1", "transition": {"tenant": "acme", "at": "2025-05-01T12:00:00Z"}}
    )
    letter = decode(dead_letter(job, {"status": "failed", "error": "HTTP 500"}), "job-1:0")
    assert (letter.tenant, letter.source, letter.rule_id, letter.error) == ("acme", "delivery_failed", "r1", "HTTP 500")
    assert letter.at == T0
    assert letter.replay is not None and letter.replay.subject == "cep.deliver.acme"
    assert letter.id == decode(dead_letter(job, {}), "job-1:0").id  # the same job: the same letter


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (envelope(at=5), "at"),
        (envelope(tenant="acme.*"), "tenant"),
        (envelope(id=None), "id"),
        (envelope(replay={"subject": "cep.ingest.acme", "data": "%%%"}), "replay.data"),
        (envelope(dead_letter=2), "dead_letter"),
        ({"job": [1, 2], "result": {}}, "job"),
        ({"job": {"tenant": "a b"}, "result": None}, "job.tenant"),
        ({"something": 1}, "message"),
        ([1, 2], "message"),
    ],
)
def test_a_malformed_letter_names_the_field(body: object, field: str) -> None:
    with pytest.raises(MessageError) as raised:
        decode(codec.dumps(body))
    assert raised.value.reason.startswith(f"{field}:") or raised.value.reason.startswith(f"{field}."), raised.value


def test_a_stored_replay_is_checked_too() -> None:
    assert Replay.from_dict(LETTER.replay.as_dict()) == LETTER.replay  # type: ignore[union-attr]
    with pytest.raises(MessageError, match="subject"):
        Replay.from_dict({"data": ""})
