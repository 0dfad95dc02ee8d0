"""A snapshot chain's new base (the stored base with its deltas applied), built in a child process.

Decoding a stored base of tens of MB, applying the deltas and encoding the result holds the interpreter for a
second or more at 50k series (1.2 s measured on the bench's workload), most of it in single C calls (orjson)
that a thread of the shard would hold against its consume loop: the shard's input stalled for that long. A child
process holds its own interpreter. `python -m services.evaluator.snapshot_rebase` reads the base, then each delta,
from stdin (each an 8-byte big-endian length, then the bytes) and writes the new base, compressed, to stdout.
Where the child cannot run, the shard builds the base in a thread as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import sys
from pathlib import Path
from typing import BinaryIO

from services.evaluator.snapshot_bodies import ShardDelta, ShardSnapshot

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">Q")
CHILD_MIN_BYTES = 1 << 20  # smaller inputs are built in a thread: tens of ms there, a child's start costs more
CHILD_TIMEOUT = 300.0  # seconds a child may take (a few at the bench's 50k series) before it is killed
_ROOT = Path(__file__).resolve().parents[2]  # the directory holding `services/`


def rebase(base: bytes, deltas: list[bytes]) -> bytes:
    """A new base: the stored one with the deltas applied, encoded (compressed)."""
    snapshot = ShardSnapshot.decode(base)
    for delta in deltas:
        snapshot = ShardDelta.decode(delta).apply_to(snapshot)
    return snapshot.in_order().encode()


async def rebase_in_child(base: bytes, deltas: list[bytes], min_bytes: int = CHILD_MIN_BYTES) -> bytes:
    """`rebase` in a child process, off this interpreter, once the inputs weigh `min_bytes`; in a thread when
    they weigh less, or the child cannot run or fails.

    A ValueError of the inputs (a delta that does not follow) is the same either way: the thread raises it.
    """
    if len(base) + sum(map(len, deltas)) < min_bytes:
        return await asyncio.to_thread(rebase, base, deltas)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
    framed = b"".join(_LENGTH.pack(len(part)) + part for part in [base, *deltas])
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.evaluator.snapshot_rebase",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except OSError as exc:
        log.warning("snapshot rebase process did not start (%s): building the base in a thread", exc)
        return await asyncio.to_thread(rebase, base, deltas)
    try:
        out, err = await asyncio.wait_for(child.communicate(framed), CHILD_TIMEOUT)
    except asyncio.CancelledError:  # the shard stops: no child outlives it
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        raise
    except (TimeoutError, OSError) as exc:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()
        log.warning("snapshot rebase process did not finish (%r): building the base in a thread", exc)
        return await asyncio.to_thread(rebase, base, deltas)
    if child.returncode != 0:
        reason = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {child.returncode}"]
        log.warning("snapshot rebase process failed (%s): building the base in a thread", reason[0])
        return await asyncio.to_thread(rebase, base, deltas)
    return out


def _read_parts(stream: BinaryIO) -> list[bytes]:
    parts = []
    while header := stream.read(_LENGTH.size):
        (length,) = _LENGTH.unpack(header)
        part = stream.read(length)
        if len(part) != length:
            raise ValueError(f"a part of {length} bytes ended after {len(part)}")
        parts.append(part)
    if not parts:
        raise ValueError("no base on stdin")
    return parts


def main() -> None:
    base, *deltas = _read_parts(sys.stdin.buffer)
    sys.stdout.buffer.write(rebase(base, deltas))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
