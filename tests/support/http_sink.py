"""A real local HTTP server whose answers a test scripts in full (status and body), for every method.

tests/support/receiver.py answers POST/PUT with `{}`; channel tests also need Slack's text answers, PagerDuty's
error bodies and GET/DELETE calls, so this one takes `respond(request) -> (status, body)`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.receiver import Received

Respond = Callable[[Received], tuple[int, bytes]]


@dataclass
class Sink:
    """The server's base URL and every request it got, in order."""

    url: str
    requests: list[Received] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.requests) >= count, f"the sink got {len(self.requests)} of {count} requests"
        return self.requests


@contextmanager
def http_sink(respond: Respond = lambda _: (200, b"ok"), content_type: str = "text/plain") -> Iterator[Sink]:
    """Serve on 127.0.0.1 with a free port for the duration of the block."""
    state = Sink(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            received = Received(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
            with lock:
                state.requests.append(received)
            status, body = respond(received)
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
