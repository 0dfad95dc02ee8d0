"""`cep rules test FILE`: run rule unit tests offline, like `promtool test rules` (no gateway, no token).

Exit 0 when every case passes, 1 when one fails (each failure printed with its truth table or pattern trace),
2 for a file that cannot run (every bad field named). `cep rules apply --test FILE` calls `run_tests` first.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from services.common.cli.gateway_client import EXIT_API, EXIT_INTERRUPTED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from services.common.domain.rules.model import RuleSpec


def add_parser(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    test = verbs.add_parser(
        "test", help="run rule unit tests offline: input events and series, expected events (docs/cli.md)"
    )
    test.add_argument("file", type=Path, metavar="FILE", help="the test file (YAML)")


def main(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`cep rules test FILE`; the exit code as the module docstring says."""
    try:
        return run_tests(args.file, out)
    except UsageError as exc:
        print(f"cep rules test: {exc}", file=err)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug of the runner, not of the file: one line, never a traceback
        print(f"cep rules test: the test run failed unexpectedly: {type(exc).__name__}: {exc}", file=err)
        return EXIT_API


def run_tests(path: Path, out: TextIO, extra: Sequence[RuleSpec] = ()) -> int:
    """Run a test file (with `extra` rules replacing those of the same name); print the report; 0 or 1.

    UsageError for a file that cannot be read or does not validate.
    """
    from services.common.domain.rule_tests.report import report, run_suite  # the domain loads only when used
    from services.common.domain.rule_tests.suite import SuiteError, parse_suite
    from services.common.domain.rules.errors import FieldError

    try:
        data = _yaml(path, str(path))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        suite = parse_suite(data, lambda name: _yaml(path.parent / name, name), extra)
        results = run_suite(suite)
    except SuiteError as exc:
        raise UsageError(f"{path} is not a valid rule test file:\n{_indented(str(exc))}") from None
    except ValueError as exc:  # a case too long to run names its field
        problem = exc.args[0] if exc.args and isinstance(exc.args[0], FieldError) else None
        raise UsageError(f"{path}: {problem.path + ': ' + problem.msg if problem else exc}") from None
    print(report(results), file=out)
    return EXIT_OK if all(r.passed for r in results) else EXIT_API


def _yaml(path: Path, shown: str) -> Any:
    """A YAML file's data; ValueError saying why it cannot be read."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {shown}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{shown} is not valid YAML: {exc}") from None


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
