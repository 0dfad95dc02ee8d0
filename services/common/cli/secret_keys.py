"""`cep secrets new-key` prints a fresh channel-secret key; `cep secrets rotate` re-seals every stored one.

Rotation: put a new key first in CEP_SECRETS_KEY (or the key file) and keep the old one after it, on the notifier
first and then the gateway, and restart them. The gateway re-seals SQL and the `cep-channels` bucket at start;
`rotate` does the same for SQL on demand (the running gateway re-mirrors the bucket within 30 s) and says how
much it re-sealed. Once it reports nothing left to re-seal, drop the old key and restart both.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from services.common.secrets.sealing import SecretsKeyError, new_key

ROTATE_HELP = (
    "re-seal every stored channel secret under the first key of CEP_SECRETS_KEY (or CEP_SECRETS_KEY_FILE), "
    "in the database CEP_DATABASE_URL names"
)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("secrets", help="channel-secret keys: make one, re-seal under the first")
    actions = parser.add_subparsers(dest="secrets_command", required=True)
    actions.add_parser("new-key", help="print a fresh key for CEP_SECRETS_KEY (compose, Kubernetes, rotation)")
    rotate = actions.add_parser("rotate", help=ROTATE_HELP, description=__doc__)
    rotate.add_argument(
        "--state-dir", type=Path, help="a `cep up` state dir: its database, and its key file unless a key is set"
    )


def main(args: argparse.Namespace) -> int:
    if args.secrets_command == "new-key":
        print(new_key())
        return 0
    try:
        return asyncio.run(_rotate(args.state_dir))
    except SecretsKeyError as exc:
        print(f"error: {exc}")
        return 2


async def _rotate(state_dir: Path | None) -> int:
    from services.common.db.sql_engine import open_database
    from services.common.statedir import secrets_key_file
    from services.gateway.channel_secrets import reseal_channels
    from services.gateway.settings import GatewaySettings

    settings = GatewaySettings(state_dir=state_dir) if state_dir else GatewaySettings()
    if state_dir and settings.secrets_key is None and settings.secrets_key_file is None:
        settings.secrets_key_file = secrets_key_file(state_dir)
    box = settings.secret_box()
    db = open_database(settings.resolved_database_url)
    try:
        done = await reseal_channels(db, box)
    finally:
        await db.dispose()
    print(f"re-sealed {done.values} secret value(s) of {done.channels} channel(s) under the first key")
    if done.unreadable:
        print(f"error: {done.unreadable} channel(s) hold a secret none of the keys opens: keep (or restore) its key")
        return 1
    print("the running gateway mirrors the re-sealed values into the cep-channels bucket within 30 s")
    return 0
