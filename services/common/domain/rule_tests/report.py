"""Run a whole suite and write its report: one line per passing case; per failure, expected, got and the evidence.

The evidence is the rule's truth table (each input the rule was a candidate for, up to the failing check's time and
for its group key when the check names one: every condition node's result and value, then the verdict) or, for a
pattern rule, the matcher's trace (what each input did to each partial match, and why).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.domain.rule_tests.suite import Case, Suite
from services.common.domain.rule_tests.timeline import CaseRun, run_case
from services.common.domain.rule_tests.verdicts import Failure, check_case, offset

MAX_ROWS = 30  # of a truth table or trace: the latest ones, the rest counted


@dataclass(frozen=True)
class CaseResult:
    """One case's name, its failures (none: it passed) and the report lines of the failures."""

    name: str
    failures: list[Failure]
    lines: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def run_suite(suite: Suite) -> list[CaseResult]:
    """Run every case of the suite, in file order."""
    return [_result(suite, case) for case in suite.cases]


def report(results: Sequence[CaseResult]) -> str:
    """The text `cep rules test` prints: PASS or FAIL per case, the failures' evidence, a count."""
    lines: list[str] = []
    for result in results:
        lines.append(f"{'PASS' if result.passed else 'FAIL'}  {result.name}")
        lines.extend(result.lines)
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)


def _result(suite: Suite, case: Case) -> CaseResult:
    run = run_case(suite.rules, case)
    failures = check_case(case, run)
    lines: list[str] = []
    for failure in failures:
        lines += [f"  expected: {failure.expected}", f"  got:      {failure.got}"]
        lines += ["    " + line for line in _evidence(suite, run, failure)]
    return CaseResult(case.name, failures, lines)


def _evidence(suite: Suite, run: CaseRun, failure: Failure) -> list[str]:
    tested = suite.rules[failure.rule]
    scope = f"up to {offset(run, failure.at)}" + ("" if failure.group_key is None else f", {failure.group_key!r}")
    if tested.pattern is not None:
        return [f"pattern trace of {failure.rule} ({scope}):", *_trace(run, failure)]
    return [f"truth table of {failure.rule} ({scope}):", *_truth_table(run, failure)]


def _truth_table(run: CaseRun, failure: Failure) -> list[str]:
    rows = [
        row
        for row in run.truth.get(failure.rule, [])
        if row.time <= failure.at and (failure.group_key is None or row.group_key == failure.group_key)
    ]
    if not rows:
        return ["(no input reached this rule: check the event type, metric name or payload paths)"]
    exprs: list[str] = []
    for row in rows:
        exprs += [expr for expr, _, _ in row.nodes if expr not in exprs]
    header = ["time", "type", "group key", *exprs, "state", "reason"]
    body = []
    for row in rows[-MAX_ROWS:]:
        cells = {expr: _cell(result, value) for expr, result, value in row.nodes}
        body.append(
            [offset(run, row.time), row.event_type or "-", row.group_key or "-"]
            + [cells.get(expr, "") for expr in exprs]
            + [row.state, row.reason]
        )
    return _left_out(len(rows)) + _aligned([header, *body])


def _trace(run: CaseRun, failure: Failure) -> list[str]:
    lines = []
    for line in run.traces.get(failure.rule, []):
        event = None if line.seq is None else run.inputs[line.seq]
        if event is not None and event.time > failure.at:
            continue
        if failure.group_key is not None and line.key not in (None, failure.group_key):
            continue
        when = "(time passes)" if event is None else f"{offset(run, event.time)} {event.kind or '-'}"
        partial = "" if line.partial is None else f" #{line.partial}"
        lines.append([when, line.key or "-", f"{line.outcome}{partial}", line.reason])
    if not lines:
        return ["(no input reached this pattern)"]
    return _left_out(len(lines)) + _aligned([["input", "key", "outcome", "why"], *lines[-MAX_ROWS:]])


def _cell(result: bool | None, value: Any) -> str:
    verdict = {True: "true", False: "false", None: "unknown"}[result]
    if value is None:
        return verdict
    return f"{verdict} ({json.dumps(value, default=str)})"


def _left_out(count: int) -> list[str]:
    return [f"({count - MAX_ROWS} earlier rows left out)"] if count > MAX_ROWS else []


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
