"""Alertmanager's webhook body built from events: resolved alerts, batches, common labels, and old events."""

from __future__ import annotations

import pytest

from services.common.domain.labels.label_set import fingerprint
from services.common.domain.notify.alertmanager_webhook import ZERO_TIME, body, group_key, group_names_of
from services.common.domain.notify.channels import ChannelValidationError, parse_channel


def _event(host: str, status: str = "open", **extra: object) -> dict[str, object]:
    labels = {"alertname": "disk_full", "severity": "high", "host": host, "team": "db"}
    return {
        "event_id": f"ev-{host}",
        "rule_name": "disk_full",
        "severity": "high",
        "status": status,
        "summary": f"disk_full on {host}",
        "fired_at": "2026-12-06T08:00:00Z",
        "at": "2026-12-06T08:05:00Z",
        "resolved_at": "2026-12-06T08:05:00Z" if status == "resolved" else None,
        "labels": labels,
        **extra,
    }


def test_a_resolved_event_ends_when_it_resolved_and_a_firing_one_never_ended() -> None:
    resolved = body([_event("a", "resolved")], receiver="hook")
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["endsAt"] == "2026-12-06T08:05:00Z"
    firing = body([_event("a")], receiver="hook")
    assert firing["status"] == "firing" and firing["alerts"][0]["endsAt"] == ZERO_TIME


def test_a_batch_is_one_body_with_what_its_alerts_share() -> None:
    batch = body(
        [_event("a"), _event("b", "resolved")], receiver="ops", group_names=group_names_of("team=db"), truncated=3
    )
    assert batch["status"] == "firing"  # one alert still fires
    assert batch["commonLabels"] == {"alertname": "disk_full", "severity": "high", "team": "db"}
    assert batch["groupLabels"] == {"alertname": "disk_full", "team": "db"}
    assert batch["groupKey"] == '{}:{alertname="disk_full", team="db"}'
    assert batch["commonAnnotations"] == {}  # the summaries differ
    assert batch["truncatedAlerts"] == 3 and batch["receiver"] == "ops" and batch["version"] == "4"
    assert [a["fingerprint"] for a in batch["alerts"]] == [fingerprint(e["labels"]) for e in (_event("a"), _event("b"))]


def test_an_event_without_labels_gets_the_rule_fields() -> None:
    event = _event("a", labels=None, priority="P1")
    assert body([event], receiver="hook")["alerts"][0]["labels"] == {
        "alertname": "disk_full",
        "severity": "high",
        "priority": "P1",
    }


def test_the_rules_annotations_win_over_summary_and_description() -> None:
    event = _event("a", annotations={"summary": "custom", "runbook": "r"})
    annotations = body([event], receiver="hook", messages=["the message"])["alerts"][0]["annotations"]
    assert annotations == {"summary": "custom", "description": "the message", "runbook": "r"}


def test_group_keys_quote_values_as_alertmanager_does() -> None:
    assert group_key({}) == "{}:{}"
    assert group_key({"b": 'say "hi"', "a": "x"}) == '{}:{a="x", b="say \\"hi\\""}'
    assert group_names_of("") == [] and group_names_of("host=a,region=eu") == ["host", "region"]


def test_the_format_is_a_choice_of_the_webhook_channel() -> None:
    config = {"url": "https://hooks.example/am", "format": "alertmanager", "external_url": "https://cep.example"}
    parse_channel({"name": "am", "type": "webhook", "config": config})
    with pytest.raises(ChannelValidationError) as caught:
        parse_channel({"name": "am", "type": "webhook", "config": {**config, "format": "grafana"}})
    assert "config.format: must be one of: cep, alertmanager" in str(caught.value)
