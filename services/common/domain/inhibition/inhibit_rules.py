"""Inhibit rules and the decision which open alerts inhibit a label set, as Alertmanager's inhibitor makes it.

A rule holds source matchers, target matchers and `equal` label names. A label set the target matchers accept is
inhibited by every open alert the source matchers accept whose values of the `equal` labels are the same (a label
missing on both sides counts as equal: both read as empty). When the label set also satisfies the rule's source
matchers, source alerts that satisfy its target matchers are not counted, so an alert never inhibits itself nor
one of its own kind. The verdict lists the inhibiting alerts' fingerprints, as `inhibitedBy` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.common.domain.labels.label_set import LabelSet, fingerprint
from services.common.domain.labels.matchers import Matcher, matches_all
from services.common.domain.labels.parse import config_matchers


class InhibitRule(BaseModel):
    """Source alerts (matching `source`) inhibit target alerts (matching `target`) with the same `equal` labels."""

    model_config = ConfigDict(frozen=True)

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


class Inhibited(BaseModel):
    """The fingerprints of the open alerts that inhibit a label set (sorted; empty when it is not inhibited)."""

    model_config = ConfigDict(frozen=True)

    by: tuple[str, ...] = ()

    @property
    def muted(self) -> bool:
        return bool(self.by)


def parse_inhibit_rule(raw: Mapping[str, Any]) -> InhibitRule:
    """A rule from Alertmanager's configuration form (`source_matchers`, `target_matchers`, `equal`, and the
    older `source_match`, `source_match_re`, `target_match`, `target_match_re` maps)."""
    return InhibitRule(
        source=config_matchers(raw, "source_"),
        target=config_matchers(raw, "target_"),
        equal=tuple(str(name) for name in raw.get("equal") or ()),
    )


def inhibited(labels: LabelSet, rules: Iterable[InhibitRule], open_alerts: Sequence[LabelSet]) -> Inhibited:
    """Which of the open alerts inhibit `labels` under any of the rules."""
    found: set[str] = set()
    for rule in rules:
        if not matches_all(rule.target, labels):
            continue
        both_sides = matches_all(rule.source, labels)
        for source in open_alerts:
            if _inhibits(rule, source, labels, both_sides):
                found.add(fingerprint(source))
    return Inhibited(by=tuple(sorted(found)))


def _inhibits(rule: InhibitRule, source: LabelSet, target: LabelSet, both_sides: bool) -> bool:
    if not matches_all(rule.source, source):
        return False
    if any(source.get(name, "") != target.get(name, "") for name in rule.equal):
        return False
    return not (both_sides and matches_all(rule.target, source))
