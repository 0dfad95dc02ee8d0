"""Handover notes on a rule (sections 18-20) and the `daily_report` action of schedule rules."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.rules.errors import RuleValidationError
from services.common.domain.rules.forms import form_to_body, preview
from services.common.domain.rules.model import parse_rule

SCHEDULE: dict[str, Any] = {
    "name": "daily_report",
    "trigger_type": "schedule",
    "trigger_spec": {"cron": "0 8 * * *", "timezone": "Europe/Berlin"},
    "action_spec": [{"type": "daily_report", "channel": "ops-mail", "window": "12h"}],
}
NOTES = {
    "purpose": "tell the on-call what yesterday looked like",
    "deactivation_criterion": "when the dashboard replaces it",
    "runbook": "1. check the channel status",
    "rollback": "deactivate the rule",
}


def test_handover_notes_round_trip_and_are_left_out_while_unset() -> None:
    plain = parse_rule(SCHEDULE).canonical()
    assert not set(NOTES) & set(plain)  # rules written before the notes keep their exact JSON
    noted = parse_rule({**SCHEDULE, **NOTES}).canonical()
    assert {k: noted[k] for k in NOTES} == NOTES
    assert parse_rule(noted).canonical() == noted


def test_the_form_carries_the_notes() -> None:
    form = {"name": "f", "trigger_type": "schedule", "trigger": {"cron": "*/5 * * * *"}, **NOTES, "rollback": ""}
    body = form_to_body(form)
    assert body["runbook"] == NOTES["runbook"] and "rollback" not in body  # an empty input is "not set"
    shown = preview(form)
    assert shown.errors == [] and shown.rule is not None and shown.rule["purpose"] == NOTES["purpose"]


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"trigger_type": "event", "trigger_spec": {"event_type": "x"}}, ("action_spec",)),
        ({"action_spec": [{"type": "daily_report"}]}, ("action_spec", 0, "channel")),
        ({"action_spec": [{"type": "daily_report", "channel": "c", "window": "8d"}]}, ("action_spec", 0, "window")),
        ({"action_spec": [{"type": "daily_report", "channel": "c", "window": "soon"}]}, ("action_spec", 0, "window")),
        ({"runbook": 42}, ("runbook",)),
        ({"purpose": "x" * 20_001}, ("purpose",)),
    ],
)
def test_bad_reports_and_notes_name_the_field(changes: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(RuleValidationError) as caught:
        parse_rule({**SCHEDULE, **changes})
    assert [e.loc for e in caught.value.errors] == [loc]
