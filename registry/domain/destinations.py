"""Where webhook deliveries may go: the address and scheme rules.

They are checked twice: when a subscription is made or changed, on what its URL says (a
literal address, the scheme), and on every delivery, on each address the host resolves to
then, which is what counts (a name can be pointed anywhere after it was subscribed).

An address that carries an IPv4 address inside an IPv6 one (IPv4-mapped and -compatible
forms, 6to4, Teredo, NAT64) is judged by the IPv4 address it carries: ``2002:7f00:1::1`` is
a way to say 127.0.0.1 to a host with a 6to4 route. Cloud metadata services are refused
whatever the settings, and so are link-local, multicast and reserved ranges. The ranges are
listed here rather than taken only from :mod:`ipaddress`, whose classification changes
between Python releases (``192.0.0.192``, Oracle Cloud's metadata address, counts as global
in some).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, IBM, Hetzner...
        "fd00:ec2::254",  # AWS's instance metadata over IPv6
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.170.23",  # EKS Pod Identity credentials
        "fd00:ec2::23",
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "168.63.129.16",  # Azure's WireServer (host agent), a public address only VMs reach
    )
)

_nets = ipaddress.ip_network
PRIVATE = tuple(
    _nets(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # carrier-grade NAT, the address space of some clusters
        "198.18.0.0/15",  # benchmarking, used inside networks
        "fc00::/7",  # unique local
        "64:ff9b:1::/48",  # NAT64 local use
    )
)
RESERVED = tuple(
    _nets(n)
    for n in (
        "0.0.0.0/8",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "::/128",
        "100::/64",  # discard
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "fec0::/10",  # site-local (deprecated)
    )
)
NAT64 = _nets("64:ff9b::/96")
IPV4_COMPATIBLE = _nets("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (and would reach through a tunnel or a
    translator), if any."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # the server and the (de-obfuscated) client
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):  # not :: or ::1
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _host_is_loopback(host: str) -> bool:
    """A host name or literal that means this machine by definition (RFC 6761)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return is_loopback(host)
    except ValueError:
        return False


@dataclass(frozen=True)
class Reach:
    """The receivers this installation may deliver to (MODELGATE_WEBHOOK_ALLOW_*)."""

    allow_loopback: bool = False
    allow_private: bool = False
    allow_http: bool = False

    def refuses(self, address: str) -> str | None:
        """Why ``address`` may not be delivered to, or None."""
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address):
            carried = embedded_ipv4(ip)
            for inner in carried:
                reason = self._refuses_ip(inner)
                if reason is not None:
                    if ip.ipv4_mapped is not None:
                        return reason  # the same address, written another way
                    return f"an IPv6 address carrying {inner}, {reason}"
            if ip.ipv4_mapped is not None or ip in NAT64:
                return None  # reaches exactly the (allowed) IPv4 address it carries
        return self._refuses_ip(ip)

    def _refuses_ip(self, ip: Address) -> str | None:
        if ip in METADATA:
            return "a cloud metadata address"
        if ip.is_loopback:
            return None if self.allow_loopback else "a loopback address"
        if ip.is_link_local:
            return "a link-local address"
        if ip.is_multicast or ip.is_unspecified or ip.is_reserved or _within(ip, RESERVED):
            return "a reserved address"
        if _within(ip, PRIVATE) or ip.is_private or not ip.is_global:
            return None if self.allow_private else "a private address"
        return None

    def refuses_plain_http(self, scheme: str, addresses: Iterable[str]) -> str | None:
        """Plain http:// carries the signed body and its headers readable to anyone on the
        path: only to this machine (with loopback allowed), unless http is allowed."""
        if scheme != "http" or self.allow_http:
            return None
        if self.allow_loopback and all(is_loopback(a) for a in addresses):
            return None
        return (
            "plain http:// to a receiver off this machine (use https://, or set "
            "MODELGATE_WEBHOOK_ALLOW_HTTP=true)"
        )

    def refuses_url(self, url: str) -> str | None:
        """What can be told from the URL alone, before anything is resolved: the scheme, and
        an address written into it."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            reason = self.refuses(host)
            if reason is not None:
                return f"{host} is {reason}"
        local = self.allow_loopback and _host_is_loopback(host)
        if parts.scheme == "http" and not (self.allow_http or local):
            return (
                "plain http:// is accepted only for receivers on this machine with "
                "MODELGATE_WEBHOOK_ALLOW_LOOPBACK, or with MODELGATE_WEBHOOK_ALLOW_HTTP; "
                "use https://"
            )
        return None


def _within(
    ip: Address, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    return any(ip.version == n.version and ip in n for n in networks)
