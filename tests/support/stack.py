"""Start and stop `cep up` as a subprocess, as an operator would, and find every process it owns."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from services.common.cli.procs import alive, cmdline, environ, free_port
from services.common.statedir import ray_temp_dir

READY_TIMEOUT = 150.0


@dataclass
class Stack:
    """A running `cep up`: its URL, admin token, state dir and the supervisor process."""

    url: str
    token: str
    state_dir: Path
    proc: subprocess.Popen[str]
    output: Path

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token or self.token}"}, timeout=30)

    def log(self) -> str:
        return self.output.read_text()


def start_stack(
    state_dir: Path, token: str = "e2e-admin-token", port: int | None = None, env: dict[str, str] | None = None
) -> Stack:
    """Run `cep up` in its own process group and wait until it prints that the stack is ready; `env` adds
    settings (e.g. test-only ones) to the environment every service inherits."""
    port = port or free_port()
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEP_")}
    env["CEP_ADMIN_TOKEN"] = token
    env["CEP_EGRESS_ALLOW"] = "127.0.0.1"  # the tests' local receivers and SMTP servers
    env.update(extra)
    output = state_dir.parent / f"{state_dir.name}-cep-up-{time.time_ns()}.out"
    handle = output.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.common.cli", "up", "--port", str(port), "--state-dir", str(state_dir)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    stack = Stack(f"http://127.0.0.1:{port}", token, state_dir.resolve(), proc, output)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if "CEP is ready" in output.read_text():
            return stack
        if proc.poll() is not None:
            raise RuntimeError(f"cep up exited with {proc.returncode}:\n{stack.log()}")
        time.sleep(0.2)
    stop_stack(stack)
    raise RuntimeError(f"cep up not ready after {READY_TIMEOUT}s:\n{stack.log()}\n{_service_logs(state_dir)}")


def stop_stack(stack: Stack, sig: signal.Signals = signal.SIGTERM, timeout: float = 15) -> float:
    """Signal `cep up` and return how long it took to exit; SIGKILL everything if it did not."""
    began = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.kill(stack.proc.pid, sig)
    try:
        stack.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_everything(stack.state_dir)
        stack.proc.kill()
        stack.proc.wait()
    return time.monotonic() - began


def stack_pids(state_dir: Path) -> list[int]:
    """Every live process of a stack: children carry CEP_STATE_DIR, nats-server and Ray name its paths."""
    state = str(state_dir.resolve())
    needles = (f"CEP_STATE_DIR={state}", state, str(ray_temp_dir(state_dir)))
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid() or not alive(process.pid):
            continue
        env = environ(process.pid)
        blob = "\0".join([*(f"{k}={v}" for k, v in env.items()), cmdline(process.pid)])
        if any(n in blob for n in needles):
            found.append(process.pid)
    return found


def describe(pids: list[int]) -> str:
    return "\n".join(f"{pid}: {cmdline(pid)[:160]}" for pid in pids)


def kill_everything(state_dir: Path) -> None:
    for pid in stack_pids(state_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _service_logs(state_dir: Path) -> str:
    parts = []
    for log in sorted((state_dir / "logs").glob("*.log")):
        parts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
    return "\n".join(parts)
