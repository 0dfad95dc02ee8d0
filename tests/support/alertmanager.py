"""The real Alertmanager (Debian's `prometheus-alertmanager`, 0.25) and `amtool`, as oracles for tests.

One process per test session on a random loopback port, no gossip, its storage in a temp folder. `reload` swaps
its configuration (POST /-/reload); alerts and silences survive a reload, so suites keep apart by a `suite` label.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from services.common.cli.procs import free_port
from tests.support.processes import stop_process

BINARY = "prometheus-alertmanager"
AMTOOL = "amtool"


def missing_binaries() -> str | None:
    """Why the oracle cannot run here (a sentence naming the missing binary), or None when both are installed."""
    for name in (BINARY, AMTOOL):
        if shutil.which(name) is None:
            return f"`{name}` is not installed (make alertmanager installs Debian's prometheus-alertmanager)"
    return None


@dataclass
class Alertmanager:
    """A running Alertmanager: its API URL, config file, process, and an HTTP client for its v2 API."""

    url: str
    config_path: Path
    proc: subprocess.Popen[bytes]
    client: httpx.Client

    def reload(self, config: dict[str, Any]) -> None:
        """Write a new configuration and make Alertmanager apply it (raises when it refuses)."""
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.client.post("/-/reload").raise_for_status()

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        self.client.post("/api/v2/alerts", json=alerts).raise_for_status()

    def alerts(self, *filters: str) -> list[dict[str, Any]]:
        response = self.client.get("/api/v2/alerts", params=[("filter", f) for f in filters])
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def groups(self, *filters: str) -> list[dict[str, Any]]:
        response = self.client.get("/api/v2/alerts/groups", params=[("filter", f) for f in filters])
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def post_silence(self, body: dict[str, Any]) -> httpx.Response:
        return self.client.post("/api/v2/silences", json=body)

    def silence(self, silence_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v2/silence/{silence_id}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def expire(self, silence_id: str) -> None:
        self.client.delete(f"/api/v2/silence/{silence_id}").raise_for_status()

    def amtool(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run amtool against this Alertmanager; the completed process (check its returncode yourself)."""
        argv = [AMTOOL, f"--alertmanager.url={self.url}", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)

    def stop(self) -> None:
        self.client.close()
        stop_process(self.proc)


def start_alertmanager(folder: Path, config: dict[str, Any]) -> Alertmanager:
    """Start Alertmanager with `config` in `folder` and wait until its API answers."""
    port = free_port()
    config_path = folder / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    argv = [
        BINARY,
        f"--config.file={config_path}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    log = (folder / "alertmanager.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    server = Alertmanager(url, config_path, proc, httpx.Client(base_url=url, timeout=10))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"alertmanager exited: {(folder / 'alertmanager.log').read_text()[-2000:]}")
        try:
            if server.client.get("/-/ready").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("alertmanager did not become ready")


def routes_test(config_path: Path, labels: list[str]) -> str:
    """amtool's answer to `config routes test` for a label set given as `name="value"` arguments."""
    argv = [AMTOOL, "config", "routes", "test", f"--config.file={config_path}", "--", *labels]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.strip()


def stamp(moment: datetime) -> str:
    """A UTC instant as the v2 API writes it (milliseconds, `Z`)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def instant(text: str) -> datetime:
    """An instant from the v2 API's text."""
    return datetime.fromisoformat(text)
