"""`postableAlerts` into events: Alertmanager's defaults at receipt, and every refusal naming its field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.domain.posted_alerts.postable import PostableError, PostLimits, posted_alert_events

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LIMITS = PostLimits(alerts=3, labels=3, name=10, value=20, annotations=2, annotation=30)


def test_defaults_start_now_and_end_five_minutes_after_receipt() -> None:
    [only] = posted_alert_events([{"labels": {"alertname": "A"}}], LIMITS, NOW)
    assert only == {
        "event_type": "alertmanager.alert",
        "labels": {"alertname": "A"},
        "annotations": {},
        "startsAt": "2024-05-01T12:00:00Z",
        "endsAt": "2024-05-01T12:05:00Z",
        "generatorURL": "",
    }


def test_posted_times_kept_and_only_an_end_starts_at_the_end() -> None:
    body = [
        {"labels": {"a": "1"}, "startsAt": "2024-05-01T11:00:00Z", "endsAt": "2024-05-01T13:00:00.5Z"},
        {"labels": {"a": "2"}, "endsAt": "2024-05-01T11:30:00Z", "annotations": {"s": "x"}, "generatorURL": "u"},
        {"labels": {"a": "3"}, "startsAt": "0001-01-01T00:00:00.000Z", "endsAt": "0001-01-01T00:00:00Z"},  # Go zero
    ]
    first, second, third = posted_alert_events(body, LIMITS, NOW)
    assert (first["startsAt"], first["endsAt"]) == ("2024-05-01T11:00:00Z", "2024-05-01T13:00:00.500000Z")
    assert (second["startsAt"], second["endsAt"]) == ("2024-05-01T11:30:00Z", "2024-05-01T11:30:00Z")
    assert (second["annotations"], second["generatorURL"]) == ({"s": "x"}, "u")
    assert (third["startsAt"], third["endsAt"]) == ("2024-05-01T12:00:00Z", "2024-05-01T12:05:00Z")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"labels": {"a": "1"}}, "the body must be a JSON array"),
        ([{"labels": {"a": "1"}}] * 4, "at most 3 alerts in one post, got 4"),
        (["x"], "[0]: an alert must be a JSON object"),
        ([{"annotations": {}}], "[0].labels in body is required"),
        ([{"labels": {}}], "[0].labels: at least one label pair required"),
        ([{"labels": {"a": ""}}], "[0].labels: at least one label pair required"),
        ([{"labels": {"a": "1"}}, {"labels": {"bad-name": "1"}}], "[1].labels.bad-name: invalid label name"),
        ([{"labels": {"a": 1}}], "[0].labels.a: the value must be a string"),
        ([{"labels": {"a": "x" * 21}}], "[0].labels.a: a value is at most 20 characters"),
        ([{"labels": {"abcdefghijk": "1"}}], "a name is at most 10 characters"),
        ([{"labels": {"a": "1", "b": "1", "c": "1", "d": "1"}}], "[0].labels: at most 3 entries, got 4"),
        ([{"labels": {"a": "1"}, "annotations": {"s": "y" * 31}}], "[0].annotations.s: a value is at most 30"),
        ([{"labels": {"a": "1"}, "annotations": {"a": "", "b": "", "c": ""}}], "[0].annotations: at most 2"),
        ([{"labels": {"a": "1"}, "startsAt": "yesterday"}], "[0].startsAt: invalid timestamp"),
        ([{"labels": {"a": "1"}, "endsAt": 5}], "[0].endsAt: an RFC 3339 time"),
        (
            [{"labels": {"a": "1"}, "startsAt": "2024-05-01T12:00:00Z", "endsAt": "2024-05-01T11:00:00Z"}],
            "[0].endsAt: start time must be before end time",
        ),
        ([{"labels": {"a": "1"}, "status": {}}], "[0].status: unknown field"),
        ([{"labels": {"a": "1"}, "generatorURL": 3}], "[0].generatorURL: a string"),
    ],
)
def test_refusals_name_the_field(body: Any, message: str) -> None:
    with pytest.raises(PostableError) as caught:
        posted_alert_events(body, LIMITS, NOW)
    assert message in str(caught.value)
