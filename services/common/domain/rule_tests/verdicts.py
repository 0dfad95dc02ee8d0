"""Check a case's expectations against its run: each expectation that does not hold is a failure saying why.

An expected event holds when one episode of the rule, for the group key (or with every given label), is in the
expected status at the expectation's time (and has the expected count, when one is given). An absence holds when no
such episode has fired by then (`status: open`: none is open then).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.common.domain.rule_tests.suite import Absent, Case, Expected
from services.common.domain.rule_tests.timeline import CaseRun, Episode
from services.common.domain.rules.durations import format_duration


@dataclass(frozen=True)
class Failure:
    """An expectation that does not hold: what was expected, what happened, and where to look (rule, key, time)."""

    expected: str
    got: str
    rule: str
    group_key: str | None
    at: datetime


def check_case(case: Case, run: CaseRun) -> list[Failure]:
    """The failures of a case, in the order of its `expect` then `expect_none` entries."""
    failures: list[Failure] = []
    for expected in case.expect:
        at = run.end if expected.at is None else case.time_of(expected.at)
        if not any(_holds(e, expected, at) for e in _matching(run, expected)):
            got = _got(run, expected.rule, at)
            failures.append(Failure(_expected_text(expected, at, run), got, *_where(expected, at)))
    for absent in case.expect_none:
        at = run.end if absent.at is None else case.time_of(absent.at)
        seen = [e for e in _matching(run, absent) if _seen(e, absent.status, at)]
        if seen:
            failures.append(Failure(_absent_text(absent, at, run), _got(run, absent.rule, at), *_where(absent, at)))
    return failures


def offset(run: CaseRun, at: datetime) -> str:
    """A time as people read it in a test: `+90s` from the case's start, or the RFC 3339 time before the start."""
    if at < run.start:
        return at.isoformat().replace("+00:00", "Z")
    return "+" + format_duration((at - run.start).total_seconds())


def _matching(run: CaseRun, check: Expected | Absent) -> list[Episode]:
    return [
        e
        for e in run.episodes
        if e.rule == check.rule
        and (check.group_key is None or e.group_key == check.group_key)
        and all(e.labels.get(name) == value for name, value in (check.labels or {}).items())
    ]


def _holds(episode: Episode, expected: Expected, at: datetime) -> bool:
    if not _seen(episode, expected.status, at):
        return False
    return expected.count is None or episode.count_at(at) == expected.count


def _seen(episode: Episode, status: str, at: datetime) -> bool:
    found = episode.status_at(at)
    return found is not None if status == "fired" else found == status


def _where(check: Expected | Absent, at: datetime) -> tuple[str, str | None, datetime]:
    return check.rule, check.group_key, at


def _selector(check: Expected | Absent) -> str:
    parts = [] if check.group_key is None else [f"group key {check.group_key!r}"]
    parts += [f'{name}="{value}"' for name, value in (check.labels or {}).items()]
    return f" {{{', '.join(parts)}}}" if parts else ""


def _expected_text(expected: Expected, at: datetime, run: CaseRun) -> str:
    count = "" if expected.count is None else f" with count {expected.count}"
    return f"an event of {expected.rule}{_selector(expected)} {expected.status}{count} at {offset(run, at)}"


def _absent_text(absent: Absent, at: datetime, run: CaseRun) -> str:
    verb = "fired by" if absent.status == "fired" else "open at"
    return f"no event of {absent.rule}{_selector(absent)} {verb} {offset(run, at)}"


def _got(run: CaseRun, rule: str, at: datetime) -> str:
    """Every event of the rule by `at`, whatever its key: what the test actually produced."""
    lines = []
    for e in sorted(run.episodes, key=lambda e: (e.fired_at, e.group_key)):
        status = e.status_at(at)
        if e.rule != rule or status is None:
            continue
        key = repr(e.group_key) if e.group_key else "(no group key)"
        since = f"fired {offset(run, e.fired_at)}"
        if status == "resolved" and e.resolved_at is not None:
            since += f", resolved {offset(run, e.resolved_at)}"
        lines.append(f"{key} {status} ({since}, count {e.count_at(at)})")
    if not lines:
        return f"no event of {rule} by {offset(run, at)}"
    return f"events of {rule} at {offset(run, at)}: " + "; ".join(lines)
