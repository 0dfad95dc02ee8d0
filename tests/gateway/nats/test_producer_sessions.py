"""Producer sessions: reading the server's connection lists (the sweep itself runs in test_auth_callout.py)."""

from __future__ import annotations

from services.gateway.nats.producer_sessions import ProducerConnection, connections_of


def test_producer_connections_are_read_from_a_connz_answer() -> None:
    answer = {
        "server": {"id": "NSERVER"},
        "data": {"connections": [{"cid": 7, "authorized_user": "tok_1", "subscriptions": 3}, {"cid": "x"}, "junk"]},
    }
    assert connections_of(answer) == [ProducerConnection("NSERVER", 7, "tok_1", 3)]
    assert connections_of({"server": "?", "data": None}) == []
