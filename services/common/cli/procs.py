"""Process helpers for the supervisor: free ports, process identity, and reaping stragglers of a killed run.

Processes are inspected through psutil, so `cep up` behaves the same on Linux and macOS.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Collection, Iterator

import psutil

# A process that vanished, or that we may not look into, is simply skipped.
_GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a TCP port can be bound on `host` (nothing listening, not reserved)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def start_time(pid: int) -> str | None:
    """When a process started, as the kernel reports it: with the pid, its identity (a recycled pid differs)."""
    try:
        return repr(psutil.Process(pid).create_time())
    except _GONE:
        return None


def cmdline(pid: int) -> str:
    """A process's command line joined by spaces, or '' when it is gone or hidden from us."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except _GONE:
        return ""


def _others() -> Iterator[psutil.Process]:
    """Every process but this one."""
    me = os.getpid()
    return (process for process in psutil.process_iter() if process.pid != me)


def pids_matching(needle: str) -> list[int]:
    """Pids (other than ours) whose command line contains `needle`."""
    return [process.pid for process in _others() if needle in cmdline(process.pid)]


def alive(pid: int) -> bool:
    """Whether a pid exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except _GONE:
        return False


def kill_group(pid: int, sig: signal.Signals) -> None:
    """Signal a child's whole process group (children run in their own sessions), ignoring the gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def kill_recorded(records: dict[str, dict[str, object]]) -> list[int]:
    """SIGKILL the recorded processes of an earlier run that are still the same processes (pid + start time)."""
    killed = []
    for record in records.values():
        pid = int(str(record.get("pid", 0)))
        if pid and start_time(pid) is not None and start_time(pid) == record.get("start_time"):
            kill_group(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def kill_matching(needle: str) -> list[int]:
    """SIGKILL every process whose command line names `needle` (e.g. a stack's Ray temp dir)."""
    pids = pids_matching(needle)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


def environ(pid: int) -> dict[str, str]:
    """A process's environment, or {} when it is gone or hidden from us (another user's process)."""
    try:
        return dict(psutil.Process(pid).environ())
    except _GONE:
        return {}


def pids_with_env(name: str, value: str) -> list[int]:
    """Pids (other than ours) whose environment holds `name=value`: everything a child started inherits it."""
    return [process.pid for process in _others() if environ(process.pid).get(name) == value]


def kill_with_env(name: str, value: str, keep: Collection[int] = ()) -> list[int]:
    """SIGKILL every process whose environment holds `name=value`, except the pids in `keep`."""
    pids = [pid for pid in pids_with_env(name, value) if pid not in keep]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids
