"""Whether a tenant's own rule takes a posted alert, so the built-in rule of posted alerts stays out of it.

The contract: a posted alert is handled by the built-in rule "unless the tenant's own rules match it". Both engines
ask this before the built-in rule judges an occurrence; the answer depends only on the rules and the payload, so
every shard (each holds every rule) answers alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.common.domain.conditions.tree import evaluate
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.episodes import CompiledRule


def claimed_by_tenant_rule(
    builtin: CompiledRule, event: Event, candidates: Iterable[str], plans: Mapping[str, CompiledRule]
) -> bool:
    """Whether an active event rule of the built-in rule's tenant, on the same event type, matches the occurrence."""
    for rule_id in candidates:
        plan = plans.get(rule_id)
        if plan is None or plan.posted_alerts or not plan.rule.active:
            continue
        rule = plan.rule
        if rule.tenant != builtin.rule.tenant or rule.trigger_type != "event":
            continue
        if getattr(rule.trigger_spec, "event_type", None) != event.kind:
            continue
        if rule.conditions is None or evaluate(rule.conditions, event.payload).result is True:
            return True
    return False
