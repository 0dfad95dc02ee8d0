"""Inhibit rules: target and source sides, `equal` labels (missing on both sides is equal), no self-inhibition."""

from __future__ import annotations

import pytest

from services.common.domain.inhibition.inhibit_rules import InhibitRule, inhibited, parse_inhibit_rule
from services.common.domain.labels.label_set import fingerprint
from services.common.domain.labels.matchers import Matcher, MatchType

CRITICAL = {"alertname": "NodeDown", "severity": "critical", "cluster": "eu"}
WARNING = {"alertname": "HighLatency", "severity": "warning", "cluster": "eu"}
WARNING_US = {"alertname": "HighLatency", "severity": "warning", "cluster": "us"}

RULE = parse_inhibit_rule(
    {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'], "equal": ["cluster"]}
)


def test_parse_reads_both_syntaxes() -> None:
    rule = parse_inhibit_rule({"source_match": {"a": "1"}, "target_match_re": {"b": "x.*"}, "equal": ["c"]})
    assert rule == InhibitRule(
        source=(Matcher(name="a", type=MatchType.EQUAL, value="1"),),
        target=(Matcher(name="b", type=MatchType.REGEX, value="x.*"),),
        equal=("c",),
    )


@pytest.mark.parametrize(
    ("target", "sources", "by"),
    [
        (WARNING, [CRITICAL], [CRITICAL]),
        (WARNING_US, [CRITICAL], []),  # `cluster` differs
        (CRITICAL, [CRITICAL], []),  # the target side refuses a critical alert
        (WARNING, [], []),
        (WARNING, [WARNING], []),  # the source side refuses a warning alert
    ],
)
def test_equal_labels_decide(target: dict[str, str], sources: list[dict[str, str]], by: list[dict[str, str]]) -> None:
    assert inhibited(target, [RULE], sources).by == tuple(sorted(fingerprint(s) for s in by))


def test_a_label_missing_on_both_sides_counts_as_equal() -> None:
    source = {"severity": "critical"}
    target = {"severity": "warning"}
    assert inhibited(target, [RULE], [source]).muted
    assert not inhibited({**target, "cluster": "eu"}, [RULE], [source]).muted


def test_an_alert_matching_both_sides_does_not_inhibit_its_own_kind() -> None:
    rule = parse_inhibit_rule({"source_matchers": ["team=db"], "target_matchers": ["team=db"]})
    first, second = {"team": "db", "n": "1"}, {"team": "db", "n": "2"}
    assert not inhibited(first, [rule], [first, second]).muted
    # An alert matching only the source side still inhibits it.
    wide = parse_inhibit_rule({"source_matchers": ["team=~db|ops"], "target_matchers": ["team=db"]})
    ops = {"team": "ops"}
    assert inhibited(first, [wide], [first, second, ops]).by == (fingerprint(ops),)


def test_several_rules_and_sources_are_listed_once_sorted() -> None:
    other = parse_inhibit_rule({"source_matchers": ['alertname="NodeDown"'], "target_matchers": ["cluster=eu"]})
    second = {**CRITICAL, "instance": "b"}
    verdict = inhibited(WARNING, [RULE, other], [CRITICAL, second])
    assert verdict.by == tuple(sorted({fingerprint(CRITICAL), fingerprint(second)}))
