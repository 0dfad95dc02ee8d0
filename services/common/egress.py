"""The egress guard: every outbound connection goes only to an address checked against the egress policy.

Checking a URL's host and then letting the HTTP client resolve it again would leave a gap (DNS rebinding: the
second answer may be internal). So the guard resolves once, checks every address, and connects to a checked
address literal itself; TLS still verifies and sends SNI for the original host name and the Host header stays
the URL's. It sits at the connection level, so every redirect hop that opens a connection is checked too.

- HTTP: `guarded_client(policy, ...)` is an `httpx.AsyncClient` whose connections all go through the guard.
- Anything else (SMTP): `await resolve_allowed(host, port, policy)` returns the checked address to connect to.
Both raise `EgressRefused` (error kind `egress`) before any connection is made.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from services.common.domain.notify.egress_policy import EgressPolicy, refusal

MAX_REDIRECTS = 5
_TRANSPORT_OPTIONS = frozenset({"verify", "http1", "http2", "limits", "retries", "local_address", "socket_options"})
_BYPASSES = ("transport", "mounts", "proxy")  # each would open connections the guard never sees


class EgressRefused(httpx.TransportError):
    """A destination the egress policy refuses; raised before any connection to it.

    A TransportError so that a sender that does not know it yet still treats it as a failed send (kind `network`)
    instead of crashing; senders classify it first, as kind `egress`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"egress refused: {reason}")
        self.reason = reason


async def allowed_addresses(host: str, port: int, policy: EgressPolicy, timeout: float | None = None) -> list[str]:
    """Every address `host` resolves to, once all of them passed the policy.

    Refuses the whole host when any address is internal and not allowed, rather than connecting to the good
    ones only: a name that mixes public and internal records is the usual rebinding trick, and the outcome
    should not depend on which record came first. Resolution failures raise OSError, a slow resolver TimeoutError.
    """
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    async with asyncio.timeout(timeout):
        infos = await asyncio.get_running_loop().getaddrinfo(bare, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    for address in addresses:
        reason = refusal(address, host, policy)
        if reason is not None:
            raise EgressRefused(reason)
    return addresses


async def resolve_allowed(host: str, port: int, policy: EgressPolicy, timeout: float | None = None) -> str:
    """The checked address a non-HTTP client (SMTP) connects to instead of `host`; raises EgressRefused.

    Keep `host` for TLS (server_hostname) and protocol greetings: only the TCP connection uses the address.
    """
    return (await allowed_addresses(host, port, policy, timeout))[0]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves and checks a host, then lets the inner backend connect to its IP."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await allowed_addresses(host, port, self.policy, timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout}s") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        failure: Exception | None = None
        for address in addresses:  # each address gets the full connect timeout, as with any multi-address host
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("unix sockets are not an egress destination")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request, response and error mapping) over a pool that connects through the guard.

    httpx 0.28 takes no network backend, so the httpcore pool the transport keeps in `_pool` is built here.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        verify: Any = True,
        trust_env: bool = False,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits | None = None,
        retries: int = 0,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> None:
        ssl_context = httpx.create_ssl_context(verify=verify, trust_env=trust_env)
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(verify=ssl_context, trust_env=trust_env, http1=http1, http2=http2, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=http1,
            http2=http2,
            retries=retries,
            local_address=local_address,
            socket_options=socket_options,
            network_backend=GuardedBackend(policy),
        )


def guarded_client(policy: EgressPolicy, **options: Any) -> httpx.AsyncClient:
    """An httpx.AsyncClient whose every connection (redirect hops included) passes the egress guard.

    Options are httpx.AsyncClient's; `verify`, `http1`, `http2`, `limits`, `retries`, `local_address` and
    `socket_options` go to the transport. Defaults: redirects followed (at most 5, each new connection checked),
    no proxy or other settings from the environment. `transport`, `mounts` and `proxy` are refused (TypeError):
    they would open connections the guard never sees.
    """
    for name in _BYPASSES:
        if name in options:
            raise TypeError(f"guarded_client: {name}= would bypass the egress guard")
    transport_options = {name: options.pop(name) for name in list(options) if name in _TRANSPORT_OPTIONS}
    options.setdefault("follow_redirects", True)
    options.setdefault("max_redirects", MAX_REDIRECTS)
    options.setdefault("trust_env", False)
    transport = GuardedTransport(policy, trust_env=options["trust_env"], **transport_options)
    return httpx.AsyncClient(transport=transport, **options)
