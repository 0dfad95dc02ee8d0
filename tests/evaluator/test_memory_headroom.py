"""What a shard reads before forking a snapshot child (memory_headroom.py): the memory still free to it under its
cgroup (v2, then v1; inactive file cache counted free, as the kubelet counts it) and the machine's MemAvailable,
whichever is less, against its resident size."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.evaluator import memory_headroom
from services.evaluator.memory_headroom import MemoryReading, fork_fits

MB = 1 << 20


@pytest.fixture
def proc(tmp_path: Path) -> tuple[Path, Path]:
    """A meminfo with 8 GiB available and a statm of 300 MB resident."""
    meminfo, statm = tmp_path / "meminfo", tmp_path / "statm"
    meminfo.write_text(f"MemTotal:       16000000 kB\nMemAvailable:   {8 * 1024 * 1024} kB\n")
    statm.write_text(f"900000 {300 * MB // os.sysconf('SC_PAGE_SIZE')} 1000 10 0 5000 0\n")
    return meminfo, statm


def _read(root: Path, proc: tuple[Path, Path]) -> MemoryReading:
    return memory_headroom.read(root, *proc)


def test_cgroup_v2_limit_less_the_working_set(tmp_path: Path, proc: tuple[Path, Path]) -> None:
    root = tmp_path / "v2"
    root.mkdir()
    (root / "memory.max").write_text(f"{1024 * MB}\n")
    (root / "memory.current").write_text(f"{700 * MB}\n")
    (root / "memory.stat").write_text(f"anon {500 * MB}\ninactive_file {100 * MB}\nactive_file {100 * MB}\n")
    reading = _read(root, proc)
    assert reading == MemoryReading(300 * MB, (1024 - 600) * MB)  # 100 MB of inactive cache counts as free
    assert fork_fits(reading, 1.0) and not fork_fits(reading, 1.5) and fork_fits(reading, 0)


def test_cgroup_v1_limit_less_the_working_set(tmp_path: Path, proc: tuple[Path, Path]) -> None:
    memory = tmp_path / "v1" / "memory"
    memory.mkdir(parents=True)
    (memory / "memory.limit_in_bytes").write_text(f"{512 * MB}\n")
    (memory / "memory.usage_in_bytes").write_text(f"{450 * MB}\n")
    (memory / "memory.stat").write_text(f"cache {50 * MB}\ntotal_inactive_file {20 * MB}\n")
    reading = _read(tmp_path / "v1", proc)
    assert reading.free == (512 - 430) * MB and not fork_fits(reading, 1.0)


def test_no_cgroup_limit_leaves_the_machines_available_memory(tmp_path: Path, proc: tuple[Path, Path]) -> None:
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("max\n")
    (v2 / "memory.current").write_text(f"{700 * MB}\n")
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{700 * MB}\n")
    for root in (v2, tmp_path / "v1", tmp_path / "none"):
        assert _read(root, proc) == MemoryReading(300 * MB, 8 * 1024 * MB)


def test_a_cgroup_limit_above_the_machines_available_memory_is_not_what_binds(
    tmp_path: Path, proc: tuple[Path, Path]
) -> None:
    (tmp_path / "memory.max").write_text(f"{64 * 1024 * MB}\n")
    (tmp_path / "memory.current").write_text(f"{1024 * MB}\n")
    assert _read(tmp_path, proc).free == 8 * 1024 * MB


def test_nothing_readable_means_unknown_and_a_fork(tmp_path: Path) -> None:
    reading = memory_headroom.read(tmp_path, tmp_path / "no-meminfo", tmp_path / "no-statm")
    assert reading == MemoryReading(0, None) and fork_fits(reading, 10.0)


def test_this_machine_reads_something_sensible() -> None:
    reading = memory_headroom.read()
    assert reading.resident > 10 * MB  # this test process
    assert reading.free is None or reading.free > 0
