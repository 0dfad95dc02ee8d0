"""The Daily Report folded from per-(rule, severity, status) counts: totals, order, caps and the text."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.domain.notify.reports import (
    MAX_RULES,
    EventCount,
    ReportWindow,
    build_report,
    report_text,
    window_seconds,
)

WINDOW = ReportWindow("acme", datetime(2026, 3, 2, 8, 0, tzinfo=UTC), 86400.0, exclude_rule_id="daily")


def test_an_empty_day_says_so() -> None:
    report = build_report(WINDOW, [])
    assert report["events"] == 0 and report["by_rule"] == [] and report["top_rules"] == []
    assert report_text(report) == "Daily report of acme: 2026-03-01T08:00:00Z to 2026-03-02T08:00:00Z (1d)\nNo events."


def test_rules_rank_by_events_then_occurrences_and_the_list_is_capped() -> None:
    counts = [EventCount(f"r{i:03d}", f"rule {i:03d}", "low", "open", 1, 1) for i in range(MAX_RULES + 3)]
    counts += [
        EventCount("busy", "busy", "critical", "acked", 2, 2),
        EventCount("busy", "busy", "custom", "resolved", 1, 9),
        EventCount("noisy", "noisy", "high", "open", 3, 40),
    ]
    report = build_report(WINDOW, counts)
    assert [r["rule_id"] for r in report["by_rule"][:3]] == ["noisy", "busy", "r000"]  # 3 events: 40 before 11
    assert len(report["by_rule"]) == MAX_RULES and report["other_rules"] == 5
    assert report["by_severity"] == {"critical": 2, "high": 3, "low": MAX_RULES + 3, "custom": 1}  # unknown last
    assert report["by_status"] == {"open": MAX_RULES + 6, "acked": 2, "resolved": 1}
    assert [r["rule_name"] for r in report["top_rules"]] == ["noisy", "busy", "rule 000", "rule 001", "rule 002"]


def test_the_window_round_trips_and_defaults_to_a_day() -> None:
    assert ReportWindow.from_dict(WINDOW.as_dict()) == WINDOW
    assert window_seconds({"type": "daily_report"}) == 86400 and window_seconds({"window": "12h"}) == 43200
