"""The `cep` command: `cep up` runs the stack; `cep <noun> <verb>` (events, rules, channels, ...) talks to a gateway."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.common.cli import channels, events, nab, routes, rules, secret_keys, silences
from services.common.cli.gateway_client import EXIT_CODES_HELP


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cep",
        description="Complex event processing and alerting.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the whole stack on this machine (nats-server, services, Ray)")
    up.add_argument("--port", type=int, default=8080, help="the gateway's HTTP port (default 8080)")
    up.add_argument("--state-dir", type=Path, default=Path(".cep"), help="where data and logs live (default ./.cep)")
    up.add_argument("--host", default="127.0.0.1", help="the address every service binds (default 127.0.0.1)")
    commands.add_parser(
        "nats-keys", help="print a fresh NATS password and auth-callout key pair for compose or Kubernetes secrets"
    )
    nab.add_parser(commands)
    rules.add_parser(commands)
    events.add_parser(commands)
    channels.add_parser(commands)
    routes.add_parser(commands)
    silences.add_parser(commands)
    secret_keys.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "up":
        from services.common.cli.up import Supervisor

        return Supervisor(state_dir=args.state_dir, port=args.port, host=args.host).run()
    if args.command == "nats-keys":
        from services.common.cli.natskeys import generate

        for name, value in generate().env().items():
            print(f"{name}={value}")
        return 0
    if args.command == "nab":
        return nab.main(args)
    if args.command == "rules":
        return rules.main(args)
    if args.command == "events":
        return events.main(args)
    if args.command == "channels":
        return channels.main(args)
    if args.command == "routes":
        return routes.main(args)
    if args.command == "silence":
        return silences.main(args)
    if args.command == "secrets":
        return secret_keys.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
