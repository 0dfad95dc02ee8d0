"""The rule test runner: a suite's cases through the reference engine (and the pattern matcher), checked and reported.

Each test writes a small test file as data, runs it, and reads the verdict and the report, as `cep rules test`
prints it. Times are offsets from a literal UTC start.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.rule_tests.report import report, run_suite
from services.common.domain.rule_tests.suite import SuiteError, parse_suite

START = "2026-03-01T12:00:00Z"
CPU = {
    "name": "cpu_high",
    "trigger_type": "metric",
    "trigger_spec": {"metric_name": "cpu", "operator": ">", "threshold": 90, "duration": "1m", "group_by": ["host"]},
}
ERRORS = {
    "name": "api_errors",
    "trigger_type": "event",
    "trigger_spec": {"event_type": "error", "group_by": ["service"], "resolve_after": "2m"},
    "conditions": {"logic": "AND", "conditions": [{"field": "code", "op": ">=", "value": 500}]},
}
BRUTE = {
    "name": "brute_force",
    "trigger_type": "pattern",
    "trigger_spec": {
        "steps": [
            {"name": "fail", "event_type": "login.failed", "times": {"min": 2}},
            {"name": "ok", "event_type": "login.succeeded"},
        ],
        "within": "1m",
        "same": ["user"],
    },
}
UNPAID = {
    "name": "unpaid",
    "trigger_type": "pattern",
    "trigger_spec": {
        "steps": [
            {"name": "order", "event_type": "order.placed"},
            {"name": "pay", "event_type": "payment.received", "negate": True},
        ],
        "within": "5m",
        "same": ["order"],
    },
}


def run(case: dict[str, Any], *rules: dict[str, Any]) -> tuple[bool, str]:
    """Whether the one case passed, and the report."""
    suite = parse_suite({"rules": list(rules), "tests": [{"name": "case", "start": START, **case}]}, _no_files)
    results = run_suite(suite)
    return results[0].passed, report(results)


def _no_files(path: str) -> Any:
    raise OSError(f"no file {path} in this test")


def problems(data: dict[str, Any], files: dict[str, Any] | None = None) -> list[str]:
    with pytest.raises(SuiteError) as caught:
        parse_suite(data, lambda path: (files or {})[path] if path in (files or {}) else _no_files(path))
    return str(caught.value).splitlines()


CPU_SERIES = {"series": 'cpu{host="a"}', "values": "95x3"}  # +0s .. +3m, above 90 throughout


@pytest.mark.parametrize(
    ("check", "passes"),
    [
        ({"expect": [{"rule": "cpu_high", "group_key": "host=a", "at": "1m"}]}, True),
        ({"expect": [{"rule": "cpu_high", "labels": {"host": "a"}, "at": "1m"}]}, True),
        ({"expect": [{"rule": "cpu_high", "group_key": "host=a", "at": "59s"}]}, False),  # still pending
        ({"expect": [{"rule": "cpu_high", "group_key": "host=b"}]}, False),
        ({"expect": [{"rule": "cpu_high", "status": "resolved"}]}, False),
        ({"expect_none": [{"rule": "cpu_high", "at": "30s"}]}, True),
        ({"expect_none": [{"rule": "cpu_high"}]}, False),
        ({"expect_none": [{"rule": "cpu_high", "labels": {"host": "b"}}]}, True),
    ],
)
def test_a_metric_series_fires_after_its_duration(check: dict[str, Any], passes: bool) -> None:
    assert run({"input_series": [CPU_SERIES], **check}, CPU)[0] is passes


def test_a_failing_case_prints_expected_got_and_the_truth_table() -> None:
    events = [
        {"at": "10s", "type": "error", "payload": {"service": "api", "code": 404}},
        {"at": "20s", "type": "error", "payload": {"service": "api"}},
    ]
    passed, text = run({"input_events": events, "expect": [{"rule": "api_errors", "group_key": "service=api"}]}, ERRORS)
    assert not passed
    lines = text.splitlines()
    assert lines[0] == "FAIL  case"
    assert "expected: an event of api_errors {group key 'service=api'} open at +20s" in text
    assert "got:      no event of api_errors by +20s" in text
    header = next(line for line in lines if line.strip().startswith("time"))
    assert "event_type == 'error'" in header and "code >= 500" in header
    row_404 = next(line for line in lines if line.strip().startswith("+10s"))
    assert "false (404)" in row_404 and "condition false" in row_404
    row_missing = next(line for line in lines if line.strip().startswith("+20s"))
    assert "unknown" in row_missing
    assert lines[-1] == "0 passed, 1 failed"


def test_an_event_rule_counts_repeats_and_resolves_after_silence() -> None:
    events = [{"at": f"{s}s", "type": "error", "payload": {"service": "api", "code": 503}} for s in (0, 30, 60)]
    expect = [
        {"rule": "api_errors", "group_key": "service=api", "count": 3, "at": "1m"},
        {"rule": "api_errors", "group_key": "service=api", "status": "resolved", "at": "3m"},
    ]
    assert run({"input_events": events, "expect": expect}, ERRORS)[0]
    wrong_count = [{"rule": "api_errors", "group_key": "service=api", "count": 2, "at": "1m"}]
    passed, text = run({"input_events": events, "expect": wrong_count}, ERRORS)
    assert not passed and "'service=api' open (fired +0s, count 3)" in text


def test_a_pattern_rule_matches_and_a_failure_prints_its_trace() -> None:
    events = [
        {"at": "0s", "type": "login.failed", "payload": {"user": "ann"}},
        {"at": "10s", "type": "login.failed", "payload": {"user": "ann"}},
        {"at": "20s", "type": "login.succeeded", "payload": {"user": "ann"}},
        {"at": "0s", "type": "login.failed", "payload": {"user": "bob"}},
        {"at": "20s", "type": "login.succeeded", "payload": {"user": "bob"}},
    ]
    ann = {"rule": "brute_force", "labels": {"user": "ann"}, "status": "fired"}
    bob = {"rule": "brute_force", "group_key": "user=bob", "status": "fired"}
    assert run({"input_events": events, "expect": [ann], "expect_none": [bob]}, BRUTE)[0]
    passed, text = run({"input_events": events, "expect": [bob]}, BRUTE)
    assert not passed
    assert "pattern trace of brute_force (up to +20s, 'user=bob'):" in text
    assert "+0s login.failed" in text and "started #" in text
    assert "user=ann" not in text.split("pattern trace")[1]  # the trace is the failing key's


def test_a_trailing_negation_fires_at_its_deadline_when_the_interval_passes_it() -> None:
    events = [
        {"at": "0s", "type": "order.placed", "payload": {"order": "o1"}},
        {"at": "0s", "type": "order.placed", "payload": {"order": "o2"}},
        {"at": "1m", "type": "payment.received", "payload": {"order": "o2"}},
    ]
    checks = {
        "expect": [{"rule": "unpaid", "group_key": "order=o1", "at": "5m"}],  # dated its deadline
        "expect_none": [
            {"rule": "unpaid", "group_key": "order=o1", "at": "299s"},
            {"rule": "unpaid", "group_key": "order=o2", "at": "10m"},
        ],
    }
    assert run({"input_events": events, **checks}, UNPAID)[0]


def test_a_pattern_rule_with_bad_fields_names_them() -> None:
    bad = {**BRUTE, "severity": "urgent", "trigger_spec": {**BRUTE["trigger_spec"], "within": "0s"}}
    found = problems({"rules": [bad], "tests": [{"name": "t", "expect_none": [{"rule": "brute_force"}]}]})
    assert "rules.0.severity" in "\n".join(found)
    assert "rules.0.trigger_spec.within: must be longer than 0s" in found


def test_a_malformed_file_names_every_field() -> None:
    data = {
        "rule_files": ["pack.yaml", "missing.yaml"],
        "rules": [{"name": "x", "trigger_type": "metric", "trigger_spec": {"metric_name": "a"}}],
        "tests": [{"name": "t", "expect": [{"rule": "nope"}]}],
    }
    found = problems(data, files={"pack.yaml": {"rules": [CPU, {"name": "y"}]}})
    text = "\n".join(found)
    assert "rule_files.0.rules.1.trigger_type" in text
    assert "rule_files.1: no file missing.yaml in this test" in found
    assert "rules.0.trigger_spec.operator" in text
    assert any(line.startswith("tests.0.expect.0.rule: no rule named 'nope'") for line in found)


@pytest.mark.parametrize(
    ("case", "path"),
    [
        ({"interval": "0s", "expect_none": [{"rule": "cpu_high"}]}, "tests.0.interval"),
        ({"start": "5m", "expect_none": [{"rule": "cpu_high"}]}, "tests.0.start"),
        ({"input_events": [{"at": "soon"}], "expect_none": [{"rule": "cpu_high"}]}, "tests.0.input_events.0.at"),
        ({"input_series": [{"series": "c", "values": "1+x"}], "expect_none": [{"rule": "cpu_high"}]}, "values"),
        ({"expect": [{"rule": "cpu_high", "status": "pending"}]}, "tests.0.expect.0.status"),
        ({"expect_none": [{"rule": "cpu_high", "whenever": 1}]}, "tests.0.expect_none.0.whenever"),
        ({}, "tests.0.expect: a test checks something"),
    ],
)
def test_a_malformed_case_names_its_field(case: dict[str, Any], path: str) -> None:
    found = problems({"rules": [CPU], "tests": [{"name": "t", **case}]})
    assert any(path in line for line in found), found


def test_pack_rules_given_by_apply_replace_the_files_rules_of_the_same_name() -> None:
    from services.common.domain.rules.model import parse_rule

    stricter = parse_rule({**CPU, "trigger_spec": {**CPU["trigger_spec"], "threshold": 99}})
    data = {
        "rules": [CPU],
        "tests": [{"name": "t", "input_series": [CPU_SERIES], "expect": [{"rule": "cpu_high", "at": "2m"}]}],
    }
    assert run_suite(parse_suite(data, _no_files))[0].passed
    assert not run_suite(parse_suite(data, _no_files, extra=[stricter]))[0].passed
