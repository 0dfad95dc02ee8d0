"""The chaos suite's stack (one `cep up` per module) and the results table printed at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import RESULTS, Row
from tests.support.stack import Stack, start_stack, stop_stack

# Schedule rules fire every second (the cron minute field counts seconds): the scheduler has work every second.
STACK_ENV = {"CEP_SCHEDULER_CRON_SECONDS": "true"}


def start_chaos_stack(state_dir: Path, **env: str) -> Stack:
    return start_stack(state_dir, env={**STACK_ENV, **env})


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_chaos_stack(tmp_path_factory.mktemp("chaos") / "state")
    yield stack
    stop_stack(stack)


COLUMNS = (
    ("fault", "fault"),
    ("events", "events"),
    ("uncertain", "uncertain"),
    ("in flight at the fault", "in_flight"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("alerts missing", "missing_alerts"),
    ("series wrong", "series_wrong"),
    ("webhooks (repeats, same id)", "deliveries"),
    ("schedule runs", "schedule_runs"),
    ("recovery s (budget)", "recovery"),
    ("converged s", "converged"),
    ("new events flow s", "canary"),
)


def table(rows: list[Row]) -> str:
    """The results as a Markdown table (docs/reliability.md shows one)."""

    def cell(row: Row, field: str) -> str:
        if field == "deliveries":
            return f"{row.deliveries} ({row.repeated_deliveries})"
        if field == "recovery":
            return f"{row.recovery:g} ({row.budget:g})"
        return str(getattr(row, field))

    lines = ["| " + " | ".join(title for title, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(row, field) for _, field in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RESULTS:
        terminalreporter.section("chaos: fault, events, lost, duplicated, recovery")
        terminalreporter.write_line(table(RESULTS))
