"""`cep ...` as its own process, as an operator runs it: PYTHONPATH inherited, no config file unless named."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.cli import channels, events, routes, rules, silences
from services.common.cli.main import build_parser
from tests.gateway.live_gateway import LiveGateway

ROOT = Path(__file__).resolve().parents[3]
CLEAN = ("CEP_URL", "CEP_TOKEN", "CEP_CONFIG")
NO_CONFIG = ROOT / "no-such-cep-config.toml"
NOUNS: dict[str, Callable[..., int]] = {
    "events": events.main,
    "rules": rules.main,
    "channels": channels.main,
    "routes": routes.main,
    "silence": silences.main,
}
Cep = Callable[..., subprocess.CompletedProcess[str]]


def cep(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m services.common.cli ARGS` with the test's environment over a clean one (no stray config)."""
    base = {k: v for k, v in os.environ.items() if k not in CLEAN}
    base["CEP_CONFIG"] = str(NO_CONFIG)
    return subprocess.run(
        [sys.executable, "-m", "services.common.cli", *args],
        env={**base, **env},
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def cep_json(run: Cep, env: dict[str, str], *args: str) -> Any:
    """A command's `-o json` output, parsed (it must succeed and print exactly one JSON document)."""
    result = run(env, *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def operator(gateway: LiveGateway, role: str = "editor", prefix: str = "cli") -> tuple[dict[str, str], httpx.Client]:
    """A fresh tenant's token as CEP_URL/CEP_TOKEN, and an API client of the same token."""
    tenant = f"{prefix}-{uuid.uuid4().hex[:8]}"
    headers = gateway.token(tenant, role)
    env = {"CEP_URL": gateway.url, "CEP_TOKEN": headers["Authorization"].removeprefix("Bearer ")}
    return env, httpx.Client(base_url=gateway.url, headers=headers, timeout=10)


def cep_in_process(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """The same command run in this process (same parser, same code; no interpreter start): for the many calls."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        for name in CLEAN:
            patch.delenv(name, raising=False)
        for name, value in {"CEP_CONFIG": str(NO_CONFIG), **env}.items():
            patch.setenv(name, value)
        try:
            args = build_parser().parse_args(argv)
            code = NOUNS[args.command](args, out, err)
        except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(["cep", *argv], code, out.getvalue(), err.getvalue())
