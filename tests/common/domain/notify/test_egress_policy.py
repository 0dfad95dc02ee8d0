"""The egress policy: which addresses are internal, how the allow list parses, and what a refusal says."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.domain.notify.egress_policy import (
    EgressConfigError,
    EgressPolicy,
    internal_kind,
    parse_allow,
    refusal,
)

NOTHING = EgressPolicy()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:7f00:2", "loopback"),  # the same, written in hex
        ("64:ff9b::7f00:1", "loopback"),  # NAT64
        ("2002:7f00:1::1", "loopback"),  # 6to4
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private (unique local)"),
        ("fd00::2", "private (unique local)"),
        ("64:ff9b:1::a00:1", "private (local-use NAT64)"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("100.127.255.254", "shared (carrier-grade NAT)"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "this-network"),
        ("::", "unspecified"),
        ("::127.0.0.1", "reserved (IPv4-compatible and other legacy forms)"),
        ("192.0.0.8", "IETF protocol assignment"),
        ("192.0.2.10", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("2001::1", "IETF protocol assignment (Teredo included)"),
        ("2001:db8::1", "documentation"),
        ("fec0::1", "site-local"),
        # public: allowed without any allow list
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("93.184.216.34", None),
        ("172.32.0.1", None),  # just past 172.16/12
        ("100.128.0.1", None),  # just past 100.64/10
        ("11.0.0.1", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),  # NAT64 of a public address
        ("2002:808:808::1", None),  # 6to4 of a public address
    ],
)
def test_internal_kind(address: str, kind: str | None) -> None:
    assert internal_kind(ip_address(address)) == kind
    assert (refusal(address, address, NOTHING) is None) == (kind is None)


@pytest.mark.parametrize(
    ("text", "hosts", "networks"),
    [
        ("", set(), []),
        (" , ,", set(), []),
        ("127.0.0.1", set(), ["127.0.0.1/32"]),
        ("10.0.0.0/8, 192.168.0.0/16", set(), ["10.0.0.0/8", "192.168.0.0/16"]),
        ("::1,[fd00::2],fd00::/8", set(), ["::1/128", "fd00::2/128", "fd00::/8"]),
        ("Metrics.LAN., localhost", {"metrics.lan", "localhost"}, []),
        ("prom-1.internal,127.0.0.0/8,", {"prom-1.internal"}, ["127.0.0.0/8"]),
    ],
)
def test_parse_allow(text: str, hosts: set[str], networks: list[str]) -> None:
    policy = parse_allow(text)
    assert policy.hosts == hosts
    assert [str(n) for n in policy.networks] == networks


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("10.0.0.1/8", "'10.0.0.1/8' is not a valid CIDR"),  # host bits set: which was meant?
        ("127.0.0.1, 10.0.0.0/33", "'10.0.0.0/33' is not a valid CIDR"),
        ("10.0.0.256", "'10.0.0.256' is neither"),
        ("http://metrics.lan", "'http://metrics.lan' is neither"),
        ("metrics.lan:9090", "'metrics.lan:9090' is neither"),
        ("*.lan", "'*.lan' is neither"),
        ("-bad-.lan", "'-bad-.lan' is neither"),
        ("a b", "'a b' is neither"),
    ],
)
def test_a_bad_allow_entry_is_named(text: str, bad: str) -> None:
    with pytest.raises(EgressConfigError) as caught:
        parse_allow(text)
    assert str(caught.value).startswith(f"CEP_EGRESS_ALLOW: {bad}")


@pytest.mark.parametrize(
    ("allow", "address", "host", "allowed"),
    [
        ("127.0.0.1", "127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.2", "127.0.0.2", False),  # a second loopback address is not the allowed one
        ("127.0.0.1", "::ffff:127.0.0.1", "::ffff:127.0.0.1", True),  # the same destination in IPv6 form
        ("127.0.0.1", "::1", "localhost", False),
        ("127.0.0.0/8", "127.0.0.2", "127.0.0.2", True),
        ("10.0.0.0/8", "10.1.2.3", "prom.lan", True),
        ("10.0.0.0/8", "169.254.169.254", "prom.lan", False),
        ("localhost", "127.0.0.1", "localhost", True),  # a host entry allows whatever the name resolves to
        ("localhost", "::1", "LOCALHOST.", True),
        ("localhost", "127.0.0.1", "127.0.0.1", False),  # ... but only under that name
        ("prom.lan", "10.1.2.3", "other.lan", False),
        ("", "8.8.8.8", "dns.google", True),  # public needs no entry
    ],
)
def test_refusal_with_an_allow_list(allow: str, address: str, host: str, allowed: bool) -> None:
    assert (refusal(address, host, parse_allow(allow)) is None) == allowed


def test_a_refusal_says_why_and_hides_what_a_name_resolves_to() -> None:
    by_name = refusal("10.1.2.3", "billing.corp", NOTHING)
    assert by_name == "billing.corp resolves to a private address, not allowed (CEP_EGRESS_ALLOW)"
    assert by_name is not None and "10.1.2.3" not in by_name
    assert refusal("169.254.169.254", "169.254.169.254", NOTHING) == (
        "169.254.169.254 is a link-local (cloud metadata) address, not allowed (CEP_EGRESS_ALLOW)"
    )
    assert refusal("::ffff:127.0.0.2", "[::ffff:127.0.0.2]", NOTHING) == (
        "::ffff:127.0.0.2 is a loopback address (127.0.0.2 inside), not allowed (CEP_EGRESS_ALLOW)"
    )
    assert refusal("0.0.0.0", "0.0.0.0", NOTHING) == "0.0.0.0 is an unspecified address, not allowed (CEP_EGRESS_ALLOW)"


def test_a_bad_address_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        refusal("not-an-ip", "x", NOTHING)


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_ipv6_wrapping_of_an_ipv4_address_is_judged_as_the_address(value: int) -> None:
    v4 = IPv4Address(value)
    wrapped = [
        IPv6Address((0xFFFF << 32) | value),  # ::ffff:a.b.c.d
        IPv6Address((0x64FF9B << 96) | value),  # 64:ff9b::a.b.c.d
        IPv6Address((0x2002 << 112) | (value << 80)),  # 2002:aabb:ccdd::
    ]
    for address in wrapped:
        assert internal_kind(address) == internal_kind(v4)
        assert (refusal(address, str(address), parse_allow(str(v4))) is None) is True
