"""`cep routes test|show`: the tenant's notification policy (`/cep/notification-policies`) and its route tester.

`cep routes test` takes labels as amtool does (`team=db`, `severity="page"`) and prints what
`amtool config routes test` prints: the receivers joined by commas. `-o wide` adds a table of the matched routes
(receiver, channels, grouping, timings, muted now or not) and `-o json` prints the API's body. `--policy FILE`
tests a draft (YAML or JSON, the API's document) instead of the stored policy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

import yaml

from services.common.cli.gateway_client import EXIT_OK, Gateway, UsageError, common_options, run
from services.common.cli.output import Column, field, print_body, table
from services.common.domain.labels.matchers import MatchType
from services.common.domain.labels.parse import MatcherSyntaxError, parse_matcher

ROUTE_COLUMNS = (
    Column("PATH", lambda r: ".".join(str(i) for i in r["path"]) or "(root)", 20),
    field("receiver", 30),
    Column("CHANNELS", lambda r: ",".join(r["channels"]) or "-", 40),
    Column("GROUP BY", lambda r: ",".join(r["group_by"]) or "-", 30),
    Column("WAIT/INTERVAL/REPEAT", lambda r: f"{r['group_wait']}/{r['group_interval']}/{r['repeat_interval']}"),
    Column("MUTED", lambda r: r["muted_reason"] if r["muted_at"] else "no", 40),
)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    routes = commands.add_parser("routes", help="the notification policy: test a label set, show the policy")
    verbs = routes.add_subparsers(dest="routes_command", required=True)
    shared = common_options()
    test = verbs.add_parser(
        "test", help="the receivers a label set is routed to (like amtool config routes test)", parents=[shared]
    )
    test.add_argument("labels", nargs="*", metavar="name=value", help='labels: name=value or name="value"')
    test.add_argument("--policy", type=Path, default=None, help="test this draft (YAML or JSON) instead")
    test.add_argument("--at", default=None, help="judge time intervals at this RFC 3339 time (default now)")
    test.add_argument(
        "-o", "--output", choices=("line", "wide", "json"), default="line", help="amtool's line, a table, or JSON"
    )
    show = verbs.add_parser("show", help="the stored policy as YAML (-o json: the API's body)", parents=[shared])
    show.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml", help="YAML (default) or JSON")


def main(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one `cep routes` command; exit codes as `cep --help` lists them."""

    def command(gateway: Gateway) -> int:
        if args.routes_command == "show":
            return _show(gateway, args.output, out)
        body: dict[str, Any] = {"labels": parse_labels(args.labels)}
        if args.policy is not None:
            body["policy"] = read_policy(args.policy)
        if args.at:
            body["at"] = args.at
        response = gateway.post("/cep/notification-policies/test", body)
        result = response.json()
        if args.output == "json":
            print_body(response, out)
        elif args.output == "wide":
            print(table(result["routes"], ROUTE_COLUMNS), file=out)
        else:
            print(result["line"], file=out)
        return EXIT_OK

    return run(f"cep routes {args.routes_command}", args, command, err)


def parse_labels(arguments: list[str]) -> dict[str, str]:
    """Labels from amtool-style arguments (`name=value`, `name="value"`); a usage error otherwise."""
    labels: dict[str, str] = {}
    for text in arguments:
        try:
            matcher = parse_matcher(text)
        except MatcherSyntaxError as exc:
            raise UsageError(f"{text!r} is not a label (name=value): {exc}") from None
        if matcher.type != MatchType.EQUAL:
            raise UsageError(f"{text!r} is not a label: only name=value (no !=, =~, !~)")
        labels[matcher.name] = matcher.value
    return labels


def read_policy(path: Path) -> Any:
    """A draft policy from a YAML or JSON file (JSON is YAML); a usage error when it cannot be read."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read the policy {path}: {exc}") from None


def _show(gateway: Gateway, output: str, out: TextIO) -> int:
    response = gateway.get("/cep/notification-policies")
    if output == "json":
        print_body(response, out)
        return EXIT_OK
    body = response.json()
    document = {key: body[key] for key in ("route", "receivers", "time_intervals")}
    print(f"# version {body['version']}, updated {body['updated_at']} by {body['updated_by']}", file=out)
    out.write(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return EXIT_OK
