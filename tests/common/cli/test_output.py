"""The CLI's tables: aligned columns, long cells cut, one line per row, times without fractions."""

from __future__ import annotations

import pytest

from services.common.cli.gateway_client import describe_problem
from services.common.cli.output import Column, cut, field, short_time, table, text


def test_a_table_aligns_its_columns_and_cuts_long_cells() -> None:
    rows = [{"id": "a", "note": "x" * 10, "ok": True}, {"id": "bbbb", "note": "two\nlines", "ok": None}]
    lines = table(rows, [field("id"), field("note", 6), Column("OK?", lambda r: r["ok"])]).splitlines()
    assert lines == ["ID    NOTE    OK?", "a     xxxxx…  yes", "bbbb  two l…  -"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2025-03-01T12:00:00.123456Z", "2025-03-01T12:00:00Z"),
        ("2025-03-01T12:00:00.5+00:00", "2025-03-01T12:00:00+00:00"),
        ("2025-03-01T12:00:00Z", "2025-03-01T12:00:00Z"),
        (None, None),
    ],
)
def test_times_lose_only_their_fraction_of_a_second(value: str | None, shown: str | None) -> None:
    assert short_time(value) == shown


def test_cells_are_one_line_and_cut_to_their_width() -> None:
    assert text({"a": [1, 2]}) == '{"a":[1,2]}' and text(False) == "no" and text("") == "-"
    assert cut("abcdef", 6) == "abcdef" and cut("abcdefg", 6) == "abcde…"


def test_a_problem_reads_status_title_detail_and_each_field_error() -> None:
    problem = {
        "title": "Unprocessable Entity",
        "detail": "invalid query",
        "errors": [{"loc": ["query", "since"], "msg": "not a time"}],
    }
    assert describe_problem(422, problem) == "422 Unprocessable Entity: invalid query\n  query.since: not a time"
    assert describe_problem(404, {}) == "404 Not Found"
