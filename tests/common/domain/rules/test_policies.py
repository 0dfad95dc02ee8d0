"""Team policies as pure decisions: what counts as an activation, and which policies a rule breaks, and why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.common.domain.rules.model import parse_rule
from services.common.domain.rules.policies import (
    ActivationFacts,
    BaselineState,
    ChannelTestRecord,
    TeamPolicies,
    check_activation,
    is_activation,
    simulation_basis,
)

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
RULE: dict[str, Any] = {
    "name": "critical_cpu",
    "active": True,
    "priority": "P1",
    "trigger_type": "metric",
    "trigger_spec": {"metric_name": "cpu", "operator": ">", "threshold": 90},
    "action_spec": [{"type": "notify", "channel": "slack-ops"}, {"type": "webhook", "channel": "ops-hook"}],
}
ALL = TeamPolicies(
    min_simulations_before_activation=3,
    require_channel_test=True,
    p1_requires_owner_and_backup=True,
    anomaly_requires_ready_baseline=True,
)
PASSED = ChannelTestRecord(ok=True, at=AT, current=True)


def canonical(**changes: Any) -> dict[str, Any]:
    return parse_rule({**RULE, **changes}).canonical()


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, canonical(), True),  # created active
        (None, canonical(active=False), False),  # a draft
        (canonical(active=False), canonical(), True),  # switched on
        (canonical(), canonical(description="x", runbook="restart"), False),  # notes of a live rule
        (canonical(), canonical(trigger_spec={**RULE["trigger_spec"], "threshold": 95}), True),  # what runs changed
        (canonical(), canonical(backup_owner=None, owner="a"), True),  # ownership changed
        (canonical(), canonical(active=False), False),  # switched off
    ],
)
def test_what_is_an_activation(before: dict[str, Any] | None, after: dict[str, Any], expected: bool) -> None:
    assert is_activation(before, after) is expected


def test_the_simulation_basis_is_what_a_simulation_tests() -> None:
    base = simulation_basis(canonical())
    assert simulation_basis(canonical(description="new words", owner="sre", active=False)) == base
    assert simulation_basis(canonical(trigger_spec={**RULE["trigger_spec"], "threshold": 91})) != base
    assert simulation_basis(canonical(action_spec=[])) != base


@pytest.mark.parametrize(
    ("changes", "facts", "expected"),
    [
        (
            {"owner": "a", "backup_owner": "b"},
            ActivationFacts(3, {"slack-ops": PASSED, "ops-hook": PASSED}),
            [],
        ),
        (
            {"owner": "a", "backup_owner": "b"},
            ActivationFacts(2, {"slack-ops": PASSED, "ops-hook": PASSED}),
            [("min_simulations_before_activation", "2 of 3 simulations")],
        ),
        (
            {"owner": "a", "backup_owner": " "},
            ActivationFacts(3, {"slack-ops": PASSED, "ops-hook": None}),
            [
                ("require_channel_test", "channel 'ops-hook' does not exist"),
                ("p1_requires_owner_and_backup", "a P1 rule needs backup_owner"),
            ],
        ),
        (
            {"priority": "P2"},
            ActivationFacts(
                3,
                {
                    "slack-ops": ChannelTestRecord(ok=False, at=AT, current=True),
                    "ops-hook": ChannelTestRecord(ok=True, at=AT, current=False),
                },
            ),
            [
                (
                    "require_channel_test",
                    "the last test of channel 'slack-ops' failed; channel 'ops-hook' changed after its last passing "
                    "test; test it again",
                )
            ],
        ),
        (
            {"priority": "P2", "action_spec": [{"type": "notify", "channel": "x"}]},
            ActivationFacts(5, {"x": ChannelTestRecord(ok=None, at=None, current=False)}),
            [("require_channel_test", "channel 'x' was never tested (POST /cep/channels/test)")],
        ),
    ],
)
def test_check_activation_names_each_policy_and_why(
    changes: dict[str, Any], facts: ActivationFacts, expected: list[tuple[str, str]]
) -> None:
    found = check_activation(ALL, parse_rule({**RULE, **changes}), facts)
    assert [v.policy for v in found] == [policy for policy, _ in expected]
    for violation, (_, detail) in zip(found, expected, strict=True):
        assert detail in violation.detail


def test_anomaly_rules_need_a_ready_baseline() -> None:
    anomaly = parse_rule(
        {
            "name": "latency_anomaly",
            "active": True,
            "trigger_type": "anomaly",
            "trigger_spec": {"value_path": "latency_ms", "anomaly_method": "zscore", "threshold": 3},
        }
    )
    policies = TeamPolicies(anomaly_requires_ready_baseline=True)
    learning = BaselineState(False, "the baseline is learning: 12 of 30 samples")
    [violation] = check_activation(policies, anomaly, ActivationFacts(baseline=learning))
    assert violation.as_dict() == {"policy": "anomaly_requires_ready_baseline", "detail": learning.detail}
    assert check_activation(policies, anomaly, ActivationFacts(baseline=BaselineState(True, "ready"))) == []
    assert check_activation(TeamPolicies(), anomaly, ActivationFacts()) == []  # off by default


def test_settings_validate_and_build_the_ack_sla() -> None:
    assert not TeamPolicies().any_activation_policy and TeamPolicies().ack_sla_policy() is None
    sla = TeamPolicies(ack_sla={"P1": "5m", "P2": "1h"}).ack_sla_policy()
    assert sla is not None and sla.limits == {"P1": 300.0, "P2": 3600.0}
    assert TeamPolicies(ack_sla={}).ack_sla_policy() is not None  # {}: this tenant has no SLA at all
    for bad in ({"ack_sla": {"P7": "5m"}}, {"ack_sla": {"P1": "0s"}}, {"min_simulations_before_activation": 0}):
        with pytest.raises(ValidationError):
            TeamPolicies.model_validate(bad)
