"""Raw TCP listeners that count every accepted connection (not just HTTP requests) and answer one scripted reply.

Egress tests need to prove that nothing reached an address at all: a guard that connected and then gave up
would still be a hole, and only the socket level sees that. A listener can also speak TLS (recording the SNI
name it was asked for) and answer a redirect.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field


@dataclass
class Listener:
    """What a listener saw: connections accepted, request heads read, SNI names asked for."""

    host: str
    port: int
    reply: bytes
    tls: ssl.SSLContext | None = None
    accepted: int = 0
    heads: list[bytes] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}/"

    def connections(self) -> int:
        with self.lock:
            return self.accepted

    def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.connections() < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.connections() >= count, f"{self.host}:{self.port} accepted {self.connections()} of {count}"


def http_reply(status: str = "200 OK", headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 answer with an empty body that closes the connection."""
    lines = [f"HTTP/1.1 {status}", "Content-Length: 0", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@contextmanager
def listening(
    host: str = "127.0.0.1", reply: bytes | None = None, tls: ssl.SSLContext | None = None
) -> Iterator[Listener]:
    """A listener on `host` with a free port for the duration of the block; every accept is counted."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, 0))
    server.listen(16)
    server.settimeout(0.1)
    state = Listener(host, server.getsockname()[1], reply or http_reply(), tls)
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: state.sni.append(name)  # type: ignore[assignment,misc]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with state.lock:
                state.accepted += 1
            threading.Thread(target=_answer, args=(state, conn), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def _answer(state: Listener, conn: socket.socket) -> None:
    conn.settimeout(5)
    with suppress(OSError), conn:
        stream: socket.socket = state.tls.wrap_socket(conn, server_side=True) if state.tls else conn
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = stream.recv(4096)
            if not chunk:
                return
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        length = _content_length(head)
        while len(rest) < length:  # read the body: closing on unread bytes would reset the connection
            chunk = stream.recv(4096)
            if not chunk:
                break
            rest += chunk
        with state.lock:
            state.heads.append(head)
        stream.sendall(state.reply)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0
