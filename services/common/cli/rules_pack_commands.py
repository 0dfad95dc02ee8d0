"""`cep rules export` and `cep rules apply`: a tenant's rules as a YAML pack, applied over the gateway's REST API."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from services.common.cli.gateway_client import EXIT_AUTH, EXIT_OK, ApiError, CliError, Gateway, UsageError, segment

if TYPE_CHECKING:
    from services.common.cli.rules_pack import Change
    from services.common.domain.rules.model import RuleSpec


def add_parsers(verbs: argparse._SubParsersAction, shared: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    export = verbs.add_parser(
        "export", help="write the tenant's rules as a rule pack (YAML, sorted by name)", parents=[shared]
    )
    export.add_argument("-o", "--output", type=Path, help="the file to write (default: standard output)")
    apply = verbs.add_parser(
        "apply", help="make the tenant's rules match a pack (by name); shows the diff first", parents=[shared]
    )
    apply.add_argument("-f", "--file", type=Path, required=True, help="the rule pack (YAML)")
    apply.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    apply.add_argument("--yes", action="store_true", help="apply without asking")
    apply.add_argument(
        "--test", type=Path, metavar="FILE", help="run these rule unit tests on the pack first; apply only if they pass"
    )


def main(gateway: Gateway, args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    """Export or apply; exit 0 when done, 1 when a rule was refused, 2 for a pack that cannot be applied."""
    from services.common.cli.rules_pack import PackError  # the rule model loads only for the commands that use it
    from services.common.domain.rules.errors import RuleValidationError

    try:
        if args.rules_command == "export":
            return _export(gateway, args.output, out, err)
        return _apply(gateway, args, out, err, stdin)
    except PackError as exc:
        raise UsageError(str(exc)) from None
    except RuleValidationError as exc:  # a stored rule this CLI's version does not know how to read
        raise CliError(f"the gateway returned a rule this cep version cannot read: {exc}") from None


def _export(gateway: Gateway, output: Path | None, out: TextIO, err: TextIO) -> int:
    from services.common.cli.rules_pack import export_pack

    rules = fetch_rules(gateway)
    text = export_pack(rules)
    if output is None:
        out.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {len(rules)} rule(s) to {output}", file=err)
    return EXIT_OK


def _apply(gateway: Gateway, args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from services.common.cli.rules_pack import PackError, describe, load_pack, plan, summary

    try:
        text = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackError(f"cannot read {args.file}: {exc.strerror}") from None
    pack = load_pack(text)
    if args.test is not None and _tests_fail(args.test, pack, out, err):
        return 1
    current = fetch_rules(gateway)
    changes = plan(pack, current)
    untouched = len({str(r["name"]) for r in current} - {c.name for c in changes})
    print(describe(changes, untouched), file=out)
    pending = [c for c in changes if c.step != "unchanged"]
    if not pending:
        print("nothing to change: the tenant's rules already match the pack", file=out)
        return EXIT_OK
    if args.dry_run:
        print("dry run: nothing was changed", file=out)
        return EXIT_OK
    if not args.yes and not _confirm(len(pending), err, stdin):
        print("not applied", file=out)
        return 1
    failed = 0
    for change in pending:
        try:
            _send(gateway, change)
            print(f"{change.step}d {change.name}", file=out)
        except ApiError as exc:
            if exc.code == EXIT_AUTH:  # the token may not write rules: every other change would fail alike
                raise
            failed += 1
            print(f"FAILED to {change.step} {change.name}: {exc}", file=out)
    print(f"applied {len(pending) - failed} of {len(pending)} change(s) of the plan: {summary(changes)}", file=out)
    return 1 if failed else EXIT_OK


def _tests_fail(path: Path, pack: list[RuleSpec], out: TextIO, err: TextIO) -> bool:
    """Run the test file with the pack's rules (they replace the file's rules of the same name) before any request."""
    from services.common.cli.rules_test_command import run_tests

    if run_tests(path, out, extra=pack) == EXIT_OK:
        return False
    print("cep rules apply: not applied: the rule tests failed", file=err)
    return True


def _confirm(count: int, err: TextIO, stdin: TextIO) -> bool:
    if not stdin.isatty():
        print("cep rules: refusing to apply without --yes (standard input is not a terminal)", file=err)
        return False
    print(f"apply {count} change(s)? [y/N] ", end="", file=err, flush=True)
    return stdin.readline().strip().lower() in ("y", "yes")


def _send(gateway: Gateway, change: Change) -> None:
    body = change.spec.canonical()
    if change.step == "create":
        gateway.post("/cep/rules", body)
    else:  # replace the whole rule, only if nobody changed it since it was read
        gateway.request(
            "PUT", f"/cep/rules/{segment(str(change.rule_id))}", json=body, headers={"If-Match": f'"{change.version}"'}
        )


def fetch_rules(gateway: Gateway) -> list[dict[str, Any]]:
    """Every rule of the token's tenant (all pages)."""
    items: list[dict[str, Any]] = gateway.every_page("/cep/rules", {"limit": 1000})["items"]
    return items
