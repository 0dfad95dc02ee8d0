"""The one-line human summary of a rule (`cpu_usage > 85 for 5m`), shared by preview, events and the UI.

Shapes, by trigger type (then ` by <group_by>` and ` when (<conditions>)` where set):

- metric: `cpu_usage > 85`, `avg(cpu_usage) over 5m > 85`, then ` for 2m` when a duration is set.
- event: `event_type == 'error'`.
- schedule: `cron '*/5 * * * *' (UTC)`.
- anomaly: `<method>(<value_path>) > <threshold>`, the score of the method against its threshold, with
  method parameters and the window when set: `zscore(cpu_percent) > 3.0`,
  `iqr(latency_ms, multiplier=1.5) > 3`, `ema(cpu, alpha=0.3) over 1h > 2.5`,
  `multiscale(cpu, rest_span=100) > 1`, `hbos(latency_ms, training_window=500) > 1`.
- pattern: `login.failed x5+ then login.succeeded within 2m, same user` (patterns/summary.py).

Condition leaves use the very texts of `conditions.leaf_expr`, so a summary reads like simulate's output.
"""

from __future__ import annotations

from services.common.domain.conditions.tree import leaf_expr, literal
from services.common.domain.rules.model import ConditionLeaf, ConditionNode, RuleSpec
from services.common.domain.rules.triggers import (
    AnomalyTrigger,
    EventTrigger,
    MetricTrigger,
    PatternTrigger,
    ScheduleTrigger,
)


def summarize(spec: RuleSpec) -> str:
    """The whole rule in one line: trigger expression, hold duration, grouping and conditions."""
    text = trigger_expr(spec)
    trigger = spec.trigger_spec
    if isinstance(trigger, MetricTrigger) and trigger.duration:
        text += f" for {trigger.duration}"
    group_by = getattr(trigger, "group_by", None)
    if group_by:
        text += f" by {', '.join(group_by)}"
    if spec.conditions is not None:
        text += f" when ({condition_text(spec.conditions)})"
    return text


def trigger_expr(spec: RuleSpec) -> str:
    """The trigger's own expression, without duration, grouping or conditions."""
    trigger = spec.trigger_spec
    if isinstance(trigger, MetricTrigger):
        return _metric(trigger)
    if isinstance(trigger, EventTrigger):
        return f"event_type == {literal(trigger.event_type)}"
    if isinstance(trigger, ScheduleTrigger):
        return f"cron {literal(trigger.cron)} ({trigger.timezone})"
    if isinstance(trigger, PatternTrigger):
        from services.common.domain.patterns.summary import summarize_pattern  # it reads condition_text from here

        return summarize_pattern(trigger)
    return _anomaly(trigger)


def condition_text(node: ConditionNode) -> str:
    """A condition tree as text whose parentheses mirror its structure: `(a AND b) OR c`.

    Nested groups are always parenthesised (no reliance on precedence); a NOT always parenthesises its
    operand; a one-child AND/OR shows its child alone, as it means the same.
    """
    if isinstance(node, ConditionLeaf):
        return leaf_expr(node.field, node.op, node.value)
    if node.logic == "NOT":
        return f"NOT ({_operand(node.conditions[0], nested=False)})"
    return f" {node.logic} ".join(_operand(child, nested=len(node.conditions) > 1) for child in node.conditions)


def _operand(node: ConditionNode, nested: bool) -> str:
    text = condition_text(node)
    if nested and not _is_atomic(node):
        return f"({text})"
    return text


def _is_atomic(node: ConditionNode) -> bool:
    """A NOT renders with its own parentheses; a one-child group renders as its child."""
    if isinstance(node, ConditionLeaf) or node.logic == "NOT":
        return True
    return len(node.conditions) == 1 and _is_atomic(node.conditions[0])


def _metric(trigger: MetricTrigger) -> str:
    subject = trigger.metric_name
    if trigger.aggregation:
        subject = f"{trigger.aggregation}({subject}) over {trigger.window}"
    return f"{subject} {trigger.operator} {literal(trigger.threshold)}"


# the parameters of the newer methods, shown by their field names (multiscale, pyod methods)
NAMED_PARAMETERS = (
    "baseline_span",
    "record_span",
    "rest_span",
    "season_seconds",
    "training_window",
    "refit_every",
    "refit_lag",
)


def _anomaly(trigger: AnomalyTrigger) -> str:
    params = [trigger.value_path]
    if trigger.iqr_multiplier is not None:
        params.append(f"multiplier={literal(trigger.iqr_multiplier)}")
    if trigger.ema_alpha is not None:
        params.append(f"alpha={literal(trigger.ema_alpha)}")
    for name in NAMED_PARAMETERS:
        if getattr(trigger, name) is not None:
            params.append(f"{name}={literal(getattr(trigger, name))}")
    window = f" over {trigger.window}" if trigger.window else ""
    return f"{trigger.anomaly_method}({', '.join(params)}){window} > {literal(trigger.threshold)}"
