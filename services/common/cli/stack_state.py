"""What `cep up` keeps in its state dir and hands to its children: ports, the admin token, NATS credentials,
the channel-secrets key, and the environment each service starts with.

Everything is made on the first start and reused on the next, so a restarted stack keeps its ports, tokens and
credentials; the secrets are written owner-only (0600) from creation.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from services.common.cli import natsconf, procs
from services.common.cli.natskeys import NatsKeys
from services.common.cli.natskeys import generate as generate_nats_keys
from services.common.secrets.sealing import SecretsKeyError, new_key, parse_keys
from services.common.statedir import database_file, secrets_key_file

# Ports every stack needs besides the gateway's: taken free, recorded, reused on the next start when still free.
PORT_NAMES = (
    "nats",
    "nats_monitor",
    "ingest",
    "evaluator",
    "evaluator_grpc",
    "notifier",
    "notifier_grpc",
    "scheduler",
    "scheduler_grpc",
)


def stack_ports(state_dir: Path, host: str, gateway_port: int) -> dict[str, int]:
    """The ports of a stack: the gateway's as given, the others as recorded when still free, else new free ones."""
    recorded = read_json(state_dir / "ports.json")
    ports: dict[str, int] = {"gateway": gateway_port}
    for name in PORT_NAMES:
        old = recorded.get(name)
        taken = set(ports.values())
        if isinstance(old, int) and old not in taken and procs.port_is_free(old, host):
            ports[name] = old
        else:
            port = procs.free_port(host)
            while port in taken:
                port = procs.free_port(host)
            ports[name] = port
    write_json(state_dir / "ports.json", ports)
    return ports


def admin_token(state_dir: Path) -> str:
    """CEP_ADMIN_TOKEN when set; otherwise the token generated on the first start, kept in the state dir."""
    from_env = os.environ.get("CEP_ADMIN_TOKEN", "").strip()
    if from_env:
        return from_env
    path = state_dir / "admin-token"
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    token = "cep_admin_" + secrets.token_urlsafe(24)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def nats_auth(state_dir: Path) -> tuple[natsconf.NatsAuth, str]:
    """The internal NATS user's password and the callout issuer's account seed: made once, kept 0600.

    Every service connects with the password (inside CEP_NATS_URL); the gateway signs producers' NATS users
    with the seed. Both survive restarts, so a producer's reconnect after a restart is admitted as before.
    """
    path = state_dir / "nats-auth.json"
    kept = read_json(path)
    password, seed = kept.get("password"), kept.get("issuer_seed")
    if isinstance(password, str) and password and isinstance(seed, str) and seed.startswith("SA"):
        keys = NatsKeys(password, seed)
    else:
        keys = generate_nats_keys()
        write_private(path, json.dumps({"password": keys.password, "issuer_seed": keys.issuer_seed}, indent=2))
    return natsconf.NatsAuth(password=keys.password, issuer=keys.issuer), keys.issuer_seed


def secrets_key_env(state_dir: Path) -> dict[str, str]:
    """The channel-secret key of the gateway and the notifier: CEP_SECRETS_KEY or CEP_SECRETS_KEY_FILE from the
    environment when set (the children get it as it is), else the key file made on the first start, 0600.

    The file is never replaced: what it sealed cannot be opened without it. To rotate, put a new key
    (`cep secrets new-key`) before the old one in the file, restart, then drop the old one (`cep secrets -h`).
    """
    if os.environ.get("CEP_SECRETS_KEY", "").strip() or os.environ.get("CEP_SECRETS_KEY_FILE", "").strip():
        return {}
    path = secrets_key_file(state_dir)
    if not path.exists():
        write_private(path, new_key() + "\n")
    try:
        parse_keys(path.read_text(), str(path))
    except (OSError, SecretsKeyError) as exc:
        raise SystemExit(f"error: {exc}. Restore {path}: the stored channel secrets were sealed with it") from None
    return {"CEP_SECRETS_KEY_FILE": str(path)}


def child_env(state_dir: Path, host: str, ports: dict[str, int], token: str, auth: natsconf.NatsAuth) -> dict[str, str]:
    """The environment every service process starts with: where everything is, and how to reach it."""
    base = f"http://{host}"
    env = dict(os.environ)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "CEP_STATE_DIR": str(state_dir),
            "CEP_BIND_HOST": host,
            "CEP_ADMIN_TOKEN": token,
            "CEP_NATS_URL": f"nats://{auth.user}:{auth.password}@{host}:{ports['nats']}",
            "CEP_NATS_MONITOR_URL": f"{base}:{ports['nats_monitor']}",
            "CEP_GATEWAY_PORT": str(ports["gateway"]),
            "CEP_INGEST_PORT": str(ports["ingest"]),
            "CEP_EVALUATOR_PORT": str(ports["evaluator"]),
            "CEP_EVALUATOR_GRPC_PORT": str(ports["evaluator_grpc"]),
            "CEP_NOTIFIER_PORT": str(ports["notifier"]),
            "CEP_NOTIFIER_GRPC_PORT": str(ports["notifier_grpc"]),
            "CEP_SCHEDULER_PORT": str(ports["scheduler"]),
            "CEP_SCHEDULER_GRPC_PORT": str(ports["scheduler_grpc"]),
            "CEP_INGEST_URL": f"{base}:{ports['ingest']}",
            "CEP_EVALUATOR_URL": f"{base}:{ports['evaluator']}",
            "CEP_NOTIFIER_URL": f"{base}:{ports['notifier']}",
            "CEP_SCHEDULER_URL": f"{base}:{ports['scheduler']}",
            "CEP_EVALUATOR_GRPC": f"{host}:{ports['evaluator_grpc']}",
            "CEP_NOTIFIER_GRPC": f"{host}:{ports['notifier_grpc']}",
            "CEP_SCHEDULER_GRPC": f"{host}:{ports['scheduler_grpc']}",
        }
    )
    env.setdefault("CEP_DATABASE_URL", f"sqlite:///{database_file(state_dir)}")
    return env


def gateway_nats_env(host: str, ports: dict[str, int], auth: natsconf.NatsAuth, issuer_seed: str) -> dict[str, str]:
    """The gateway alone signs producers' users (the issuer seed) and sweeps their sessions (the system user)."""
    system_url = f"nats://{auth.system_user}:{auth.password}@{host}:{ports['nats']}"
    return {"CEP_NATS_AUTH_ISSUER_SEED": issuer_seed, "CEP_NATS_SYSTEM_URL": system_url}


def nats_port_override(name: str, env: dict[str, str], host: str, auth: natsconf.NatsAuth) -> dict[str, str]:
    """Tests only: `CEP_UP_NATS_PORT_<SERVICE>=<port>` connects that one service to NATS through another port
    of this host (tests/chaos puts a connection-dropping TCP proxy there); every other process is unchanged."""
    port = os.environ.get(f"CEP_UP_NATS_PORT_{name.upper()}", "").strip()
    if not port:
        return env
    return {**env, "CEP_NATS_URL": f"nats://{auth.user}:{auth.password}@{host}:{int(port)}"}


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object kept in a file; {} when it is missing or damaged."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (0600 from creation, never readable in between), atomically."""
    tmp = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace a JSON file atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
