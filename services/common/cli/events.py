"""`cep events list|show|ack|feedback`: a tenant's alert events over `/cep/events`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from services.common.cli.gateway_client import EXIT_OK, Gateway, common_options, output_option, run, segment
from services.common.cli.listing import paging_options, show_list
from services.common.cli.output import Column, field, pairs, print_body, short_time, table

STATUSES = ("open", "acked", "resolved")
SEVERITIES = ("critical", "high", "medium", "low", "info")  # the rule model's Severity (a test keeps them equal)
LABELS = ("true_positive", "false_positive")

COLUMNS = (
    field("event_id", 40),
    field("status"),
    field("severity"),
    Column("RULE", lambda e: e.get("rule_name"), 32),
    Column("FIRED", lambda e: short_time(e.get("fired_at"))),
    field("count"),
    field("summary", 60),
)
NOTIFICATION_COLUMNS = (
    field("channel", 32),
    field("type"),
    field("status"),
    field("attempts"),
    Column("LAST ERROR", lambda n: n.get("last_error"), 60),
)
HISTORY_COLUMNS = (
    Column("AT", lambda h: short_time(h.get("at"))),
    field("status"),
    field("actor", 32),
    field("note", 60),
)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    events = commands.add_parser("events", help="the tenant's alert events: list, show, acknowledge, label")
    verbs = events.add_subparsers(dest="events_command", required=True)
    shared, output = common_options(), output_option()
    listing = verbs.add_parser("list", help="events, newest first", parents=[shared, output, paging_options()])
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--severity", choices=SEVERITIES)
    listing.add_argument("--rule", metavar="RULE_ID", help="only this rule's events")
    listing.add_argument("--since", metavar="TIME", help="fired at or after (RFC 3339)")
    listing.add_argument("--until", metavar="TIME", help="fired at or before (RFC 3339)")
    verbs.add_parser("show", help="one event in full", parents=[shared, output]).add_argument("event_id")
    ack = verbs.add_parser("ack", help="acknowledge an event (a second ack changes nothing)", parents=[shared, output])
    ack.add_argument("event_id")
    ack.add_argument("--note", help="why, for the event's history")
    feedback = verbs.add_parser("feedback", help="label an event a true or false positive", parents=[shared, output])
    feedback.add_argument("event_id")
    feedback.add_argument("--label", choices=LABELS, required=True)
    feedback.add_argument("--note")


def main(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one `cep events` command; exit codes as `cep --help` lists them."""
    name = f"cep events {args.events_command}"

    def command(gateway: Gateway) -> int:
        if args.events_command == "list":
            params = {
                "status": args.status,
                "severity": args.severity,
                "rule_id": args.rule,
                "since": args.since,
                "until": args.until,
            }
            return show_list(gateway, "/cep/events", params, args, COLUMNS, out, err)
        path = f"/cep/events/{segment(args.event_id)}"
        if args.events_command == "show":
            response = gateway.get(path)
        elif args.events_command == "ack":
            response = gateway.post(f"{path}/ack", {"note": args.note})
        else:
            response = gateway.post(f"{path}/feedback", {"label": args.label, "note": args.note})
        if args.output == "json":
            print_body(response, out)
        else:
            print(describe(response.json()), file=out)
        return EXIT_OK

    return run(name, args, command, err)


def describe(event: Mapping[str, Any]) -> str:
    """One event for people: its fields, then its notifications and history as tables."""
    feedback = event.get("feedback") or {}
    lines = pairs(
        [
            ("event", event.get("event_id")),
            ("rule", f"{event.get('rule_name')} ({event.get('rule_id')}, version {event.get('rule_version')})"),
            ("status", event.get("status")),
            ("severity", event.get("severity")),
            ("fired", short_time(event.get("fired_at"))),
            ("last seen", short_time(event.get("last_seen"))),
            ("resolved", short_time(event.get("resolved_at"))),
            ("count", event.get("count")),
            ("group", event.get("group_key")),
            ("summary", event.get("summary")),
            (
                "acked",
                f"by {event['acked_by']} at {short_time(event.get('acked_at'))}" if event.get("acked_by") else None,
            ),
            ("feedback", f"{feedback.get('label')} by {feedback.get('by')}" if feedback else None),
            ("payload", event.get("payload")),
        ]
    )
    sections = [lines]
    if event.get("notifications"):
        sections.append("notifications:\n" + table(event["notifications"], NOTIFICATION_COLUMNS))
    sections.append("history:\n" + table(event.get("history") or [], HISTORY_COLUMNS))
    return "\n\n".join(sections)
