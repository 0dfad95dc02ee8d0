"""What a valid rule probably does not mean: warnings that name the field and the consequence.

The rule preview (forms.py) shows them next to the canonical rule; none of them stops a rule from being stored.
"""

from __future__ import annotations

from services.common.domain.notify.templates import check
from services.common.domain.rules.durations import parse_duration
from services.common.domain.rules.model import ConditionLeaf, ConditionNode, RuleSpec
from services.common.domain.rules.triggers import AnomalyTrigger, EventTrigger, MetricTrigger, PatternTrigger

_CHANNEL_TYPES = frozenset({"notify", "webhook", "api_call", "slack", "email", "pagerduty"})
_INTERNAL_EVENTS = frozenset(
    {
        "cep.schedule",
        "cep.notification.failed",
        "cep.ack.sla_breached",
        "cep.alert.fired",
        "cep.alert.resolved",
        "cep.alert.acked",
    }
)
MIN_BASELINE_ADVICE = 10


def warnings_for(spec: RuleSpec) -> list[str]:
    """What is valid but probably not meant: each warning names the field and the consequence."""
    found = _action_warnings(spec) + _owner_warnings(spec) + _trigger_warnings(spec)
    if spec.conditions is not None:
        found += _condition_warnings(spec.conditions, "conditions")
    suppression = spec.suppression
    grouping = suppression is not None and (suppression.group_by or suppression.group_wait)
    if suppression is not None and not grouping and (suppression.group_interval or suppression.repeat_interval):
        found.append(
            "suppression: group_interval and repeat_interval apply to grouped notifications; "
            "set group_by or group_wait to group them"
        )
    return found


def _action_warnings(spec: RuleSpec) -> list[str]:
    if not spec.action_spec:
        return ["no actions: the rule will fire but notify nobody"]
    found = []
    for i, action in enumerate(spec.action_spec):
        extra = action.model_extra or {}
        if action.type in _CHANNEL_TYPES and not action.channel and not extra.get("url"):
            found.append(f"action_spec.{i}.channel: a '{action.type}' action without a channel delivers nowhere")
        problem = check(action.message) if action.message is not None else None
        if problem is not None:
            found.append(f"action_spec.{i}.message: template error: {problem}")
    return found


def _owner_warnings(spec: RuleSpec) -> list[str]:
    if spec.priority != "P1":
        return []
    return [
        f"{name}: a P1 rule needs an owner and a backup owner (team rule 3)"
        for name in ("owner", "backup_owner")
        if not getattr(spec, name)
    ]


def _trigger_warnings(spec: RuleSpec) -> list[str]:
    trigger = spec.trigger_spec
    found = []
    if isinstance(trigger, MetricTrigger):
        if trigger.duration and trigger.window and parse_duration(trigger.duration) < parse_duration(trigger.window):
            found.append(
                f"trigger_spec.duration: {trigger.duration} is shorter than the {trigger.window} window: "
                "the alert can fire on a partly filled window"
            )
        if trigger.recover_threshold is not None and _recovers_wrong_side(trigger):
            found.append(
                f"trigger_spec.recover_threshold: {trigger.recover_threshold} does not leave the firing range "
                f"'{trigger.operator} {trigger.threshold}': the alert cannot resolve by value"
            )
    if isinstance(trigger, AnomalyTrigger) and trigger.min_baseline < MIN_BASELINE_ADVICE:
        found.append(
            f"trigger_spec.min_baseline: {trigger.min_baseline} samples is a thin baseline "
            f"(below {MIN_BASELINE_ADVICE}): expect false positives"
        )
    if (
        isinstance(trigger, EventTrigger)
        and trigger.event_type.startswith("cep.")
        and (trigger.event_type not in _INTERNAL_EVENTS)
    ):
        found.append(f"trigger_spec.event_type: '{trigger.event_type}' is not an internal event type; it never occurs")
    if isinstance(trigger, PatternTrigger):
        for i, step in enumerate(trigger.steps):
            if step.event_type.startswith("cep.") and step.event_type not in _INTERNAL_EVENTS:
                found.append(
                    f"trigger_spec.steps.{i}.event_type: '{step.event_type}' is not an internal event type; "
                    "it never occurs"
                )
    return found


def _recovers_wrong_side(trigger: MetricTrigger) -> bool:
    recover, threshold = trigger.recover_threshold, trigger.threshold
    if trigger.operator in (">", ">="):
        return bool(recover > threshold)
    if trigger.operator in ("<", "<="):
        return bool(recover < threshold)
    return False


def _condition_warnings(node: ConditionNode, path: str) -> list[str]:
    if isinstance(node, ConditionLeaf):
        if node.op in ("==", "!=") and node.value is None:
            return [f"{path}.value: '{node.field} {node.op} null' compares with null; was the value left empty?"]
        return []
    found = []
    for i, child in enumerate(node.conditions):
        found += _condition_warnings(child, f"{path}.conditions.{i}")
    return found
