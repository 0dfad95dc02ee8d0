"""The explicit nats-server configuration `cep up` writes: ports, JetStream store, durability and authorization."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# JetStream flushes to disk after every write: a 202 from ingest then survives a power cut, not only a
# crashed process. It costs throughput on slow disks; a cluster deployment may relax it (docs/operations.md).
SYNC_INTERVAL = "always"
INTERNAL_USER = "cep-internal"


@dataclass(frozen=True)
class NatsAuth:
    """Who may connect: the platform's own user (full permissions), and the callout that admits producers.

    Every service connects as `user`/`password`; the server asks the auth callout (the gateway, connected as
    that same user, which `auth_users` exempts from the callout) about every other client, and trusts the
    user JWTs it answers with only when they are signed by `issuer` (an account public nkey, `A...`).
    """

    password: str
    issuer: str
    user: str = INTERNAL_USER

    def __post_init__(self) -> None:
        if not self.password:
            raise ValueError("nats auth: password must not be empty")
        if not (self.issuer.startswith("A") and len(self.issuer) == 56):
            raise ValueError("nats auth: issuer must be an account public nkey (A..., 56 characters)")


def render(
    *, host: str, port: int, monitor_port: int, store_dir: Path, server_name: str, auth: NatsAuth | None = None
) -> str:
    """The nats-server config text (JSON values are valid in the NATS config syntax).

    Without `auth` the server accepts anyone with full permissions (tests that start a bare server).
    """
    lines = [
        f"server_name: {json.dumps(server_name)}",
        f"listen: {json.dumps(f'{host}:{port}')}",
        f"http: {json.dumps(f'{host}:{monitor_port}')}",
        "max_payload: 8MB",
        "jetstream {",
        f"  store_dir: {json.dumps(str(store_dir))}",
        f"  sync_interval: {SYNC_INTERVAL}",
        "  max_memory_store: 256MB",
        "  max_file_store: 20GB",
        "}",
    ]
    if auth is not None:
        lines += _authorization(auth)
    return "\n".join(lines) + "\n"


def _authorization(auth: NatsAuth) -> list[str]:
    user = json.dumps(auth.user)
    return [
        "authorization {",
        f"  users: [ {{ user: {user}, password: {json.dumps(auth.password)} }} ]",
        "  auth_callout {",
        f"    issuer: {json.dumps(auth.issuer)}",
        f"    auth_users: [ {user} ]",
        "  }",
        "}",
    ]
