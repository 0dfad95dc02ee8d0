"""The Daily Report: a digest of a tenant's events over a window (counts by rule, severity and status, top rules).

Pure: the gateway counts its events table per (rule, severity, status) and `build_report` folds those counts into
the report the notifier sends (`report_text` is its message when the action has no template of its own).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.common.domain.events.model import format_time, parse_time
from services.common.domain.rules.durations import format_duration, parse_duration

DEFAULT_WINDOW = "24h"
TOP_RULES = 5
MAX_RULES = 50  # rules listed in `by_rule`; the rest are counted in `other_rules`
SEVERITIES = ("critical", "high", "medium", "low", "info")
STATUSES = ("open", "acked", "resolved")


@dataclass(frozen=True)
class EventCount:
    """Events of one rule with one severity and status in the window, and their occurrences (absorbed repeats)."""

    rule_id: str
    rule_name: str
    severity: str
    status: str
    events: int
    occurrences: int


@dataclass(frozen=True)
class ReportWindow:
    """What a report covers: the tenant's events fired in [until - window, until), leaving out one rule's own."""

    tenant: str
    until: datetime
    seconds: float
    exclude_rule_id: str | None = None

    @property
    def since(self) -> datetime:
        return self.until - timedelta(seconds=self.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "until": format_time(self.until),
            "window_seconds": self.seconds,
            "exclude_rule_id": self.exclude_rule_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportWindow:
        return cls(
            str(data["tenant"]),
            parse_time(str(data["until"])),
            float(data["window_seconds"]),
            data.get("exclude_rule_id"),
        )


def window_seconds(action: Mapping[str, Any]) -> float:
    """The window of a `daily_report` action (`window`, default 24h)."""
    return parse_duration(str(action.get("window") or DEFAULT_WINDOW))


def build_report(window: ReportWindow, counts: Iterable[EventCount]) -> dict[str, Any]:
    """The report: totals, counts by severity and status, per rule (most events first), and the top rules."""
    rows = list(counts)
    severity: Counter[str] = Counter()
    status: Counter[str] = Counter()
    rules: dict[str, dict[str, Any]] = {}
    for row in rows:
        severity[row.severity] += row.events
        status[row.status] += row.events
        rule = rules.setdefault(
            row.rule_id,
            {"rule_id": row.rule_id, "rule_name": row.rule_name, "events": 0, "occurrences": 0, "open": 0},
        )
        rule["events"] += row.events
        rule["occurrences"] += row.occurrences
        rule["open"] += row.events if row.status == "open" else 0
    ranked = sorted(rules.values(), key=lambda r: (-r["events"], -r["occurrences"], r["rule_name"], r["rule_id"]))
    return {
        "kind": "daily_report",
        "tenant": window.tenant,
        "since": format_time(window.since),
        "until": format_time(window.until),
        "window": format_duration(window.seconds),
        "events": sum(r.events for r in rows),
        "occurrences": sum(r.occurrences for r in rows),
        "by_severity": _ordered(severity, SEVERITIES),
        "by_status": _ordered(status, STATUSES),
        "by_rule": ranked[:MAX_RULES],
        "other_rules": max(0, len(ranked) - MAX_RULES),
        "top_rules": [{"rule_name": r["rule_name"], "events": r["events"]} for r in ranked[:TOP_RULES]],
    }


def report_text(report: Mapping[str, Any]) -> str:
    """The report as a message: the window, the totals, then severities, statuses and the top rules."""
    head = f"Daily report of {report['tenant']}: {report['since']} to {report['until']} ({report['window']})"
    if not report["events"]:
        return f"{head}\nNo events."
    lines = [
        head,
        f"{report['events']} events ({report['occurrences']} occurrences)",
        "By status: " + _pairs(report["by_status"]),
        "By severity: " + _pairs(report["by_severity"]),
        "Top rules: " + ", ".join(f"{r['rule_name']} {r['events']}" for r in report["top_rules"]),
    ]
    return "\n".join(lines)


def _ordered(counts: Counter[str], order: tuple[str, ...]) -> dict[str, int]:
    known = {key: counts[key] for key in order if counts[key]}
    return known | {key: counts[key] for key in sorted(counts) if key not in order and counts[key]}


def _pairs(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items()) or "-"
