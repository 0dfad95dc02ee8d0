"""Egress policy: which destination addresses are internal, and the admin's allow list (`CEP_EGRESS_ALLOW`).

Pure: the I/O side (services/common/egress.py) resolves a host, asks `refusal` about every address it got and
connects only to addresses that passed. Internal ranges are listed explicitly instead of trusting
`ipaddress.is_global` alone, because its answers vary between Python patch releases (3.11.7 calls
`::127.0.0.1`, `64:ff9b::a00:1` and `fec0::1` global); the properties still back the table up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

ALLOW_VARIABLE = "CEP_EGRESS_ALLOW"

# Most specific first: the first match names the kind in the refusal.
_INTERNAL: tuple[tuple[Network, str], ...] = tuple(
    (ip_network(cidr), kind)
    for cidr, kind in (
        ("0.0.0.0/32", "unspecified"),  # connecting to it reaches the local host on Linux
        ("0.0.0.0/8", "this-network"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "private (local-use NAT64)"),  # inside ::/8, so before it
        ("::/8", "reserved (IPv4-compatible and other legacy forms)"),
        ("100::/64", "discard-only"),
        ("2001:db8::/32", "documentation"),
        ("2001::/23", "IETF protocol assignment (Teredo included)"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing (SRv6)"),
        ("fc00::/7", "private (unique local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)
_NAT64 = IPv6Network("64:ff9b::/96")
_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_HOST = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_CIDR = re.compile(r"^[0-9A-Fa-f:.]+/[0-9]+$")


class EgressConfigError(ValueError):
    """A `CEP_EGRESS_ALLOW` entry that is neither a host name, an IP address nor a CIDR; the message names it."""


@dataclass(frozen=True)
class EgressPolicy:
    """What an admin allowed although internal: host names (whatever they resolve to) and networks.

    The empty policy (the default) allows no internal address at all.
    """

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    def allows(self, host: str, address: Address) -> bool:
        """Whether the admin allowed this destination: its host name, or a network holding the address."""
        if normal_host(host) in self.hosts:
            return True
        reached = embedded(address)
        return any(address in net or reached in net for net in self.networks)


def parse_allow(text: str) -> EgressPolicy:
    """The policy of a comma-separated allow list (`127.0.0.1, 10.0.0.0/8, metrics.lan`); empty entries skipped."""
    hosts: set[str] = set()
    networks: list[Network] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        network = _network(entry)
        if network is not None:
            networks.append(network)
        elif _HOST.match(entry.rstrip(".")) and not entry.rstrip(".").rsplit(".", 1)[-1].isdigit():
            hosts.add(normal_host(entry))
        else:
            raise EgressConfigError(
                f"{ALLOW_VARIABLE}: {entry[:100]!r} is neither a host name, an IP address nor a CIDR"
                " (no scheme, port or path)"
            )
    return EgressPolicy(frozenset(hosts), tuple(networks))


def _network(entry: str) -> Network | None:
    """The entry as a network (an address is a /32 or /128), None if it is not written as one."""
    bare = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
    if "/" not in bare:
        try:
            return ip_network(ip_address(bare))
        except ValueError:
            return None
    if not _CIDR.match(bare):
        return None  # a URL or a path: not a CIDR at all
    try:
        return ip_network(bare, strict=True)
    except ValueError as exc:
        raise EgressConfigError(f"{ALLOW_VARIABLE}: {entry[:100]!r} is not a valid CIDR ({exc})") from None


def normal_host(host: str) -> str:
    """A host name as compared with the allow list: lower case, no trailing dot, no IPv6 brackets."""
    return host.strip("[]").rstrip(".").lower()


def embedded(address: Address) -> Address:
    """The IPv4 address an IPv6 form actually reaches (IPv4-mapped, NAT64 64:ff9b::/96, 6to4), else the address."""
    if isinstance(address, IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return address


def internal_kind(address: Address) -> str | None:
    """Why an address is internal (`loopback`, `private`, ...), or None for a public one."""
    reached = embedded(address)
    for network, kind in _INTERNAL:
        if reached in network:
            return kind
    if (
        reached.is_private
        or reached.is_loopback
        or reached.is_link_local
        or reached.is_multicast
        or reached.is_reserved
        or reached.is_unspecified
        or not reached.is_global
    ):
        return "not globally routable"
    return None


def refusal(ip: str | Address, host: str, policy: EgressPolicy) -> str | None:
    """Why a connection to `ip` (which `host` resolved to) is refused, or None when it may go ahead.

    An internal address is refused unless the admin allowed its host name or a network holding it.
    A destination given by name never has its address in the reason: the answer goes back to whoever
    configured the URL, and internal addresses are not theirs to map.
    """
    address = ip_address(ip) if isinstance(ip, str) else ip
    kind = internal_kind(address)
    if kind is None or policy.allows(host, address):
        return None
    literal = _is_literal(host)
    subject = f"{normal_host(host)} is" if literal else f"{normal_host(host)} resolves to"
    inside = f" ({embedded(address)} inside)" if literal and embedded(address) != address else ""
    article = "an" if kind[0] in "aeiouIU" else "a"
    return f"{subject} {article} {kind} address{inside}, not allowed ({ALLOW_VARIABLE})"


def _is_literal(host: str) -> bool:
    try:
        ip_address(normal_host(host))
    except ValueError:
        return False
    return True
