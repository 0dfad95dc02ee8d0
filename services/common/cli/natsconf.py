"""The explicit nats-server configuration `cep up` writes: ports, JetStream store, durability and authorization."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from services.common.nats import subjects

# JetStream flushes to disk after every write: a 202 from ingest then survives a power cut, not only a
# crashed process. It costs throughput on slow disks; a cluster deployment may relax it (docs/operations.md).
SYNC_INTERVAL = "always"
INTERNAL_USER = "cep-internal"
SYSTEM_USER = "cep-system"  # the gateway's user in the system account: lists and closes producers' connections


@dataclass(frozen=True)
class NatsAuth:
    """Who may connect: the platform's own user (full permissions), and the callout that admits producers.

    Every service connects as `user`/`password` into the platform account; the server asks the auth callout (the
    gateway, connected as that same user, which `auth_users` exempts from the callout) about every other client,
    and trusts the user JWTs it answers with only when they are signed by `issuer` (an account public nkey,
    `A...`). Producers land in the producers' account, which can reach nothing of the platform's but the ingest
    service it imports. `system_user` (same password) is the gateway's way into the system account.
    """

    password: str
    issuer: str
    user: str = INTERNAL_USER
    system_user: str = SYSTEM_USER

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
    """Three accounts (docs/security.md, "NATS isolation").

    - CEP (the platform): every service, JetStream, and the one thing it exports: the producers' ingest service
      `cep.produce.<tenant>`, answered by the ingest service.
    - PRODUCERS: every producer the callout admits. It imports that service as `cep.ingest.<tenant>`, so a
      producer's publish (allowed only on its own tenant's subject) reaches the platform as `cep.produce.<tenant>`,
      and its reply subject lives in PRODUCERS: whatever a producer names there (another tenant's ingest subject, a
      `$KV` or `$JS.API` subject) is not a platform subject, and PRODUCERS has no JetStream of its own.
    - SYS: the server's system account, where the gateway closes the connections of revoked tokens.
    """
    user, system, password = json.dumps(auth.user), json.dumps(auth.system_user), json.dumps(auth.password)
    produce, ingest = json.dumps(f"{subjects.PRODUCE_PREFIX}.*"), json.dumps(f"{subjects.INGEST_PREFIX}.$1")
    return [
        "accounts {",
        f"  {subjects.PLATFORM_ACCOUNT}: {{",
        "    jetstream: enabled",
        f"    users: [ {{ user: {user}, password: {password} }} ]",
        f"    exports: [ {{ service: {produce} }} ]",
        "  }",
        f"  {subjects.PRODUCERS_ACCOUNT}: {{",
        f"    imports: [ {{ service: {{ account: {subjects.PLATFORM_ACCOUNT}, subject: {produce} }}, to: {ingest} }} ]",
        "  }",
        f"  {subjects.SYSTEM_ACCOUNT}: {{ users: [ {{ user: {system}, password: {password} }} ] }}",
        "}",
        f"system_account: {subjects.SYSTEM_ACCOUNT}",
        "authorization {",
        "  auth_callout {",
        f"    issuer: {json.dumps(auth.issuer)}",
        f"    auth_users: [ {user}, {system} ]",
        f"    account: {subjects.PLATFORM_ACCOUNT}",
        "  }",
        "}",
    ]


def move_global_account_store(store_dir: Path) -> bool:
    """Carry JetStream data kept before accounts existed (`$G`, the global account) over to the platform account.

    A state dir written by an earlier `cep up` holds its streams under `jetstream/$G`; with accounts they belong to
    `jetstream/CEP`. Moved once, before the server starts; True when something was moved.
    """
    old, new = store_dir / "jetstream" / "$G", store_dir / "jetstream" / subjects.PLATFORM_ACCOUNT
    if not old.is_dir() or new.exists():
        return False
    old.rename(new)
    return True
