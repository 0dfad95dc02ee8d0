"""A TCP proxy between one service and nats-server that can drop every connection through it (RST), on demand.

It runs its own asyncio loop in a thread. The upstream port is looked up when a client connects (the stack's
`ports.json`), so the proxy can listen before `cep up` has chosen nats-server's port.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from services.common.cli.procs import free_port


class DroppingProxy:
    def __init__(self, upstream_port: Callable[[], int], port: int | None = None) -> None:
        self.port = port or free_port()
        self.upstream_port = upstream_port
        self.connections = 0  # accepted so far
        self.dropped = 0  # connections cut by drop()
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-proxy", daemon=True)

    def start(self) -> DroppingProxy:
        self._thread.start()
        assert self._ready.wait(10), "the proxy did not start"
        return self

    def drop(self) -> int:
        """Reset every open connection (both sides); return how many were cut."""
        return asyncio.run_coroutine_threadsafe(self._drop(), self._loop).result(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for writer in list(self._open):
                writer.transport.abort()
            self._loop.close()

    async def _drop(self) -> int:
        cut = [w for w in self._open if not w.is_closing()]
        for writer in cut:
            writer.transport.abort()
        self.dropped += len(cut) // 2
        return len(cut) // 2

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port())
        except OSError:
            client_writer.transport.abort()
            return
        self.connections += 1
        pair = {client_writer, up_writer}
        self._open |= pair
        pipes = [
            asyncio.ensure_future(_pipe(client_reader, up_writer)),
            asyncio.ensure_future(_pipe(up_reader, client_writer)),
        ]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:  # either side gone: cut the other one too
            self._open -= pair
            for writer in pair:
                writer.transport.abort()
            for pipe in pipes:
                pipe.cancel()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
