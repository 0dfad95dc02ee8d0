"""Open alerts indexed for inhibition: for each inhibit rule, the open alerts its source matchers accept, keyed by
their values of the rule's `equal` labels.

It answers what `inhibit_rules.inhibited` answers (the same rules: `equal` labels missing on both sides are
equal, an alert matching both sides does not inhibit its own kind) without comparing a target with every open
alert: a target looks up, per rule whose target matchers accept it, the sources with its own `equal` values.
Sources are told apart by event id (two open alerts may share a label set), and a notified alert never counts as
its own source. Adding and removing an alert costs one check per rule, so the index follows the open alerts as
they open and close.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass

from services.common.domain.inhibition.inhibit_rules import InhibitRule
from services.common.domain.labels.label_set import LabelSet
from services.common.domain.labels.matchers import matches_all

EqualValues = tuple[str, ...]


@dataclass(frozen=True)
class OpenAlert:
    """A firing, unresolved alert that may inhibit others: its event id and its labels."""

    event_id: str
    labels: Mapping[str, str]


class SourceIndex:
    """The open alerts that are sources of each rule, by their `equal` values; built from rules and alerts."""

    def __init__(self, rules: Iterable[InhibitRule], open_alerts: Iterable[OpenAlert] = ()) -> None:
        self.rules = tuple(rules)
        self.sources: list[dict[EqualValues, dict[str, OpenAlert]]] = [{} for _ in self.rules]
        self.placed: dict[str, list[tuple[int, EqualValues]]] = {}
        for alert in open_alerts:
            self.add(alert)

    def add(self, alert: OpenAlert) -> None:
        """Count an open alert as a source of every rule whose source matchers accept it."""
        self.remove(alert.event_id)
        places = []
        for index, rule in enumerate(self.rules):
            if matches_all(rule.source, alert.labels):
                key = _equal_values(rule, alert.labels)
                self.sources[index].setdefault(key, {})[alert.event_id] = alert
                places.append((index, key))
        self.placed[alert.event_id] = places

    def remove(self, event_id: str) -> None:
        """Forget an alert (resolved); nothing when it is not held."""
        for index, key in self.placed.pop(event_id, ()):
            held = self.sources[index][key]
            held.pop(event_id, None)
            if not held:
                del self.sources[index][key]

    def inhibiting(self, labels: LabelSet, excluded: Container[str] = ()) -> set[str]:
        """The event ids of the held alerts that inhibit `labels`, leaving out the `excluded` event ids."""
        found: set[str] = set()
        for index, rule in enumerate(self.rules):
            if not self.sources[index] or not matches_all(rule.target, labels):
                continue
            both_sides = matches_all(rule.source, labels)
            for event_id, source in self.sources[index].get(_equal_values(rule, labels), {}).items():
                if event_id in excluded or (both_sides and matches_all(rule.target, source.labels)):
                    continue
                found.add(event_id)
        return found


def _equal_values(rule: InhibitRule, labels: LabelSet) -> EqualValues:
    # A missing label and an empty one both read as "", as a matcher reads them.
    return tuple(labels.get(name, "") for name in rule.equal)
