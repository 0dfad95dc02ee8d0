"""Where series live: the evaluator shard that owns each (rule, group key) series, and the shards an event needs.

Under the `series` scheme (the default since issue 16) every shard holds every rule, and each series lives on one
shard chosen by a stable hash of what places it:

- a grouped rule's series by (tenant, group key): every rule of a tenant that groups by the same fields keeps the
  series of one key on one shard, so an event touching them all is evaluated on that one shard;
- an ungrouped rule's only series by (tenant, topic), the topic being what the rule reads (the payload path of a
  metric or anomaly rule, the type of an event rule, the rule itself for a schedule rule): rules on the same
  metric or event type sit together, and rules on others spread over the shards.

An event goes to the shards owning a series it touches: one in the common case, more only when its candidate rules
group by different fields or include ungrouped rules of another topic. A shard evaluates only the series it owns
(`Placement.owner`), so a router that sends more than needed costs work, never a second copy of a series.

The `rule` scheme is the placement of earlier versions (each rule and all its series on the shard of a hash of
its rule id); a shard map without a scheme means it, until the evaluator moves the series (rebalance.py).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from services.common.domain.evaluation.rule_index import RuleIndex, receives_events
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.episodes import CompiledRule, compile_rule, group_key_for
from services.common.domain.rules.model import Rule

Scheme = Literal["series", "rule"]
SERIES: Scheme = "series"
BY_RULE: Scheme = "rule"
SCHEMES: tuple[Scheme, ...] = (SERIES, BY_RULE)

# Whether a shard owns a series: (rule, group key) -> bool. The engine skips the series it does not own.
SeriesOwner = Callable[[Rule, str], bool]


def shard_for(rule_id: str, shards: int) -> int:
    """The shard (0 .. shards-1) of a rule id under the `rule` scheme; sha256-based, so stable across processes."""
    if shards < 1:
        raise ValueError("the number of shards is at least 1")
    digest = hashlib.sha256(rule_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


@functools.lru_cache(maxsize=1 << 16)
def _rule_slot(rule_id: str, shards: int) -> int:
    return shard_for(rule_id, shards)


@functools.lru_cache(maxsize=1 << 17)
def _slot(tenant: str, place: str, shards: int) -> int:
    """The shard of a placement key: blake2b of (tenant, key), stable across processes and releases."""
    digest = hashlib.blake2b(f"{tenant}\x1f{place}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def topic(rule: Rule) -> str:
    """What places an ungrouped rule's series: the payload path it reads, its event type, or (schedule) itself."""
    trigger = rule.trigger_spec
    path = getattr(trigger, "metric_name", None) or getattr(trigger, "value_path", None)
    if path is not None:
        return f"value:{path}"
    event_type = getattr(trigger, "event_type", None)
    if event_type is not None:
        return f"type:{event_type}"
    return f"rule:{rule.rule_id}"


def scheme_of(value: object) -> Scheme:
    """A scheme named in a shard map; ValueError for any other name."""
    if value not in SCHEMES:
        raise ValueError(f"unknown placement scheme {value!r}; expected one of {', '.join(SCHEMES)}")
    return cast(Scheme, value)


@dataclass(frozen=True)
class Placement:
    """How series are placed on `shards` shards under `scheme`; pure, the same in the router and every shard."""

    shards: int
    scheme: Scheme = SERIES

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError("the number of shards is at least 1")
        scheme_of(self.scheme)

    def series_shard(self, rule: Rule, key: str) -> int:
        """The shard owning the series of `rule` for group key `key` ("" for an ungrouped rule)."""
        if self.scheme == BY_RULE:
            return _rule_slot(rule.rule_id, self.shards)
        if self.shards == 1:
            return 0
        # A grouped rule's key is never "" (`host=` at least), so the two namespaces never meet.
        return _slot(rule.tenant, "g" + key if key else "t" + topic(rule), self.shards)

    def holds(self, rule_id: str, shard: int) -> bool:
        """Whether `shard` holds the rule (its definition): every shard under `series`, the owner under `rule`."""
        return self.scheme == SERIES or _rule_slot(rule_id, self.shards) == shard

    def rule_shards(self, rule_id: str) -> tuple[int, ...]:
        """The shards a change of the rule must reach: those that hold it."""
        if self.scheme == SERIES:
            return tuple(range(self.shards))
        return (_rule_slot(rule_id, self.shards),)

    def event_shards(self, plans: Iterable[CompiledRule], event: Event) -> set[int]:
        """The shards owning a series of `plans` (the event's candidate rules) that the event touches."""
        found: set[int] = set()
        if self.scheme == BY_RULE:
            return {_rule_slot(plan.rule_id, self.shards) for plan in plans}
        placed: set[tuple[str, ...]] = set()  # one group key per distinct group_by, shared by its rules
        for plan in plans:
            group_by = plan.group_by
            if not group_by:
                found.add(self.series_shard(plan.rule, ""))
            elif group_by not in placed:
                placed.add(group_by)
                found.add(self.series_shard(plan.rule, group_key_for(plan, event.payload)))
        return found

    def trigger_shard(self, plan: CompiledRule | None, rule_id: str, event: Event) -> int:
        """The shard that answers a trigger of the rule with this occurrence: the owner of the series it touches.

        An unknown rule goes to the shard of its id, which answers that it holds no such rule.
        """
        if plan is None or self.scheme == BY_RULE:
            return _rule_slot(rule_id, self.shards)
        return self.series_shard(plan.rule, group_key_for(plan, event.payload))

    def owner(self, shard: int) -> SeriesOwner:
        """The predicate of the series `shard` owns, for its engine."""
        if not 0 <= shard < self.shards:
            raise ValueError(f"shard {shard} is not one of {self.shards}")

        def owns(rule: Rule, key: str) -> bool:
            return self.series_shard(rule, key) == shard

        return owns


def _candidate_plans(rules: Iterable[Rule]) -> tuple[RuleIndex, dict[str, CompiledRule]]:
    """The index and plans of the rules that receive events, as a shard holds them."""
    index, plans = RuleIndex(), {}
    for rule in rules:
        if receives_events(rule):
            plan = plans[rule.rule_id] = compile_rule(rule)
            index.add(plan)
    return index, plans


def events_by_shard(rules: Iterable[Rule], events: Sequence[Event], placement: Placement) -> list[list[Event]]:
    """What each shard receives of `events` when routed for `rules` (the router's decision, without its I/O)."""
    index, plans = _candidate_plans(rules)
    out: list[list[Event]] = [[] for _ in range(placement.shards)]
    for event in events:
        candidates = [plans[rule_id] for rule_id in sorted(index.candidates(event))]
        for shard in placement.event_shards(candidates, event):
            out[shard].append(event)
    return out


def shards_per_event(rules: Iterable[Rule], events: Sequence[Event], shards: int, scheme: Scheme = SERIES) -> float:
    """How many shards evaluate an event, on average over the events that reach any shard (0.0 when none does).

    The events must carry the rules' tenant. `scheme="rule"` gives the figure of the earlier placement.
    """
    placement = Placement(shards, scheme)
    index, plans = _candidate_plans(rules)
    counts = []
    for event in events:
        candidates = [plans[rule_id] for rule_id in index.candidates(event)]
        if candidates:
            counts.append(len(placement.event_shards(candidates, event)))
    return sum(counts) / len(counts) if counts else 0.0
