"""Which rules may care about an event, so the cost of an event follows matching rules, not rule count."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from services.common.domain.events.alert_events import source_rule
from services.common.domain.events.model import SCHEDULE_EVENT_TYPE, Event
from services.common.domain.lifecycle.episodes import CompiledRule
from services.common.domain.rules.model import Rule

T = TypeVar("T")


@dataclass
class _TenantIndex:
    by_path_head: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_metric: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_event_type: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    schedules: set[str] = field(default_factory=set)

    def buckets(self, plan: CompiledRule) -> list[tuple[defaultdict[str, set[str]], str]]:
        trigger = plan.rule.trigger_spec
        path = getattr(trigger, "metric_name", None) or getattr(trigger, "value_path", None)
        if path is not None:  # metric and anomaly: the payload path, or a `{"metric": name, "value": v}` event
            return [(self.by_path_head, path.split(".", 1)[0]), (self.by_metric, path)]
        event_type = getattr(trigger, "event_type", None)
        if event_type is not None:
            return [(self.by_event_type, event_type)]
        if plan.pattern is not None:  # a pattern rule: every event type of its steps (negated ones too)
            return [(self.by_event_type, name) for name in sorted(plan.pattern.event_types)]
        return []


def receives_events(rule: Rule) -> bool:
    """Whether events reach a rule: active rules, and inactive anomaly rules (they learn a baseline, never fire)."""
    return rule.active or rule.trigger_type == "anomaly"


class RuleIndex:
    """Rules that receive events, by tenant, keyed by the head of their payload path, metric name, event type or id.

    A candidate may still not match (a deeper path may be missing, conditions may be false); a rule that
    is not a candidate can never match.
    """

    def __init__(self) -> None:
        self._tenants: dict[str, _TenantIndex] = {}

    def add(self, plan: CompiledRule) -> None:
        tenant = self._tenants.setdefault(plan.rule.tenant, _TenantIndex())
        for bucket, name in tenant.buckets(plan):
            bucket[name].add(plan.rule_id)
        if plan.rule.trigger_type == "schedule":
            tenant.schedules.add(plan.rule_id)

    def remove(self, plan: CompiledRule) -> None:
        tenant = self._tenants.get(plan.rule.tenant)
        if tenant is None:
            return
        for bucket, name in tenant.buckets(plan):
            bucket[name].discard(plan.rule_id)
            if not bucket[name]:
                del bucket[name]
        tenant.schedules.discard(plan.rule_id)

    def candidates(self, event: Event) -> set[str]:
        """The ids of the active rules of the event's tenant that this event might match."""
        tenant = self._tenants.get(event.tenant)
        if tenant is None:
            return set()
        found: set[str] = set()
        payload = event.payload
        if tenant.by_path_head:
            for key in payload:
                ids = tenant.by_path_head.get(key)
                if ids:
                    found |= ids
        metric = payload.get("metric")
        if isinstance(metric, str) and metric in tenant.by_metric:
            found |= tenant.by_metric[metric]
        kind = event.kind
        if kind is not None and kind in tenant.by_event_type:
            found |= tenant.by_event_type[kind]
        if kind == SCHEDULE_EVENT_TYPE and payload.get("rule_id") in tenant.schedules:
            found.add(payload["rule_id"])
        source = source_rule(kind, payload)
        if source is not None:  # a rule never matches transitions of its own events (no self-loops)
            found.discard(source)
        return found


# What decides an event's candidates (but a schedule's): tenant, payload keys, `metric`, type, and for an alert
# event the rule it came from (left out of its candidates).
Shape = tuple[str, tuple[str, ...], str | None, str | None, str | None]
# An event without these payload keys: its shape is (tenant, payload keys, None, explicit type, None).
PlainShape = tuple[str, str | None, tuple[str, ...]]
_SHAPING_KEYS = frozenset(("event_type", "metric", "rule_id"))
SHAPES_HELD = 4096  # event shapes whose candidates are remembered; past that the memory starts afresh


class ShapeMemo(Generic[T]):
    """What an event's candidates come to (candidate ids, plans), remembered by the event's shape: its tenant,
    payload keys, `metric`, type and (for an alert event) source rule. A schedule run's candidates depend on the
    rule it names: never remembered.
    An event whose payload has no `event_type`, `metric` or `rule_id` key has a shape its tenant, explicit type
    and payload keys decide alone: those are also remembered under that `PlainShape`, found without reading the
    payload (the hot path: most events carry none of these keys).
    Bounded (`SHAPES_HELD`): a stream of ever new shapes only costs the lookup it would cost uncached."""

    def __init__(self) -> None:
        self._held: dict[Shape, T] = {}
        self._plain: dict[PlainShape, T] = {}

    def clear(self) -> None:
        """Forget everything (the index changed)."""
        self._held.clear()
        self._plain.clear()

    def get(self, event: Event, compute: Callable[[Event], T]) -> T:
        names = tuple(event.payload)
        plain = (event.tenant, event.event_type, names)
        found = self._plain.get(plain)
        if found is not None:
            return found
        kind = event.kind
        if kind == SCHEDULE_EVENT_TYPE:
            return compute(event)
        metric = event.payload.get("metric")
        source = source_rule(kind, event.payload)
        shape = (event.tenant, names, metric if isinstance(metric, str) else None, kind, source)
        found = self._held.get(shape)
        if found is None:
            if len(self._held) >= SHAPES_HELD or len(self._plain) >= SHAPES_HELD:
                self.clear()
            found = self._held[shape] = compute(event)
        if not _SHAPING_KEYS.intersection(names):
            self._plain[plain] = found
        return found
