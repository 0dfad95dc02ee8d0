"""A real local HTTP receiver for webhooks: records every request, answers as a test scripts it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """The receiver's URL and what it got; `answer(n)` returns the status for the n-th request (1-based)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answer: Callable[[int], int] = lambda n: 200

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.requests) >= count, f"receiver got {len(self.requests)} of {count} requests"
        return self.requests


@contextmanager
def receiver(answer: Callable[[int], int] = lambda n: 200) -> Iterator[Receiver]:
    """Run a ThreadingHTTPServer on 127.0.0.1 with a free port for the duration of the block."""
    state = Receiver(url="", answer=answer)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                state.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
                status = state.answer(len(state.requests))
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        do_PUT = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
