"""`cep rules ...`: list, show, simulate, (de)activate a tenant's rules; export, apply and test rule packs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import httpx

from services.common.cli import rules_pack_commands, rules_test_command
from services.common.cli.gateway_client import (
    EXIT_OK,
    ApiError,
    CliError,
    Gateway,
    UsageError,
    common_options,
    output_option,
    run,
    segment,
)
from services.common.cli.listing import paging_options, show_list
from services.common.cli.output import Column, field, pairs, print_body, short_time, table

COLUMNS = (
    field("rule_id", 40),
    field("name", 40),
    Column("TYPE", lambda r: r.get("trigger_type")),
    field("active"),
    field("severity"),
    field("version"),
    Column("FIRINGS", lambda r: r.get("firing_count")),
    Column("LAST FIRED", lambda r: short_time(r.get("last_fired_at"))),
)
CONDITION_COLUMNS = (field("expr", 70), field("result"), field("value", 40))
ACTION_COLUMNS = (field("type"), field("channel", 32), Column("MESSAGE", lambda a: a.get("rendered_message"), 70))


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rules = commands.add_parser("rules", help="the tenant's rules: list, show, simulate, (de)activate, export, apply")
    verbs = rules.add_subparsers(dest="rules_command", required=True)
    shared, output = common_options(), output_option()
    listing = verbs.add_parser("list", help="rules, oldest first", parents=[shared, output, paging_options()])
    listing.add_argument("--active", action=argparse.BooleanOptionalAction, default=None, help="active or not")
    listing.add_argument("--type", dest="trigger_type", help="only this trigger type (metric, event, ...)")
    listing.add_argument("-q", dest="query", help="a substring of the name or description")
    verbs.add_parser("show", help="one rule in full", parents=[shared, output]).add_argument(
        "rule", metavar="ID-or-name"
    )
    simulate = verbs.add_parser(
        "simulate", help="evaluate a stored rule over a payload; sends nothing", parents=[shared, output]
    )
    simulate.add_argument("rule", metavar="ID-or-name")
    simulate.add_argument("--payload", required=True, help="a JSON object (or array of them), or @FILE holding it")
    for verb, text in (("activate", "make a rule active"), ("deactivate", "make a rule inactive")):
        verbs.add_parser(verb, help=f"{text} (a conditional PATCH)", parents=[shared, output]).add_argument(
            "rule", metavar="ID-or-name"
        )
    rules_pack_commands.add_parsers(verbs, shared)
    rules_test_command.add_parser(verbs)


def main(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr, stdin: TextIO = sys.stdin
) -> int:
    """Run one `cep rules` command; exit codes as `cep --help` lists them."""
    verb = args.rules_command
    if verb == "test":  # offline: no gateway, no token
        return rules_test_command.main(args, out, err)

    def command(gateway: Gateway) -> int:
        if verb in ("export", "apply"):
            return rules_pack_commands.main(gateway, args, out, err, stdin)
        if verb == "list":
            params = {"active": args.active, "trigger_type": args.trigger_type, "q": args.query}
            return show_list(gateway, "/cep/rules", params, args, COLUMNS, out, err)
        payload = read_payload(args.payload) if verb == "simulate" else None  # a bad one sends nothing
        response = find_rule(gateway, args.rule)
        if verb == "simulate":
            response = _simulate(gateway, response.json()["rule_id"], payload)
        elif verb in ("activate", "deactivate"):
            response = activate_from(gateway, response, verb == "activate", err)
        if args.output == "json":
            print_body(response, out)
        else:
            print(describe_simulation(response.json()) if verb == "simulate" else describe(response.json()), file=out)
        return EXIT_OK

    return run(f"cep rules {verb}", args, command, err)


def find_rule(gateway: Gateway, ref: str) -> httpx.Response:
    """`GET /cep/rules/{id}`, or, when no rule has that id, the rule named `ref` (404 when neither exists)."""
    try:
        return gateway.get(f"/cep/rules/{segment(ref)}")
    except ApiError as exc:
        if exc.status != 404:
            raise
        named = [r for r in gateway.every_page("/cep/rules", {"q": ref})["items"] if r.get("name") == ref]
        if not named:
            raise CliError(f"no rule has the id or name {ref!r} (404)") from None
        return gateway.get(f"/cep/rules/{segment(named[0]['rule_id'])}")


def _simulate(gateway: Gateway, rule_id: str, data: Any) -> httpx.Response:
    body = {"payloads": data} if isinstance(data, list) else {"payload": data}
    return gateway.post(f"/cep/rules/{segment(rule_id)}/simulate", body)


def read_payload(value: str) -> Any:
    """`--payload`: JSON text, or `@FILE` naming a file that holds it."""
    source = "the payload"
    if value.startswith("@"):
        source = value[1:]
        try:
            value = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror}") from None
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise UsageError(f"{source} is not JSON: {exc}") from None
    if not isinstance(data, dict | list):
        raise UsageError(f"{source} must be a JSON object (or an array of objects)")
    return data


def activate_from(gateway: Gateway, current: httpx.Response, active: bool, err: TextIO) -> httpx.Response:
    """PATCH `active` on the version just read; a 409 says whether the rule changed meanwhile or a policy refused."""
    rule = current.json()
    if rule.get("active") is active:
        print(f"rule {rule['name']} is already {'active' if active else 'inactive'}", file=err)
        return current
    path = f"/cep/rules/{segment(rule['rule_id'])}"
    try:
        return gateway.request("PATCH", path, json={"active": active, "version": rule["version"]})
    except ApiError as exc:
        if exc.status == 409 and str(exc.problem.get("type", "")).endswith("stale-version"):
            raise CliError(
                f"{exc}\nthe rule changed after it was read (version {rule['version']}): run the command again"
            ) from None
        raise


def describe(rule: Mapping[str, Any]) -> str:
    """One rule for people: its fields, trigger, conditions and actions."""
    lines = pairs(
        [
            ("rule", rule.get("rule_id")),
            ("name", rule.get("name")),
            ("description", rule.get("description")),
            ("active", rule.get("active")),
            ("version", rule.get("version")),
            ("severity", rule.get("severity")),
            ("priority", rule.get("priority")),
            ("owner", rule.get("owner")),
            ("trigger", f"{rule.get('trigger_type')} {json.dumps(rule.get('trigger_spec'))}"),
            ("conditions", rule.get("conditions")),
            ("updated", short_time(rule.get("updated_at"))),
            ("last error", rule.get("last_error")),
        ],
        width=160,
    )
    actions = rule.get("action_spec") or []
    action_rows = [{**a, "rendered_message": a.get("message")} for a in actions]
    return lines + ("\n\nactions:\n" + table(action_rows, ACTION_COLUMNS) if actions else "")


def describe_simulation(result: Mapping[str, Any]) -> str:
    """A simulation for people: matched or not, every condition node, the actions it would take, errors."""
    sections = [f"matched: {'yes' if result.get('matched') else 'no'}"]
    if result.get("conditions"):
        sections.append("conditions:\n" + table(result["conditions"], CONDITION_COLUMNS))
    if result.get("actions"):
        sections.append("actions:\n" + table(result["actions"], ACTION_COLUMNS))
    if result.get("errors"):
        sections.append("errors:\n" + "\n".join(f"  {e}" for e in result["errors"]))
    return "\n\n".join(sections)
