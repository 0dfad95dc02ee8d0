"""Process helpers for the supervisor: free ports, process identity, and reaping stragglers of a killed run."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Collection
from pathlib import Path


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
    """The kernel's start time of a process (field 22 of /proc/PID/stat): with the pid, its identity."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its closing one.
    return stat.rsplit(")", 1)[1].split()[19]


def cmdline(pid: int) -> str:
    """A process's command line with NULs as spaces, or '' when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pids_matching(needle: str) -> list[int]:
    """Pids (other than ours) whose command line contains `needle`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and needle in cmdline(int(entry.name)):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether a pid exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


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


def pids_with_env(name: str, value: str) -> list[int]:
    """Pids (other than ours) whose environment holds `name=value`: everything a child started inherits it."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_with_env(name: str, value: str, keep: Collection[int] = ()) -> list[int]:
    """SIGKILL every process whose environment holds `name=value`, except the pids in `keep`."""
    pids = [pid for pid in pids_with_env(name, value) if pid not in keep]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids
