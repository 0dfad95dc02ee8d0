"""Team policies (user guide section 22): a tenant's settings, and whether a rule may be activated under them.

Pure: the gateway gathers the facts (simulation record, channel tests, anomaly baseline) and asks
`check_activation`, which returns every violated policy with its reason, never a bare bool.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.common.domain.lifecycle.ack_sla import AckSla, AckSlaConfigError, ack_sla_from
from services.common.domain.rules.model import RuleSpec

PolicyName = Literal[
    "min_simulations_before_activation",
    "require_channel_test",
    "p1_requires_owner_and_backup",
    "anomaly_requires_ready_baseline",
]
# What a simulation tests: a change to any of these makes earlier simulations count no more.
SIMULATED_FIELDS: tuple[str, ...] = ("trigger_type", "trigger_spec", "conditions", "action_spec")
# An active rule changed in one of these is deployed anew, so the policies are checked again.
DEPLOYED_FIELDS: tuple[str, ...] = (*SIMULATED_FIELDS, "priority", "owner", "backup_owner", "active")


class TeamPolicies(BaseModel):
    """A tenant's team policies; every one is off by default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_simulations_before_activation: Annotated[int, Field(ge=1, le=1000)] | None = None
    require_channel_test: bool = False
    p1_requires_owner_and_backup: bool = False
    anomaly_requires_ready_baseline: bool = False
    ack_sla: dict[str, str] | None = Field(
        default=None, description='per priority, how long an open event may wait for an ACK: {"P1": "15m"}'
    )

    @field_validator("ack_sla")
    @classmethod
    def _sla_parses(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            try:
                ack_sla_from(value, name="ack_sla")
            except AckSlaConfigError as exc:
                raise ValueError(str(exc).removeprefix("ack_sla: ")) from None
        return value

    def ack_sla_policy(self) -> AckSla | None:
        """The tenant's own ACK SLA, or None to use the platform's (`CEP_ACK_SLA`)."""
        return None if self.ack_sla is None else ack_sla_from(self.ack_sla, name="ack_sla")

    @property
    def any_activation_policy(self) -> bool:
        """Whether activation is checked at all."""
        return bool(
            self.min_simulations_before_activation
            or self.require_channel_test
            or self.p1_requires_owner_and_backup
            or self.anomaly_requires_ready_baseline
        )


@dataclass(frozen=True)
class ChannelTestRecord:
    """The last test of a channel a rule uses: `current` when it ran after the channel's last change."""

    ok: bool | None
    at: datetime | None
    current: bool


@dataclass(frozen=True)
class BaselineState:
    """What the evaluator says of an anomaly rule's baseline (`detail` when it could not be asked)."""

    ready: bool
    detail: str


@dataclass(frozen=True)
class ActivationFacts:
    """What the policies look at, gathered by the gateway for one rule about to be active.

    `channel_tests` maps each channel reference of the rule's actions to its last test (None: no such channel).
    """

    simulations: int = 0
    channel_tests: Mapping[str, ChannelTestRecord | None] = field(default_factory=dict)
    baseline: BaselineState | None = None


@dataclass(frozen=True)
class Violation:
    """One policy a rule breaks, and why."""

    policy: PolicyName
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"policy": self.policy, "detail": self.detail}


def channels_of(spec: RuleSpec) -> list[str]:
    """The channel references of a rule's actions, in order, once each."""
    return list(dict.fromkeys(a.channel for a in spec.action_spec if a.channel))


def simulation_basis(canonical: Mapping[str, Any]) -> str:
    """A fingerprint of what a simulation tests of a rule (its canonical JSON's simulated fields)."""
    tested = {name: canonical.get(name) for name in SIMULATED_FIELDS}
    return hashlib.sha256(json.dumps(tested, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


def is_activation(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> bool:
    """Whether a write deploys a rule: it ends active, and it is new, was inactive, or changed what runs."""
    if not after.get("active"):
        return False
    if before is None or not before.get("active"):
        return True
    return any(before.get(name) != after.get(name) for name in DEPLOYED_FIELDS)


def check_activation(policies: TeamPolicies, spec: RuleSpec, facts: ActivationFacts) -> list[Violation]:
    """Every policy the rule breaks if it is activated now, in the order of section 22 (empty: allowed)."""
    found: list[Violation] = []
    wanted = policies.min_simulations_before_activation
    if wanted and facts.simulations < wanted:
        found.append(
            Violation(
                "min_simulations_before_activation",
                f"{facts.simulations} of {wanted} simulations of this rule since its trigger, conditions or actions "
                f"last changed; simulate it with POST /cep/rules/{{rule_id}}/simulate",
            )
        )
    if policies.require_channel_test:
        untested = [_channel_problem(ref, facts.channel_tests.get(ref)) for ref in channels_of(spec)]
        problems = [p for p in untested if p]
        if problems:
            found.append(Violation("require_channel_test", "; ".join(problems)))
    if policies.p1_requires_owner_and_backup and spec.priority == "P1":
        missing = [name for name in ("owner", "backup_owner") if not (getattr(spec, name) or "").strip()]
        if missing:
            found.append(Violation("p1_requires_owner_and_backup", f"a P1 rule needs {' and '.join(missing)}"))
    if policies.anomaly_requires_ready_baseline and spec.trigger_type == "anomaly":
        baseline = facts.baseline
        if baseline is None or not baseline.ready:
            detail = baseline.detail if baseline is not None else "the baseline is not established yet"
            found.append(Violation("anomaly_requires_ready_baseline", detail))
    return found


def _channel_problem(ref: str, test: ChannelTestRecord | None) -> str | None:
    if test is None:
        return f"channel {ref!r} does not exist"
    if test.at is None or test.ok is None:
        return f"channel {ref!r} was never tested (POST /cep/channels/test)"
    if not test.ok:
        return f"the last test of channel {ref!r} failed"
    if not test.current:
        return f"channel {ref!r} changed after its last passing test; test it again"
    return None
