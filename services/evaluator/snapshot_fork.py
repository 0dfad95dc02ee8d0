"""A shard's snapshot captured and encoded in a forked child: the consume loop pauses only for the fork.

Capturing a busy shard's changes walks every series that moved (0.15-0.35 s under the lock at 30-60k series on
an idle core, more beside the rest of a loaded stack; mostly memory reads), and encoding them in a thread competes
with the consume loop for the interpreter. `fork_capture`, called under the state lock, forks instead (12-14 ms
for a 300 MB shard): the child holds a copy-on-write image of the state as of that moment, takes the capture there
(`capture_delta`, the same code as in process: a delta, or a whole base when most series moved) and writes its
JSON to a pipe; the parent only forgets its changes (`ShardState.forget_changes`, O(1)) and goes on evaluating.
`collect` reads the child's answer off the loop. A child that fails, or takes longer than FORK_TIMEOUT, is an
error (`ForkFailed`): the changes went with it, so the shard captures a whole base in process instead.

The child touches nothing but the state and the pipe: no event loop, no logging, no NATS; it leaves with
`os._exit`, so no handler or buffer of the parent's runs twice. Memory: the child shares the parent's pages and
copies those either side writes while it runs, at most the shard's resident size again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import resource
import signal
import struct
import time
from dataclasses import dataclass
from typing import NoReturn

from services.evaluator.processor import ShardState
from services.evaluator.snapshot_capture import Captured, capture_delta
from services.evaluator.work import RawDone

FORK_TIMEOUT = 300.0  # seconds a child may take (one or two at the bench's 50k series) before it is killed
_HEADER = struct.Struct(">BQ")  # what the child found (0 nothing, 1 a delta, 2 a base), then the body's length
_NOTHING, _DELTA, _BASE = 0, 1, 2


@dataclass(frozen=True)
class ChildUsage:
    """What a snapshot child cost, from the kernel's accounting when it was reaped (`os.wait4`)."""

    cpu_seconds: float  # user + system time
    max_rss_bytes: int  # its peak resident set: the parent's pages it read count too (shared, not copied)
    faulted_bytes: int  # pages it faulted in (minor faults): copied on its writes, or newly allocated: its own memory

    @classmethod
    def of(cls, usage: resource.struct_rusage) -> ChildUsage:
        page = resource.getpagesize()
        return cls(usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, usage.ru_minflt * page)


class ForkFailed(Exception):
    """The child gave no complete snapshot (it failed, was killed, or timed out)."""


@dataclass
class Forked:
    """A child capturing `state` as of `seq` (`series` held then); `let_go`: what the parent forgot at the fork,
    dropped once the child is done."""

    pid: int
    fd: int
    state: ShardState
    seq: int
    series: int
    began: float
    let_go: object
    usage: ChildUsage | None = None  # once reaped (None: reaped elsewhere, or not yet)


def can_fork() -> bool:
    return hasattr(os, "fork")


def fork_capture(
    state: ShardState, seq: int, after: int, raw_done: RawDone, ratio: float, fail: bool = False
) -> Forked:
    """Fork a child that captures what changed since the capture at `after` (or everything: `capture_delta`), as
    of `seq`. The caller holds the state lock; OSError when no child could be made (nothing is forgotten then).
    `fail` makes the child fail (tests of the fallback)."""
    began = time.monotonic()
    series = state.series_count()
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:
        _child(state, seq, after, raw_done, ratio, write_fd, fail)
    os.close(write_fd)
    let_go = state.forget_changes()
    return Forked(pid, read_fd, state, seq, series, began, let_go)


def _child(state: ShardState, seq: int, after: int, raw_done: RawDone, ratio: float, fd: int, fail: bool) -> NoReturn:
    status = 1
    try:
        gc.disable()  # the child lives for one capture: nothing it allocates needs collecting
        # Hold no other descriptor of the shard's open: a pipe to a rebase child (whose end of input would wait for
        # this child), sockets. Closing them here closes nothing for the shard.
        os.closerange(3, fd)
        os.closerange(fd + 1, os.sysconf("SC_OPEN_MAX"))
        if fail:
            raise RuntimeError("asked to fail")
        captured = capture_delta(state, seq, after, raw_done, ratio)
        if captured is None:
            out = _HEADER.pack(_NOTHING, 0)
        else:
            body = captured.built()
            out = _HEADER.pack(_BASE if captured.base else _DELTA, len(body)) + body
        view = memoryview(out)
        while view:
            view = view[os.write(fd, view) :]
        status = 0
    finally:
        os._exit(status)


async def collect(forked: Forked, timeout: float = FORK_TIMEOUT) -> Captured | None:
    """The child's snapshot as a `Captured` (None when nothing changed); ForkFailed when it gave none."""
    loop = asyncio.get_running_loop()
    reading = loop.run_in_executor(None, _read_and_reap, forked.fd, forked.pid)
    try:
        data, forked.usage = await asyncio.wait_for(asyncio.shield(reading), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(forked.pid, signal.SIGKILL)  # the pipe closes: the read ends
        _, forked.usage = await reading
        raise ForkFailed(f"the snapshot child took over {timeout:.0f} s") from None
    if len(data) < _HEADER.size:
        raise ForkFailed("the snapshot child ended without an answer")
    kind, length = _HEADER.unpack_from(data)
    body = data[_HEADER.size :]
    if len(body) != length:
        raise ForkFailed(f"the snapshot child's answer is cut short ({len(body)} of {length} bytes)")
    if kind == _NOTHING:
        return None
    cost = time.monotonic() - forked.began  # the child's time counts against the snapshot budget, as a thread's did
    return Captured(forked.seq, forked.series, cost, forked.state, None, lambda: body, base=kind == _BASE, body=body)


def _read_and_reap(fd: int, pid: int) -> tuple[bytes, ChildUsage | None]:
    chunks = []
    usage = None
    try:
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
        with contextlib.suppress(ChildProcessError):  # already reaped (SIGCHLD ignored)
            usage = ChildUsage.of(os.wait4(pid, 0)[2])
    return b"".join(chunks), usage
