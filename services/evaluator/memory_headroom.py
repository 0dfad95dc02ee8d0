"""How much memory this process may still take, read before a snapshot child is forked (snapshot_fork.py).

A forked child shares the shard's pages, but CPython writes a reference count into every object it reads, so a child
walking every series (a whole base) copies them, and builds the snapshot's JSON besides: 1.5x the shard's resident
set of its own, measured on the bench workload (docs/architecture.md); the shard copies the pages it writes
meanwhile. Where that does not fit, forking invites the kernel's OOM killer, which may take the shard
itself. `read` gives the shard's resident set and the memory still free to it: the least of its cgroup's limit less
its working set (v2, else v1; the working set leaves out inactive file cache, which the kernel reclaims first, as
the kubelet counts it) and the machine's MemAvailable. `fork_fits` says whether a child may be forked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")  # inside a container, its own cgroup (the cgroup namespace's root)
MEMINFO = Path("/proc/meminfo")
STATM = Path("/proc/self/statm")
UNLIMITED = 1 << 60  # a cgroup limit at or above this is no limit (v1 writes 2**63 rounded down to a page)


@dataclass(frozen=True)
class MemoryReading:
    """This process's resident bytes, and the bytes it may still take (None: not known on this platform)."""

    resident: int
    free: int | None


def read(root: Path = CGROUP_ROOT, meminfo: Path = MEMINFO, statm: Path = STATM) -> MemoryReading:
    """The reading now (a few small file reads)."""
    limits = [free for free in (_cgroup_free(root), _available(meminfo)) if free is not None]
    return MemoryReading(_resident(statm), min(limits) if limits else None)


def fork_fits(reading: MemoryReading, ratio: float) -> bool:
    """Whether the memory free is at least `ratio` times the resident set (`ratio` 0, or nothing known: yes)."""
    return ratio <= 0 or reading.free is None or reading.free >= ratio * reading.resident


def _cgroup_free(root: Path) -> int | None:
    """The cgroup's limit less its working set; None without a limit or a readable cgroup."""
    for limit_file, usage_file, inactive_key in (
        (root / "memory.max", root / "memory.current", "inactive_file"),  # v2
        (root / "memory" / "memory.limit_in_bytes", root / "memory" / "memory.usage_in_bytes", "total_inactive_file"),
    ):
        limit, usage = _number(limit_file), _number(usage_file)
        if limit is None or usage is None:
            continue
        if limit >= UNLIMITED:
            return None
        inactive = _stat(limit_file.parent / "memory.stat").get(inactive_key, 0)
        return max(0, limit - max(0, usage - inactive))
    return None


def _available(meminfo: Path) -> int | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _resident(statm: Path) -> int:
    try:
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _number(path: Path) -> int | None:
    """A cgroup file's number ("max" is no limit); None when it cannot be read."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return UNLIMITED
    try:
        return int(text)
    except ValueError:
        return None


def _stat(path: Path) -> dict[str, int]:
    try:
        pairs = (line.split() for line in path.read_text().splitlines())
        return {pair[0]: int(pair[1]) for pair in pairs if len(pair) == 2 and pair[1].isdigit()}
    except OSError:
        return {}
