"""An alert's labels on the wire: they round-trip, an alert from before labels decodes to none, bad ones are named."""

from __future__ import annotations

import json

import pytest

from services.common.messages.alerts import Alert
from services.common.messages.codec import MessageError
from tests.common.messages.test_messages import ACTION, transition

LABELS = {"alertname": "cpu", "severity": "high", "priority": "P3", "host": "gt-01"}


def test_labels_round_trip() -> None:
    sent = Alert(transition=transition(labels=LABELS), actions=[ACTION])
    received = Alert.decode(sent.encode())
    assert dict(received.transition.labels) == LABELS
    assert received.transition == sent.transition


def test_an_alert_without_labels_decodes_to_none() -> None:
    data = json.loads(Alert(transition=transition(labels=LABELS), actions=[]).encode())
    del data["labels"]  # as an evaluator from before labels wrote it
    assert dict(Alert.decode(json.dumps(data).encode()).transition.labels) == {}


def test_a_label_value_that_is_not_text_is_named() -> None:
    data = json.loads(Alert(transition=transition(), actions=[]).encode())
    data["labels"] = {"host": 5}
    with pytest.raises(MessageError) as caught:
        Alert.decode(json.dumps(data).encode())
    assert "labels" in caught.value.reason
