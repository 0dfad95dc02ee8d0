"""A real nats-server with JetStream on random loopback ports, for component tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.client import JetStreamContext

from services.common.cli import natsconf
from services.common.cli.procs import free_port
from services.common.messages.dead_letters import DeadLetter
from services.common.messages.dead_letters import decode as decode_letter
from services.common.nats import subjects
from tests.support.processes import stop_process


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
        stop_process(self.proc)

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


async def read(js: JetStreamContext, stream: str, subject: str, through: int | None = None) -> list[tuple[int, bytes]]:
    """Every message of a subject in stream order (up to sequence `through`), by a throwaway pull consumer."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    config = ConsumerConfig(durable_name=name, filter_subject=subject, ack_policy=AckPolicy.NONE)
    await js.add_consumer(stream, config)
    sub = await js.pull_subscribe_bind(name, stream=stream)
    try:
        total = (await js.consumer_info(stream, name)).num_pending or 0
        out: list[tuple[int, bytes]] = []
        while len(out) < total:
            for msg in await sub.fetch(min(1000, total - len(out)), timeout=5):
                out.append((msg.metadata.sequence.stream, msg.data))
        return [(seq, data) for seq, data in out if through is None or seq <= through]
    finally:
        await sub.unsubscribe()
        await js.delete_consumer(stream, name)


async def dead_letters(js: JetStreamContext, tenant: str) -> list[DeadLetter]:
    """The tenant's dead letters on CEP_DEAD, in stream order."""
    return [decode_letter(data) for _, data in await read(js, subjects.DEAD_STREAM, subjects.dead_subject(tenant))]
