"""A real local HTTP receiver for webhooks: records every request, answers as a test scripts it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.local_http import QuietHandler, serving
from tests.support.waiting import eventually


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
        eventually(lambda: len(self.requests) >= count, timeout, f"{count} requests at the receiver", every=0.05)
        return self.requests


@contextmanager
def receiver(answer: Callable[[int], int] = lambda n: 200) -> Iterator[Receiver]:
    """Run a ThreadingHTTPServer on 127.0.0.1 with a free port for the duration of the block."""
    state = Receiver(url="", answer=answer)
    lock = threading.Lock()

    class Handler(QuietHandler):
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

    with serving(Handler) as url:
        state.url = f"{url}/hook"
        yield state
