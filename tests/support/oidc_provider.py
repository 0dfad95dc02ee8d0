"""A real OpenID provider for tests: the npm package `oidc-provider` run with node (tests/support/oidc/).

`make oidc-provider` installs it (`npm ci` from the committed package-lock.json); `start_provider` runs one on a
free loopback port with the given client and accounts, and waits until it listens.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.common.cli.procs import free_port
from tests.support.processes import stop_process

HERE = Path(__file__).parent / "oidc"
CLIENT_ID = "cep-ui"
CLIENT_SECRET = "cep-ui-test-secret"
PUBLIC_CLIENT_ID = "cep-ui-public"  # a public client: no secret, PKCE alone


@dataclass
class OidcProvider:
    """A running oidc-provider: its issuer URL and process."""

    issuer: str
    process: subprocess.Popen[str]

    def stop(self) -> None:
        stop_process(self.process)


def start_provider(
    workdir: Path, redirect_uris: list[str], accounts: dict[str, dict[str, Any]], port: int | None = None
) -> OidcProvider:
    """Start the provider (on `port`, else a free one) with a confidential client (`CLIENT_ID`/`CLIENT_SECRET`) and a
    public one (`PUBLIC_CLIENT_ID`) that may redirect to `redirect_uris`; `accounts` maps a login to its claims."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the test OpenID provider is not installed: run `make oidc-provider` (node and npm ci)")
    port = port or free_port()
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    config = workdir / "oidc-provider.json"
    public = {**client, "client_id": PUBLIC_CLIENT_ID, "token_endpoint_auth_method": "none"}
    del public["client_secret"]
    config.write_text(json.dumps({"port": port, "clients": [client, public], "accounts": accounts}))
    log = workdir / "oidc-provider.log"  # a file, not a pipe: nothing blocks the provider when nobody reads
    with log.open("w") as out:
        process = subprocess.Popen(
            [node, str(HERE / "provider.mjs"), str(config)], cwd=HERE, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        ready = [line for line in log.read_text().splitlines() if line.startswith("ready ")]
        if ready:
            return OidcProvider(ready[0].split()[1], process)
        time.sleep(0.05)
    stop_process(process)
    raise RuntimeError(f"the OpenID provider did not start: {log.read_text()[-2000:]}")
