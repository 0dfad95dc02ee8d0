"""`cep channels list|test`: a tenant's notification channels over `/cep/channels`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from services.common.cli.gateway_client import EXIT_API, EXIT_OK, Gateway, common_options, output_option, run
from services.common.cli.listing import paging_options, show_list
from services.common.cli.output import Column, field, pairs, print_body

COLUMNS = (
    field("channel_id", 40),
    field("name", 40),
    field("type"),
    Column("DESTINATION", lambda c: destination(c.get("config") or {}), 60),
)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    channels = commands.add_parser("channels", help="the tenant's notification channels: list, test")
    verbs = channels.add_subparsers(dest="channels_command", required=True)
    shared, output = common_options(), output_option()
    verbs.add_parser("list", help="channels, oldest first", parents=[shared, output, paging_options()])
    test = verbs.add_parser(
        "test", help="send a test notification now; exits 1 when it failed", parents=[shared, output]
    )
    test.add_argument("channel", metavar="ID-or-name")


def main(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one `cep channels` command; exit codes as `cep --help` lists them."""

    def command(gateway: Gateway) -> int:
        if args.channels_command == "list":
            return show_list(gateway, "/cep/channels", {}, args, COLUMNS, out, err)
        response = gateway.post("/cep/channels/test", {"channel": args.channel})
        result = response.json()
        ok = result["ok"]  # required: a body without it is not the API's answer
        if args.output == "json":
            print_body(response, out)
        else:
            print(describe_test(result), file=out)
        if ok is not True:
            print(f"cep channels test: the test of {args.channel} failed", file=err)
            return EXIT_API
        return EXIT_OK

    return run(f"cep channels {args.channels_command}", args, command, err)


def destination(config: Mapping[str, Any]) -> Any:
    """Where a channel sends, from the fields its types have that are not secret (url, channel, recipients)."""
    for key in ("url", "channel", "to", "host"):
        if config.get(key):
            return config[key]
    return None


def describe_test(result: Mapping[str, Any]) -> str:
    """A channel test for people: ok or not, the answer's status and latency, and the error's kind and detail."""
    error = result.get("error") or {}
    latency = result.get("latency_ms")
    return pairs(
        [
            ("ok", result.get("ok")),
            ("status code", result.get("status_code")),
            ("latency", f"{latency:.0f} ms" if isinstance(latency, int | float) else None),
            ("error", f"{error.get('kind')}: {error.get('detail')}" if error else None),
        ]
    )
