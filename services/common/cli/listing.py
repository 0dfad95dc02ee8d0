"""List commands of every noun: one page (`--limit`) or all of them (`--all`), as a table or the API's list body."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from services.common.cli.gateway_client import EXIT_OK, Gateway
from services.common.cli.output import Column, print_body, print_json, table


def paging_options() -> argparse.ArgumentParser:
    """`--limit N` and `--all` (a parent parser)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--limit", type=int, default=None, help="at most this many (one page; the API's default 50)")
    parser.add_argument("--all", action="store_true", help="follow next_cursor to the end and print every item")
    return parser


def show_list(
    gateway: Gateway,
    path: str,
    params: Mapping[str, Any],
    args: argparse.Namespace,
    columns: Sequence[Column],
    out: TextIO,
    err: TextIO,
) -> int:
    """Fetch a list route and print it; in a table, say on stderr when more items are left."""
    params = {**params, "limit": args.limit or (1000 if args.all else None)}  # --all: the largest pages
    if args.all:
        body = gateway.every_page(path, params)
        if args.output == "json":
            print_json(body, out)
            return EXIT_OK
    else:
        response = gateway.get(path, params)
        if args.output == "json":
            print_body(response, out)
            return EXIT_OK
        body = response.json()
    print(table(body["items"], columns), file=out)
    if body.get("next_cursor"):
        print(f"({len(body['items'])} of {body.get('total', '?')} shown: --all for every one)", file=err)
    return EXIT_OK
