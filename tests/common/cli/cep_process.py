"""`cep ...` as its own process, as an operator runs it: PYTHONPATH inherited, no config file unless named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.gateway.live_gateway import LiveGateway

ROOT = Path(__file__).resolve().parents[3]
CLEAN = ("CEP_URL", "CEP_TOKEN", "CEP_CONFIG")


def cep(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m services.common.cli ARGS` with the test's environment over a clean one (no stray config)."""
    base = {k: v for k, v in os.environ.items() if k not in CLEAN}
    base["CEP_CONFIG"] = str(ROOT / "no-such-cep-config.toml")
    return subprocess.run(
        [sys.executable, "-m", "services.common.cli", *args],
        env={**base, **env},
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def cep_json(env: dict[str, str], *args: str) -> Any:
    """A command's `-o json` output, parsed (it must succeed and print exactly one JSON document)."""
    result = cep(env, *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def operator(gateway: LiveGateway, role: str = "editor", prefix: str = "cli") -> tuple[dict[str, str], httpx.Client]:
    """A fresh tenant's token as CEP_URL/CEP_TOKEN, and an API client of the same token."""
    tenant = f"{prefix}-{uuid.uuid4().hex[:8]}"
    headers = gateway.token(tenant, role)
    env = {"CEP_URL": gateway.url, "CEP_TOKEN": headers["Authorization"].removeprefix("Bearer ")}
    return env, httpx.Client(base_url=gateway.url, headers=headers, timeout=10)
