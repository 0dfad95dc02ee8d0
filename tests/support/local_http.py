"""A real HTTP server on 127.0.0.1 at a free port for the length of a `with` block: what the test receivers share
(webhooks: receiver.py; scripted answers: http_sink.py; OTLP spans: otlp_receiver.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# How often the serving loop looks for a shutdown: `shutdown()` waits for that look, and the library's 0.5 s
# made each `with` block end about half a second after its test was done (a few hundred blocks per session).
POLL_SECONDS = 0.02


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that does not log every request to stderr."""

    def log_message(self, format: str, *args: object) -> None:  # the base class's parameter name
        pass


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` from a thread of its own, one thread per request; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(POLL_SECONDS,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
