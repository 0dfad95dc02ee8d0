"""`cep rules export` and `cep rules apply`: a tenant's rules as a YAML pack, applied over the gateway's REST API."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import httpx

from services.common.cli.rules_pack import Change, PackError, describe, export_pack, load_pack, plan, summary
from services.common.domain.rules.errors import RuleValidationError

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_SECONDS = 30.0


class GatewayError(RuntimeError):
    """The gateway refused or could not be reached; the message says what it answered."""


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rules = commands.add_parser("rules", help="a tenant's rules as code: export them to YAML, apply a YAML rule pack")
    actions = rules.add_subparsers(dest="rules_command", required=True)
    export = actions.add_parser("export", help="write the tenant's rules as a rule pack (YAML, sorted by name)")
    export.add_argument("-o", "--output", type=Path, help="the file to write (default: standard output)")
    apply = actions.add_parser("apply", help="make the tenant's rules match a pack (by name); shows the diff first")
    apply.add_argument("-f", "--file", type=Path, required=True, help="the rule pack (YAML)")
    apply.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    apply.add_argument("--yes", action="store_true", help="apply without asking")
    for sub in (export, apply):
        sub.add_argument("--url", default=None, help=f"the gateway (default $CEP_URL or {DEFAULT_URL})")
        sub.add_argument("--token", default=None, help="an API token of the tenant (default $CEP_TOKEN)")


def main(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr, stdin: TextIO = sys.stdin
) -> int:
    """Run `cep rules export|apply`; exit 0 when done, 1 when a rule was refused, 2 for bad input or no gateway."""
    token = args.token or os.environ.get("CEP_TOKEN")
    if not token:
        print("cep rules: an API token is needed: --token or $CEP_TOKEN", file=err)
        return 2
    url = args.url or os.environ.get("CEP_URL") or DEFAULT_URL
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT_SECONDS, trust_env=False) as client:
            if args.rules_command == "export":
                return _export(client, args.output, out, err)
            return _apply(client, args, out, err, stdin)
    except (GatewayError, PackError) as exc:
        print(f"cep rules: {exc}", file=err)
        return 2
    except RuleValidationError as exc:  # a stored rule this CLI's version does not know how to read
        print(f"cep rules: the gateway returned a rule this cep version cannot read: {exc}", file=err)
        return 2
    except httpx.HTTPError as exc:
        print(f"cep rules: cannot reach the gateway at {url}: {exc}", file=err)
        return 2


def _export(client: httpx.Client, output: Path | None, out: TextIO, err: TextIO) -> int:
    rules = fetch_rules(client)
    text = export_pack(rules)
    if output is None:
        out.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {len(rules)} rule(s) to {output}", file=err)
    return 0


def _apply(client: httpx.Client, args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    try:
        text = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackError(f"cannot read {args.file}: {exc.strerror}") from None
    pack = load_pack(text)
    current = fetch_rules(client)
    changes = plan(pack, current)
    untouched = len({str(r["name"]) for r in current} - {c.name for c in changes})
    print(describe(changes, untouched), file=out)
    pending = [c for c in changes if c.step != "unchanged"]
    if not pending:
        print("nothing to change: the tenant's rules already match the pack", file=out)
        return 0
    if args.dry_run:
        print("dry run: nothing was changed", file=out)
        return 0
    if not args.yes and not _confirm(len(pending), err, stdin):
        print("not applied", file=out)
        return 1
    failed = 0
    for change in pending:
        try:
            _send(client, change)
            print(f"{change.step}d {change.name}", file=out)
        except GatewayError as exc:
            failed += 1
            print(f"FAILED to {change.step} {change.name}: {exc}", file=out)
    print(f"applied {len(pending) - failed} of {len(pending)} change(s) of the plan: {summary(changes)}", file=out)
    return 1 if failed else 0


def _confirm(count: int, err: TextIO, stdin: TextIO) -> bool:
    if not stdin.isatty():
        print("cep rules: refusing to apply without --yes (standard input is not a terminal)", file=err)
        return False
    print(f"apply {count} change(s)? [y/N] ", end="", file=err, flush=True)
    return stdin.readline().strip().lower() in ("y", "yes")


def _send(client: httpx.Client, change: Change) -> None:
    body = change.spec.canonical()
    if change.step == "create":
        response = client.post("/cep/rules", json=body)
    else:  # replace the whole rule, only if nobody changed it since it was read
        response = client.put(f"/cep/rules/{change.rule_id}", json=body, headers={"If-Match": f'"{change.version}"'})
    if response.status_code >= 400:
        raise GatewayError(_problem(response))


def fetch_rules(client: httpx.Client) -> list[dict[str, Any]]:
    """Every rule of the token's tenant (all pages)."""
    rules: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        response = client.get("/cep/rules", params=params)
        if response.status_code != 200:
            raise GatewayError(f"GET /cep/rules: {_problem(response)}")
        page = response.json()
        rules.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return rules


def _problem(response: httpx.Response) -> str:
    """`409 policy min_simulations_before_activation: 0 of 3 simulations ...` from a problem answer."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"{response.status_code} {detail or response.reason_phrase}"
