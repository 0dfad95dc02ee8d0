"""`cep silence add|query|expire`: the tenant's silences over `/cep/silences`, with amtool's matcher syntax.

Matchers are written as amtool writes them (`alertname=disk_full`, `host=~"db-.*"`, `env!=prod`) and checked here
before anything is sent (a bad one is a usage error, exit 2); as in amtool, a first argument without an operator
is the alert's name (`cep silence add disk_full` = `alertname=disk_full`).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from services.common.cli.gateway_client import (
    EXIT_OK,
    CliError,
    Gateway,
    UsageError,
    common_options,
    output_option,
    run,
    segment,
)
from services.common.cli.output import Column, print_body, print_json, short_time, table
from services.common.domain.labels.parse import MatcherSyntaxError, parse_matcher

DEFAULT_DURATION = "1h"  # amtool's
_BARE_NAME = re.compile(r"[^=!~\s]+")

COLUMNS = (
    Column("ID", lambda s: s.get("silence_id"), 40),
    Column("MATCHERS", lambda s: matchers_text(s.get("matchers") or []), 60),
    Column("STARTS AT", lambda s: short_time(s.get("starts_at"))),
    Column("ENDS AT", lambda s: short_time(s.get("ends_at")) or ("recurring" if s.get("recurrence") else None)),
    Column("STATE", lambda s: s.get("state")),
    Column("CREATED BY", lambda s: s.get("created_by"), 24),
    Column("COMMENT", lambda s: s.get("comment"), 40),
)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    silence = commands.add_parser("silence", help="the tenant's silences: add, query, expire (amtool's matchers)")
    verbs = silence.add_subparsers(dest="silence_command", required=True)
    shared, output = common_options(), output_option()
    add = verbs.add_parser("add", help="create a silence; prints its id", parents=[shared, output])
    add.add_argument("matchers", nargs="+", metavar="MATCHER", help='amtool\'s syntax: name=value, name=~"regex"')
    add.add_argument("--comment", "-c", required=True, help="why (required, as amtool requires it)")
    add.add_argument("--author", "-a", help="default: the token's name")
    add.add_argument("--start", metavar="TIME", help="RFC 3339 (default now)")
    ends = add.add_mutually_exclusive_group()
    ends.add_argument("--duration", "-d", help=f"how long, from the start (default {DEFAULT_DURATION})")
    ends.add_argument("--end", metavar="TIME", help="RFC 3339, instead of --duration")
    query = verbs.add_parser("query", help="active and pending silences", parents=[shared, output])
    query.add_argument("matchers", nargs="*", metavar="MATCHER", help="only silences that have this very matcher")
    query.add_argument("--expired", action="store_true", help="expired silences instead")
    query.add_argument("-q", "--quiet", action="store_true", help="only the ids, one a line")
    expire = verbs.add_parser("expire", help="expire silences now", parents=[shared])
    expire.add_argument("ids", nargs="+", metavar="ID")


def main(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one `cep silence` command; exit codes as `cep --help` lists them."""
    name = f"cep silence {args.silence_command}"

    def command(gateway: Gateway) -> int:
        if args.silence_command == "add":
            return _add(gateway, args, out)
        if args.silence_command == "query":
            return _query(gateway, args, out)
        return _expire(gateway, args.ids, name, err)

    return run(name, args, command, err)


def matchers_text(matchers: Sequence[Mapping[str, Any]]) -> str:
    """`alertname="disk_full" host=~"db-.*"`, as amtool's table shows them."""
    return " ".join(f'{m.get("name")}{m.get("type")}"{_escaped(str(m.get("value")))}"' for m in matchers)


def read_matchers(texts: Sequence[str], *, bare_name: bool) -> list[dict[str, str]]:
    """The matchers of the command line as the API's objects; a bad one is a usage error naming it."""
    out = []
    for index, text in enumerate(texts):
        if bare_name and index == 0 and _BARE_NAME.fullmatch(text):
            text = f"alertname={text}"
        try:
            matcher = parse_matcher(text)
        except (MatcherSyntaxError, ValueError) as exc:
            raise UsageError(f"matcher {text!r}: {exc}") from None
        out.append({"name": matcher.name, "type": matcher.type.value, "value": matcher.value})
    return out


def _add(gateway: Gateway, args: argparse.Namespace, out: TextIO) -> int:
    body: dict[str, Any] = {"matchers": read_matchers(args.matchers, bare_name=True), "comment": args.comment}
    if args.author:
        body["created_by"] = args.author
    if args.start:
        body["starts_at"] = args.start
    if args.end:
        body["ends_at"] = args.end
    else:
        body["duration"] = args.duration or DEFAULT_DURATION
    response = gateway.post("/cep/silences", body)
    if args.output == "json":
        print_body(response, out)
    else:
        print(response.json()["silence_id"], file=out)
    return EXIT_OK


def _query(gateway: Gateway, args: argparse.Namespace, out: TextIO) -> int:
    wanted = read_matchers(args.matchers, bare_name=True)
    state = "expired" if args.expired else "active,pending"
    listed = gateway.every_page("/cep/silences", {"state": state, "limit": 1000})
    items = [s for s in listed["items"] if all(m in s["matchers"] for m in wanted)]
    if args.output == "json":
        print_json({"items": items, "total": len(items), "next_cursor": None}, out)
    elif args.quiet:
        for silence in items:
            print(silence["silence_id"], file=out)
    else:
        print(table(items, COLUMNS), file=out)
    return EXIT_OK


def _expire(gateway: Gateway, ids: Sequence[str], name: str, err: TextIO) -> int:
    """Expire each silence; a failure is reported and the others are still expired. The first failure's code."""
    code = EXIT_OK
    for silence_id in ids:
        try:
            gateway.post(f"/cep/silences/{segment(silence_id)}/expire", None)
        except CliError as exc:
            print(f"{name}: {silence_id}: {exc}", file=err)
            code = code or exc.code
    return code


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
