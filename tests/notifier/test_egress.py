"""The egress guard with real sockets: internal destinations refused before any connection, hops included.

An "inside" listener on 127.0.0.2 (Linux routes all of 127/8 to lo) stands for an internal service: with the allow
list `127.0.0.1` it must accept ZERO connections, counted at the socket level. Allowed listeners on 127.0.0.1
are the positive controls that prove the counting and the guarded client work.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx
import pytest
import trustme

from services.common.domain.notify.egress_policy import parse_allow
from services.common.egress import EgressRefused, GuardedBackend, guarded_client, resolve_allowed
from services.common.messages import codec
from services.common.messages.channels import ChannelEntry
from services.common.nats import subjects
from tests.notifier.running import RunningNotifier, fast_settings, running_notifier, tenant, transition, webhook
from tests.support.listeners import Listener, http_reply, listening

ALLOW = "127.0.0.1"


@pytest.fixture
def inside() -> Iterator[Listener]:
    """The internal service nobody may reach: a counting listener on the second loopback address."""
    with listening("127.0.0.2") as listener:
        yield listener


@pytest.fixture
def local() -> Iterator[Listener]:
    """An allowed receiver on 127.0.0.1 answering 200."""
    with listening("127.0.0.1") as listener:
        yield listener


async def _get(url: str, allow: str, **options: Any) -> httpx.Response:
    async with guarded_client(parse_allow(allow), timeout=5, **options) as client:
        return await client.get(url)


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.2:{inside}/", ALLOW),  # a second loopback address, not the allowed one
        ("http://[::ffff:127.0.0.2]:{inside}/", ALLOW),  # the same address, IPv4-mapped
        ("http://2130706434:{inside}/", ALLOW),  # the same address as one decimal number
        ("http://127.2:{inside}/", ALLOW),  # ... and in the short dotted form
        ("http://0.0.0.0:{local}/", ALLOW),  # reaches the local host on Linux, but is not 127.0.0.1
        ("http://localhost:{local}/", ""),  # a host name resolving to loopback
        ("http://127.0.0.1:{local}/", "10.0.0.0/8"),  # only what is listed is allowed
        ("http://169.254.169.254/latest/meta-data/", ALLOW),  # the cloud metadata address
        ("http://[fd00:ec2::254]/latest/meta-data/", ALLOW),  # ... and its IPv6 form
        ("http://10.0.0.1/", ALLOW),
        ("http://172.16.0.1/", ALLOW),
        ("http://192.168.0.1/", ALLOW),
        ("http://100.64.0.1/", ALLOW),
        ("http://[fe80::1]/", ALLOW),
        ("http://[::1]:{local}/", ALLOW),
        ("https://127.0.0.2:{inside}/", ALLOW),  # refused before the TLS handshake as well
    ],
)
async def test_internal_destinations_are_refused_before_any_connection(
    url: str, allow: str, inside: Listener, local: Listener
) -> None:
    with pytest.raises(EgressRefused) as refused:
        await _get(url.format(inside=inside.port, local=local.port), allow)
    assert "not allowed (CEP_EGRESS_ALLOW)" in refused.value.reason
    assert (inside.connections(), local.connections()) == (0, 0)


async def test_allowed_destinations_are_reached(inside: Listener, local: Listener) -> None:
    """The positive controls: the same listeners do count connections the policy allows."""
    assert (await _get(local.url, ALLOW)).status_code == 200
    assert (await _get(inside.url, "127.0.0.0/8")).status_code == 200
    local.wait_for(1)
    inside.wait_for(1)


async def test_an_allowed_host_name_keeps_its_host_header(local: Listener) -> None:
    response = await _get(f"http://localhost:{local.port}/x", "localhost")
    assert response.status_code == 200
    assert f"Host: localhost:{local.port}".encode() in local.heads[0].split(b"\r\n")


async def test_tls_goes_to_the_checked_address_but_verifies_and_names_the_host() -> None:
    """Connecting to the IP literal must not weaken TLS: SNI and the certificate check use the URL's host."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    with listening("127.0.0.1", tls=server) as secure:
        response = await _get(f"https://localhost:{secure.port}/", "localhost", verify=client)
        assert response.status_code == 200
        assert secure.sni == ["localhost"]
        assert f"Host: localhost:{secure.port}".encode() in secure.heads[0].split(b"\r\n")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):  # the check is really on
            await _get(f"https://127.0.0.1:{secure.port}/", ALLOW, verify=client)


@pytest.mark.parametrize("target", ["http://127.0.0.2:{inside}/", "http://169.254.169.254/latest/meta-data/"])
async def test_every_redirect_hop_is_checked(target: str, inside: Listener) -> None:
    location = target.format(inside=inside.port)
    with listening("127.0.0.1", http_reply("302 Found", {"Location": location})) as redirecting:
        with pytest.raises(EgressRefused):
            await _get(redirecting.url, ALLOW)
        assert redirecting.connections() == 1
    assert inside.connections() == 0


async def test_an_allowed_redirect_hop_is_followed(inside: Listener) -> None:
    """The control for the hop test: with the target allowed, the client does reach it."""
    with listening("127.0.0.1", http_reply("302 Found", {"Location": inside.url})) as redirecting:
        response = await _get(redirecting.url, "127.0.0.1,127.0.0.2")
    assert response.status_code == 200 and len(response.history) == 1
    inside.wait_for(1)


async def test_resolve_allowed_for_non_http_clients() -> None:
    assert await resolve_allowed("localhost", 25, parse_allow("127.0.0.1,::1")) in ("127.0.0.1", "::1")
    assert await resolve_allowed("93.184.216.34", 25, parse_allow("")) == "93.184.216.34"  # a literal: no DNS
    with pytest.raises(EgressRefused, match="localhost resolves to a loopback address"):
        await resolve_allowed("localhost", 25, parse_allow(""))
    with pytest.raises(OSError):
        await resolve_allowed("no-such-host.invalid", 25, parse_allow(""))


async def test_an_unresolvable_host_is_a_network_error_not_egress() -> None:
    with pytest.raises(httpx.ConnectError):
        await _get("http://no-such-host.invalid/", "")


async def test_a_unix_socket_is_no_egress_destination() -> None:
    with pytest.raises(EgressRefused):
        await GuardedBackend(parse_allow("")).connect_unix_socket("/tmp/any.sock")


@pytest.mark.parametrize("option", ["transport", "mounts", "proxy"])
def test_options_that_would_bypass_the_guard_are_refused(option: str) -> None:
    with pytest.raises(TypeError, match=f"{option}= would bypass the egress guard"):
        guarded_client(parse_allow(""), **{option: None})


# -- through the notifier ---------------------------------------------------------------------------------------


@pytest.fixture
def notifier() -> Iterator[RunningNotifier]:
    """A notifier allowed to reach 127.0.0.1 only."""
    with running_notifier(fast_settings(egress_allow=ALLOW)) as running:
        yield running


def _channel_test(running: RunningNotifier, entry: ChannelEntry) -> dict[str, Any]:
    assert running.service.nc is not None
    reply = running.run(running.service.nc.request(subjects.CHANNEL_TEST, entry.encode(), timeout=15))
    answer: dict[str, Any] = codec.loads(reply.data)
    return answer


@pytest.mark.parametrize("url", ["http://127.0.0.2:{inside}/hook", "http://169.254.169.254/latest/meta-data/"])
def test_a_channel_test_answers_kind_egress(url: str, notifier: RunningNotifier, inside: Listener) -> None:
    answer = _channel_test(notifier, webhook(tenant(), url.format(inside=inside.port)))
    assert answer["ok"] is False and answer["status_code"] is None
    assert answer["error"]["kind"] == "egress"
    assert "not allowed (CEP_EGRESS_ALLOW)" in answer["error"]["detail"]
    assert inside.connections() == 0


def test_a_channel_test_to_an_allowed_receiver_still_passes(notifier: RunningNotifier, local: Listener) -> None:
    answer = _channel_test(notifier, webhook(tenant(), local.url))
    assert answer["ok"] is True, answer
    local.wait_for(1)


def test_a_delivery_to_an_internal_address_fails_for_good_on_its_first_attempt(
    notifier: RunningNotifier, inside: Listener
) -> None:
    who = tenant()
    results = notifier.watch(who)
    notifier.put_channel(webhook(who, inside.url + "hook"))
    notifier.publish_alert(transition(who), [{"type": "notify", "channel": "ops-hook", "message": "cpu"}])
    [result] = notifier.wait_results(who, final=1)
    assert (result.status, result.error_kind, result.attempt, result.final) == ("failed", "egress", 1, True)
    assert results == [result] and inside.connections() == 0


def test_the_notifier_follows_no_redirect(notifier: RunningNotifier, inside: Listener) -> None:
    """A channel's URL is the only place a delivery goes: a 302 towards an internal address is an http failure."""
    with listening("127.0.0.1", http_reply("302 Found", {"Location": inside.url})) as redirecting:
        answer = _channel_test(notifier, webhook(tenant(), redirecting.url))
        assert (answer["ok"], answer["status_code"], answer["error"]["kind"]) == (False, 302, "http")
        redirecting.wait_for(1)
    assert inside.connections() == 0


class _Recording(httpcore.AnyIOBackend):
    """The real backend, noting which host it was asked to connect to."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        return await super().connect_tcp(host, port, *args, **kwargs)


async def test_the_connection_goes_to_the_checked_address_not_the_name(local: Listener) -> None:
    """No second resolution after the check (DNS rebinding): the socket layer only ever sees the address."""
    inner = _Recording()
    stream = await GuardedBackend(parse_allow("localhost"), inner).connect_tcp("localhost", local.port, timeout=5)
    await stream.aclose()
    assert inner.hosts[-1] == "127.0.0.1" and "localhost" not in inner.hosts  # ::1 may come first on some hosts
    local.wait_for(1)
