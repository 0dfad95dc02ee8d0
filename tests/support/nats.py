"""A real nats-server with JetStream on random loopback ports, for component tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from services.common.cli import natsconf
from services.common.cli.procs import free_port


@dataclass
class NatsServer:
    """A running nats-server: client URL, monitoring URL, its store dir and process."""

    url: str
    monitor_url: str
    store_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    config: Path | None = None  # the config file it runs with (`cep up`'s, with auth), or None: bare flags

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        """Stop and start again on the same ports and store (a broker restart)."""
        self.stop()
        self.proc = _spawn(self.port, int(self.monitor_url.rsplit(":", 1)[1]), self.store_dir, self.config)
        _wait_healthy(self.monitor_url)


def _binary() -> str:
    return str(Path(sys.executable).parent / "nats-server")


def _spawn(port: int, monitor: int, store: Path, config: Path | None = None) -> subprocess.Popen[bytes]:
    argv = [_binary(), "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor), "-js", "-sd", str(store)]
    if config is not None:
        argv = [_binary(), "-c", str(config)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_healthy(monitor_url: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{monitor_url}/healthz?js-enabled-only=true", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nats-server did not become healthy")


def start_nats(store: Path, auth: natsconf.NatsAuth | None = None) -> NatsServer:
    """Start a nats-server; with `auth`, from the config `cep up` renders (internal user + auth callout)."""
    port, monitor = free_port(), free_port()
    config = None
    if auth is not None:
        config = store / "nats.conf"
        text = natsconf.render(
            host="127.0.0.1", port=port, monitor_port=monitor, store_dir=store, server_name="test", auth=auth
        )
        config.write_text(text)
    proc = _spawn(port, monitor, store, config)
    monitor_url = f"http://127.0.0.1:{monitor}"
    _wait_healthy(monitor_url)
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    return NatsServer(f"nats://127.0.0.1:{port}", monitor_url, store, port, proc, config)
