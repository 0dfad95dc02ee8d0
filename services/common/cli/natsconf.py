"""The explicit nats-server configuration `cep up` writes: ports, JetStream store and its durability."""

from __future__ import annotations

import json
from pathlib import Path

# JetStream flushes to disk after every write: a 202 from ingest then survives a power cut, not only a
# crashed process. It costs throughput on slow disks; a cluster deployment may relax it (docs/operations.md).
SYNC_INTERVAL = "always"


def render(*, host: str, port: int, monitor_port: int, store_dir: Path, server_name: str) -> str:
    """The nats-server config text (JSON values are valid in the NATS config syntax)."""
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
    return "\n".join(lines) + "\n"
