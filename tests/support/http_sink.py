"""A real local HTTP server whose answers a test scripts in full (status and body), for every method.

tests/support/receiver.py answers POST/PUT with `{}`; channel tests also need Slack's text answers, PagerDuty's
error bodies and GET/DELETE calls, so this one takes `respond(request) -> (status, body)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.local_http import QuietHandler, serving
from tests.support.receiver import Received
from tests.support.waiting import eventually

Respond = Callable[[Received], tuple[int, bytes]]


@dataclass
class Sink:
    """The server's base URL and every request it got, in order."""

    url: str
    requests: list[Received] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        eventually(lambda: len(self.requests) >= count, timeout, f"{count} requests at the sink", every=0.02)
        return self.requests


@contextmanager
def http_sink(respond: Respond = lambda _: (200, b"ok"), content_type: str = "text/plain") -> Iterator[Sink]:
    """Serve on 127.0.0.1 with a free port for the duration of the block."""
    state = Sink(url="")
    lock = threading.Lock()

    class Handler(QuietHandler):
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

    with serving(Handler) as url:
        state.url = url
        yield state
