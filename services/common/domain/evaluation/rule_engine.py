"""The shard state: rules, their series, and the one place events and ticks turn into alert transitions.

A plain object in the bytewax style: feed it batches of events and ticks (`now` is always an input,
never a clock read), take the transitions it returns, snapshot it, restore it and carry on. Simulate, trigger
and replay drive this class; the evaluator's shards run its subclass in compiled/ (a faster `on_events` with the
same transitions): this is the reference it is tested against, and it imports nothing from there.

It is one class around one state (series, timers and the quota ledger change together), which is why it stays one
module above 300 lines; the parts that stand alone are in evaluations.py, anomaly_status.py and timers.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.common.domain.anomaly.detectors.refit import RefitExecutor
from services.common.domain.evaluation.anomaly_status import anomaly_status
from services.common.domain.evaluation.deadline_heap import Timers
from services.common.domain.evaluation.evaluations import Evaluation, TriggerOutcome
from services.common.domain.evaluation.posted_alert_claims import claimed_by_tenant_rule
from services.common.domain.evaluation.rule_index import RuleIndex, receives_events
from services.common.domain.evaluation.series_capture import SeriesCapture
from services.common.domain.evaluation.sharding import SeriesOwner
from services.common.domain.events.alert_events import is_alert_event, stamp_depth
from services.common.domain.events.model import SCHEDULE_EVENT_TYPE, Event, as_utc
from services.common.domain.lifecycle.episodes import (
    CompiledRule,
    Observation,
    Series,
    compile_rule,
    group_key_for,
)
from services.common.domain.lifecycle.pattern_series import PatternSeries
from services.common.domain.lifecycle.series import new_series, restore_series
from services.common.domain.lifecycle.thresholds import ThresholdSeries
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.patterns.drops import PatternDrops
from services.common.domain.patterns.matcher import DEFAULT_MAX_PARTIALS_PER_KEY
from services.common.domain.quotas.series_quota import (
    Limits,
    Refusal,
    SeriesLedger,
    SeriesQuotas,
    SeriesRefusals,
    refusal,
)
from services.common.domain.rules.model import Rule
from services.common.domain.rules.rule_failures import RuleFailure, failure_of

SNAPSHOT_FORMAT = 1


class SeriesElsewhere(LookupError):
    """A trigger for a series this engine does not own (another shard's): nothing was evaluated."""


class RuleEngine:
    """Rules, their per-(rule, group key) series, and the timers those series arm.

    `evaluations` counts series evaluations, so tests can check that cost follows matching rules.
    `failures` collects the rules that raised on an event (`on_events`); the caller drains it with `take_failures`.
    `quotas` bounds the series a rule and a tenant may hold (quotas/series_quota.py); `ledger` counts what is held and
    refused, and the caller drains the refusals with `take_refusals`.
    `owns` says which series this engine keeps when it is one shard of several (sharding.py): an event's
    judgement for a series owned elsewhere is skipped here. None: every series.
    """

    def __init__(
        self, executor: RefitExecutor | None = None, quotas: Limits | None = None, owns: SeriesOwner | None = None
    ) -> None:
        self.evaluations = 0
        self.owns = owns
        self.executor = executor  # runs anomaly model refits (a shard's thread pool); inline when None
        self.failures: list[RuleFailure] = []
        self.quotas: Limits = quotas or SeriesQuotas()
        self.ledger = SeriesLedger()
        self.pattern_cap = DEFAULT_MAX_PARTIALS_PER_KEY  # partial matches per key of a pattern rule (the oldest go)
        self.pattern_lateness = timedelta(0)  # how late a pattern rule's event may be in its key (at most `within`)
        # Per pattern rule, its matchers' counters (dropped by the cap, late, expired, cancelled) since the start.
        self.pattern_counts: dict[str, dict[str, int]] = {}
        self._drops: dict[str, PatternDrops] = {}  # partial matches dropped at the cap, until taken
        self._plans: dict[str, CompiledRule] = {}
        self._index = RuleIndex()
        self._series: dict[str, dict[str, Series]] = {}
        self._timers = Timers()
        # Each series' last snapshot, until the series is stored again (`_keep`, after every change): a snapshot
        # re-encodes only the series changed since the previous one.
        self._snapshots: dict[tuple[str, str], dict[str, Any]] = {}
        # The series stored, replaced or dropped since the last `snapshot` or `changes`: what the next delta holds.
        self._dirty: set[tuple[str, str]] = set()
        self._captures = 0  # captures taken (`capture_snapshot`, `capture_changes`): which one `remember` may trust

    def upsert_rule(self, rule: Rule, at: datetime | None = None) -> list[Transition]:
        """Add or replace a rule. Deactivating it, or changing what it matches, resolves its open episodes.

        The resolutions happen at `at`, else at the rule's `updated_at` (never before an episode's last_seen).
        A change of name, severity, actions or other metadata keeps the series and their episodes.
        """
        old = self._plans.get(rule.rule_id)
        plan = compile_rule(rule, self.executor, self.pattern_cap, self.pattern_lateness)
        out: list[Transition] = []
        if old is not None:
            self._index.remove(old)
            changed = old.semantics != plan.semantics or old.rule.tenant != rule.tenant
            if not rule.active or changed:
                reason = "rule deactivated" if not rule.active else "rule changed"
                # A deactivated anomaly rule keeps learning: its episodes end, its baselines stay.
                out = self._close(old, as_utc(at or rule.updated_at), reason, keep_baselines=not changed)
        self._plans[rule.rule_id] = plan
        if receives_events(rule):
            self._index.add(plan)
        return out

    def remove_rule(self, rule_id: str, at: datetime | None = None) -> list[Transition]:
        """Forget a rule; its open episodes resolve at `at`, else at their last_seen."""
        plan = self._plans.pop(rule_id, None)
        if plan is None:
            return []
        self._index.remove(plan)
        self.ledger.forget_rule(rule_id)
        return self._close(plan, None if at is None else as_utc(at), "rule deleted")

    def rules(self) -> list[Rule]:
        """Every rule held, active or not, by rule id."""
        return [self._plans[rule_id].rule for rule_id in sorted(self._plans)]

    def on_events(self, events: Sequence[Event]) -> list[Transition]:
        """Evaluate each event, in input order, against every active candidate rule of its tenant.

        An inactive anomaly rule learns from its candidates instead: its baseline grows, it never fires.
        A rule that raises on an event is isolated: the failure goes to `failures`, the timers due by the event's
        time still run for that rule's series, and every other rule still judges the event.
        """
        out: list[Transition] = []
        for event in events:
            first = len(out)
            for rule_id in sorted(self._index.candidates(event)):
                plan = self._plans[rule_id]
                try:
                    if plan.rule.active:
                        self._observe_into(out, plan, event)
                    else:
                        self._learn(plan, event)
                except Exception as exc:
                    self.failures.append(failure_of(rule_id, plan.rule.tenant, event, exc))
                    out += self._repair(plan, event)
            if is_alert_event(event.kind) and len(out) > first:
                stamp_depth(out, first, event)
        return out

    def take_failures(self) -> list[RuleFailure]:
        """The rule failures recorded since the last call, in order; the list is emptied."""
        taken, self.failures = self.failures, []
        return taken

    def take_refusals(self) -> list[SeriesRefusals]:
        """The new series refused since the last call, one entry per rule and quota; the totals stay in `ledger`."""
        return self.ledger.take()

    def take_pattern_drops(self) -> list[PatternDrops]:
        """The partial matches dropped at a pattern rule's cap since the last call, one entry per rule; the totals
        stay in `pattern_counts`."""
        taken, self._drops = self._drops, {}
        return [taken[rule_id] for rule_id in sorted(taken)]

    def series_held(self, tenant: str) -> int:
        """How many series the tenant's rules hold here."""
        return self.ledger.held.get(tenant, 0)

    def on_tick(self, now: datetime) -> list[Transition]:
        """Run the timers due at `now` (duration elapsed, resolve_after, no data), series by series."""
        now = as_utc(now)
        out: list[Transition] = []
        for rule_id, key in sorted(self._timers.due(now)):
            plan, series = self._plans.get(rule_id), self._series.get(rule_id, {}).get(key)
            if plan is not None and series is not None:
                out += series.advance(plan, key, now)
                self._keep(plan, key, series)
        return out

    def trigger(self, rule_id: str, event: Event) -> TriggerOutcome:
        """Evaluate one rule for real, active or not, against one occurrence; raise KeyError for an unknown rule.

        An occurrence without an event type counts as one of the rule's own type (an event rule's
        `event_type`, a run of a schedule rule), since the caller named the rule. SeriesElsewhere when the
        series it touches is owned by another shard.
        """
        plan = self._plans[rule_id]
        event = _as_occurrence_of(plan, event)
        if self.owns is not None and not self.owns(plan.rule, group_key_for(plan, event.payload)):
            raise SeriesElsewhere(f"the series of rule {rule_id} for this occurrence is held by another shard")
        key, observation = self._observe(plan, event)
        return TriggerOutcome.of(key, observation)

    def evaluate(self, rule: Rule, event: Event) -> Evaluation:
        """What the rule would make of the event given the current state, without changing anything."""
        plan = self._plans.get(rule.rule_id)
        if plan is None or plan.rule != rule:
            plan = compile_rule(rule)
        key = group_key_for(plan, event.payload)
        current = self._series.get(rule.rule_id, {}).get(key)
        held = self._plans.get(rule.rule_id)
        if current is not None and held is not None and held.semantics == plan.semantics:
            series = restore_series(plan, current.snapshot())
        else:
            series = new_series(plan)
        return Evaluation.of(key, series.observe(plan, key, event))

    def anomaly_status(self, rule_id: str) -> dict[str, Any]:
        """Baseline and latest verdict per group key of an anomaly rule; KeyError or ValueError otherwise."""
        return anomaly_status(self._plans[rule_id], self._series.get(rule_id, {}))

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state of every series (windows, pending timers, open episodes); not the rules."""
        return self._finished(self.capture_snapshot())

    def changes(self) -> dict[str, Any]:
        """What changed since the last `snapshot` or `changes`, in O(changed): per rule touched, None when it holds
        no series any more, else its semantics, the series stored since (`snapshot()` form) and the keys dropped.

        Applied in order to the `snapshot()` before them (`snapshot_changes.apply_changes`), the result equals
        `snapshot()` now. A shard's incremental snapshots are these (evaluator/snapshot_deltas.py).
        """
        return self._finished(self.capture_changes())

    def capture_snapshot(self) -> SeriesCapture:
        """`snapshot()` as of now, to finish later (series_capture.py): the caller's lock is held only for this."""
        rules: dict[str, Any] = {}
        capture = self._capture_started(rules)
        cached, kept = self._snapshots, {}
        for rule_id in sorted(self._series):
            by_key = self._series[rule_id]
            series: dict[str, Any] = {}
            for key in sorted(by_key):
                data = cached.get((rule_id, key))
                if data is None:
                    data = self._capture_series(capture, series, rule_id, key, by_key[key])
                if data is not None:
                    kept[rule_id, key] = data
                series[key] = data
            rules[rule_id] = {"semantics": self._plans[rule_id].semantics, "series": series}
        self._snapshots = kept  # series gone since are forgotten
        self._dirty.clear()
        return capture

    def capture_changes(self) -> SeriesCapture:
        """`changes()` as of now, to finish later (series_capture.py): the caller's lock is held only for this."""
        rules: dict[str, Any] = {}
        capture = self._capture_started(rules)
        cached, held = self._snapshots, self._series
        for rule_id, key in sorted(self._dirty):
            by_key = held.get(rule_id)
            if by_key is None:
                rules[rule_id] = None
                continue
            entry = rules.get(rule_id)
            if entry is None:
                entry = rules[rule_id] = {"semantics": self._plans[rule_id].semantics, "series": {}, "removed": []}
            series = by_key.get(key)
            if series is None:
                entry["removed"].append(key)
                continue
            data = cached.get((rule_id, key))
            if data is None:
                data = self._capture_series(capture, entry["series"], rule_id, key, series)
                if data is not None:
                    cached[rule_id, key] = data
            entry["series"][key] = data
        self._dirty.clear()
        return capture

    def pending_changes(self) -> int:
        """How many series the next `changes()` carries (stored, replaced or dropped since the last capture)."""
        return len(self._dirty)

    def forget_changes(self) -> object:
        """The changes since the last capture were captured elsewhere (a forked child's copy of this engine): the
        next `changes()` starts from now, and no encoding is cached (the child's are not this engine's). O(1): what
        is let go of is returned, for the caller to drop once the child is done (dropping it now would write to
        memory pages the child still shares)."""
        let_go = (self._dirty, self._snapshots)
        self._dirty, self._snapshots = set(), {}
        self._captures += 1  # a capture taken before may no longer be remembered
        return let_go

    def remember(self, capture: SeriesCapture) -> None:
        """Cache the snapshots a finished capture encoded, of the series that have not changed since it was taken
        (none when another capture was taken since: a series changed between the two is no longer dirty)."""
        if capture.number != self._captures:
            return
        dirty, cached = self._dirty, self._snapshots
        for series_key, data in capture.encoded():
            if series_key not in dirty:
                cached[series_key] = data

    def _capture_series(
        self, capture: SeriesCapture, place: dict[str, Any], rule_id: str, key: str, series: Series
    ) -> dict[str, Any] | None:
        """A series' snapshot now, or None after adding a frozen copy to `capture` to encode at `finish()`.
        The reference snapshots every series at once; the compiled engine freezes its threshold series."""
        return series.snapshot()

    def _capture_started(self, rules: dict[str, Any]) -> SeriesCapture:
        self._captures += 1
        return SeriesCapture({"format": SNAPSHOT_FORMAT, "rules": rules}, self._captures)

    def _finished(self, capture: SeriesCapture) -> dict[str, Any]:
        body = capture.finish()
        self.remember(capture)
        return body

    def series_count(self) -> int:
        """How many series are held (one read per rule, not per series)."""
        return sum(len(by_key) for by_key in self._series.values())

    @classmethod
    def restore(
        cls,
        data: dict[str, Any],
        rules: Iterable[Rule],
        executor: RefitExecutor | None = None,
        quotas: Limits | None = None,
        owns: SeriesOwner | None = None,
        pattern_cap: int | None = None,
        pattern_lateness: timedelta | None = None,
    ) -> RuleEngine:
        """An engine holding `rules` and the series of `snapshot()` output (`owns`: as in the constructor).

        Series of a rule that is absent, or whose trigger or conditions differ from the snapshot's, are
        dropped: restore with the rules as they were when the snapshot was taken, then upsert changes.
        Every restored series is held and counted, even past a quota lowered since: state is never dropped here.
        """
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown snapshot format {data.get('format')!r}")
        engine = cls(executor, quotas, owns)
        if pattern_cap is not None:
            engine.pattern_cap = pattern_cap
        if pattern_lateness is not None:
            engine.pattern_lateness = pattern_lateness
        for rule in rules:
            engine.upsert_rule(rule)
        for rule_id, entry in data["rules"].items():
            plan = engine._plans.get(rule_id)
            if plan is None or plan.semantics != entry["semantics"]:
                continue
            for key, series_data in entry["series"].items():
                engine._keep(plan, key, restore_series(plan, series_data))
        return engine

    def _learn(self, plan: CompiledRule, event: Event) -> None:
        key = group_key_for(plan, event.payload)
        if self.owns is not None and not self.owns(plan.rule, key):
            return
        held = self._series.get(plan.rule_id, {}).get(key)
        series = held if held is not None else new_series(plan)
        if isinstance(series, ThresholdSeries):
            self.evaluations += 1
            series.learn(plan, event)
            if held is None and self._refused(plan, key, series):
                return
            self._keep(plan, key, series)

    def _observe_into(self, out: list[Transition], plan: CompiledRule, event: Event) -> None:
        """`_observe`, appending to `out`, with the series' due timers run first: a raise in the judgement loses none.

        Transitions of the timers are appended before the judgement (they stand even if it raises); the series is
        stored again either way, so its next timer stays armed.
        """
        if plan.posted_alerts and claimed_by_tenant_rule(plan, event, self._index.candidates(event), self._plans):
            return  # the tenant's own rule handles this posted alert
        key = group_key_for(plan, event.payload)
        if self.owns is not None and not self.owns(plan.rule, key):
            return  # another shard's series
        held = self._series.get(plan.rule_id, {}).get(key)
        series = held if held is not None else new_series(plan)
        out += series.advance(plan, key, event.time)
        out += self._judged(plan, key, held, series, lambda: series.observe(plan, key, event).transitions)

    def _judged(
        self, plan: CompiledRule, key: str, held: Series | None, series: Series, judge: Callable[[], list[Transition]]
    ) -> list[Transition]:
        """`judge()`'s transitions, the series stored after it even if it raises; a new series past a quota is not.

        Counts one evaluation. A refused series' transitions are dropped with it.
        """
        produced: list[Transition] = []
        try:
            self.evaluations += 1
            produced = judge()
        finally:
            if held is None and self._refused(plan, key, series):
                produced = []
            else:
                self._keep(plan, key, series)
        return produced

    def _repair(self, plan: CompiledRule, event: Event) -> list[Transition]:
        """After a rule raised on `event`: make its series what a restart would see (its own snapshot restored).

        A series whose snapshot does not restore (the raise left it half-updated) is closed, its open episode
        resolving at the event's time, and dropped: the rule starts that group key afresh.
        """
        try:
            key = group_key_for(plan, event.payload)
        except Exception:
            return []  # raised before any series was touched
        series = self._series.get(plan.rule_id, {}).get(key)
        if series is None:
            return []
        try:
            self._keep(plan, key, restore_series(plan, series.snapshot()))
            return []
        except Exception:
            self._changed(plan.rule_id, key)
            by_key = self._series.get(plan.rule_id, {})
            if by_key.pop(key, None) is not None:
                self.ledger.release(plan.rule.tenant)
            if not by_key:
                self._series.pop(plan.rule_id, None)
        try:
            return series.close(plan, key, event.time, "rule error: its state was reset")
        except Exception:
            return []

    def _observe(self, plan: CompiledRule, event: Event) -> tuple[str, Observation]:
        key = group_key_for(plan, event.payload)
        held = self._series.get(plan.rule_id, {}).get(key)
        series = held if held is not None else new_series(plan)
        self.evaluations += 1
        observation = series.observe(plan, key, event)
        why = None if held is not None else self._refused(plan, key, series)
        if why is not None:
            reason, errors = "series quota reached", [why.describe(plan.rule.tenant)]
            return key, Observation(False, "no_match", None, observation.value, observation.explanation, errors, reason)
        self._keep(plan, key, series)
        return key, observation

    def _refused(self, plan: CompiledRule, key: str, series: Series) -> Refusal | None:
        """Whether a new series, just judged, is past a quota: then it is counted as refused and must not be kept.

        Judged first, so only a series that would hold state counts (a schedule run, or an event that matched
        nothing, takes no slot); its transitions are discarded with it. Two dict reads: no scan of the series.
        """
        if series.idle:
            return None
        tenant = plan.rule.tenant
        why = refusal(len(self._series.get(plan.rule_id, ())), self.series_held(tenant), self.quotas.of(tenant))
        if why is not None:
            self.ledger.refuse(plan.rule_id, tenant, key, why)
        return why

    def _keep(self, plan: CompiledRule, key: str, series: Series) -> None:
        """Store a series (or drop it when it holds nothing) and arm its next timer; its cached snapshot is stale."""
        self._changed(plan.rule_id, key)
        if isinstance(series, PatternSeries):
            counts = self.pattern_counts.setdefault(plan.rule_id, {})
            for name, added in series.take_counts().items():
                counts[name] = counts.get(name, 0) + added
                if name == "dropped":
                    drops = self._drops.setdefault(plan.rule_id, PatternDrops(plan.rule_id, plan.rule.tenant, 0))
                    drops.count, drops.cap, drops.last_key = drops.count + added, plan.pattern_cap, key
        by_key = self._series.setdefault(plan.rule_id, {})
        if series.idle:
            if by_key.pop(key, None) is not None:
                self.ledger.release(plan.rule.tenant)
            if not by_key:
                del self._series[plan.rule_id]
            return
        if key not in by_key:
            self.ledger.hold(plan.rule.tenant)
        by_key[key] = series
        deadline = series.next_deadline(plan)
        if deadline is not None and self._timers.arm(deadline, plan.rule_id, key):
            self._timers.rebuild(self._deadlines())

    def _changed(self, rule_id: str, key: str) -> None:
        """A series was stored, replaced or dropped: its cached snapshot is stale and the next delta carries it."""
        self._snapshots.pop((rule_id, key), None)
        self._dirty.add((rule_id, key))

    def _close(
        self, plan: CompiledRule, at: datetime | None, reason: str, keep_baselines: bool = False
    ) -> list[Transition]:
        by_key = self._series.pop(plan.rule_id, {})
        self.ledger.release(plan.rule.tenant, len(by_key))
        out: list[Transition] = []
        for key in sorted(by_key):
            self._changed(plan.rule_id, key)
            series = by_key[key]
            out += series.close(plan, key, at, reason)
            if keep_baselines and isinstance(series, ThresholdSeries) and series.detector is not None:
                self._keep(plan, key, series.baseline_only(plan))
        return out

    def _deadlines(self) -> Iterator[tuple[datetime, str, str]]:
        for rule_id, by_key in self._series.items():
            for key, series in by_key.items():
                deadline = series.next_deadline(self._plans[rule_id])
                if deadline is not None:
                    yield deadline, rule_id, key


def _as_occurrence_of(plan: CompiledRule, event: Event) -> Event:
    if event.kind is not None:
        return event
    trigger = plan.rule.trigger_spec
    if plan.rule.trigger_type == "event":
        return dataclasses.replace(event, event_type=getattr(trigger, "event_type", None))
    if plan.rule.trigger_type == "schedule":
        payload = dict(event.payload)
        payload.setdefault("rule_id", plan.rule_id)
        return dataclasses.replace(event, event_type=SCHEDULE_EVENT_TYPE, payload=payload)
    return event
