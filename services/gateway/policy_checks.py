"""Team policies in the gateway: a tenant's settings, the facts a rule activation is judged on, and the 409.

The decision itself is pure (services/common/domain/rules/policies.py); this module reads the tenant's settings, the
rule's simulation record and its channels' last tests from SQL, asks the evaluator about an anomaly rule's
baseline, and turns violations into a 409 problem naming the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from services.common.db.sql_engine import Database
from services.common.db.tables import RuleRow
from services.common.domain.lifecycle.ack_sla import AckSla
from services.common.domain.rules.errors import FieldError
from services.common.domain.rules.model import RuleSpec
from services.common.domain.rules.policies import (
    ActivationFacts,
    BaselineState,
    ChannelTestRecord,
    TeamPolicies,
    Violation,
    channels_of,
    check_activation,
    is_activation,
    simulation_basis,
)
from services.gateway.ack_sla import SlaSource
from services.gateway.anomaly_status import fetch_anomaly_status
from services.gateway.rest.problems import Problem
from services.gateway.state import GatewayState, state_of
from services.gateway.store import channels as channel_store
from services.gateway.store import policies as store


class PolicyViolation(Problem):
    """A 409 naming the first violated policy (`policy`) and listing every one (`violations`)."""

    def __init__(self, violations: list[Violation]) -> None:
        first = violations[0]
        detail = "; ".join(f"{v.policy}: {v.detail}" for v in violations)
        super().__init__(409, detail, errors=[FieldError(("active",), first.detail)], kind="policy-violation")
        self.violations = violations

    def body(self) -> dict[str, Any]:
        return {
            **super().body(),
            "policy": self.violations[0].policy,
            "violations": [v.as_dict() for v in self.violations],
        }


async def tenant_policies(session: AsyncSession, tenant: str) -> TeamPolicies:
    """The tenant's team policies (all off when no admin has set any)."""
    return store.policies_of(await store.get_settings(session, tenant))


def tenant_sla(db: Database, platform: AckSla) -> SlaSource:
    """The ACK-SLA source of the gateway's check: a tenant's `ack_sla` policy when set, else the platform's."""

    async def source(tenant: str) -> AckSla:
        async with db.read() as session:
            own = (await tenant_policies(session, tenant)).ack_sla_policy()
        return platform if own is None else own

    return source


async def enforce_activation(request: Request, tenant: str, before: RuleRow | None, spec: RuleSpec) -> bool:
    """Raise PolicyViolation (409) when this write would activate the rule against a team policy.

    Return whether the policies were checked, so a caller can make its write conditional on the version read.
    """
    after = spec.canonical()
    if not is_activation(before.spec if before is not None else None, after):
        return False
    state = state_of(request)
    async with state.db.read() as session:
        policies = await tenant_policies(session, tenant)
        if not policies.any_activation_policy:
            return False
        facts = ActivationFacts(
            simulations=_simulations(before, after),
            channel_tests=await _channel_tests(session, tenant, spec) if policies.require_channel_test else {},
        )
    if policies.anomaly_requires_ready_baseline and spec.trigger_type == "anomaly":
        facts = ActivationFacts(facts.simulations, facts.channel_tests, await _baseline(state, tenant, before))
    violations = check_activation(policies, spec, facts)
    if violations:
        raise PolicyViolation(violations)
    return True


def _simulations(before: RuleRow | None, after: Mapping[str, Any]) -> int:
    """Simulations of the rule as it will be (earlier ones tested other triggers, conditions or actions)."""
    if before is None or before.simulation_basis != simulation_basis(after):
        return 0
    return before.basis_simulations


async def _channel_tests(session: AsyncSession, tenant: str, spec: RuleSpec) -> dict[str, ChannelTestRecord | None]:
    found: dict[str, ChannelTestRecord | None] = {}
    for ref in channels_of(spec):
        row = await channel_store.find_channel(session, tenant, ref)
        found[ref] = (
            None
            if row is None
            else ChannelTestRecord(
                ok=row.last_test_ok,
                at=row.last_test_at,
                current=row.last_test_at is not None and row.last_test_at >= row.updated_at,
            )
        )
    return found


async def _baseline(state: GatewayState, tenant: str, before: RuleRow | None) -> BaselineState:
    """The evaluator's word on the stored rule's baseline (a rule not yet stored as anomaly rule has none)."""
    if before is None or before.trigger_type != "anomaly":
        return BaselineState(
            False, "a new anomaly rule has no baseline yet: save it inactive, let it learn, then activate it"
        )
    try:
        status = await fetch_anomaly_status(state, tenant, before.rule_id)
    except Problem as exc:
        return BaselineState(False, f"the baseline could not be checked: {exc.detail}")
    if status.get("ready"):
        return BaselineState(True, "ready")
    return BaselineState(False, _not_ready(status))


def _not_ready(status: Mapping[str, Any]) -> str:
    """`learning: 12 of 30 samples`, from the least advanced group key, or the evaluator's reason."""
    learning = []
    for key, state in (status.get("keys") or {}).items():
        baseline = (state.get("baseline") or {}) if isinstance(state, Mapping) else {}
        if not baseline.get("ready") and isinstance(baseline.get("samples"), int):
            learning.append((baseline["samples"], baseline.get("required"), key))
    if learning:
        samples, required, key = min(learning, key=lambda item: item[0])
        return f"the baseline is learning: {samples} of {required} samples" + (f" (group {key!r})" if key else "")
    return str(status.get("reason") or "the baseline is not established yet")
