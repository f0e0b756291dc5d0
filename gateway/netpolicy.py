"""Where the gateway may send a partner's webhook: the address rule and the URL rule (pure: no I/O).

A webhook goes to the public internet only. Refused, however the address was written or
resolved: loopback, private (RFC 1918, IPv6 unique-local and site-local), link-local (cloud
metadata at 169.254.169.254 included), shared/CGNAT (100.64.0.0/10), multicast, broadcast,
unspecified, reserved, documentation and benchmarking ranges, and IPv6 addresses that carry an
IPv4 one (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo), which could reach any of those.
IPv6 must be global unicast (2000::/3).

``allow_loopback`` (COALITION_WEBHOOK_ALLOW_LOOPBACK, local development and tests) lets
127.0.0.0/8, ::1 and ``localhost`` through, and plain http to them; nothing else (never a
private or link-local address, nor loopback written as an IPv4-mapped IPv6 address).

The rule that counts is applied at delivery time, to the addresses the host resolves to, by
gateway/webhook_http.py; :func:`check_url` refuses at registration what is visibly wrong.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address

_V4_REFUSED: tuple[tuple[IPv4Network | IPv6Network, str], ...] = (
    (ip_network("0.0.0.0/8"), "unspecified"),  # "this network"
    (ip_network("10.0.0.0/8"), "private"),
    (ip_network("100.64.0.0/10"), "shared"),  # carrier-grade NAT
    (ip_network("127.0.0.0/8"), "loopback"),
    (ip_network("169.254.0.0/16"), "link-local"),
    (ip_network("172.16.0.0/12"), "private"),
    (ip_network("192.0.0.0/24"), "reserved"),  # IETF protocol assignments
    (ip_network("192.0.2.0/24"), "documentation"),
    (ip_network("192.88.99.0/24"), "reserved"),  # 6to4 relay anycast
    (ip_network("192.168.0.0/16"), "private"),
    (ip_network("198.18.0.0/15"), "reserved"),  # benchmarking
    (ip_network("198.51.100.0/24"), "documentation"),
    (ip_network("203.0.113.0/24"), "documentation"),
    (ip_network("224.0.0.0/4"), "multicast"),
    (ip_network("240.0.0.0/4"), "reserved"),  # 255.255.255.255 (broadcast) included
)
_V6_GLOBAL_UNICAST = ip_network("2000::/3")
_V6_REFUSED: tuple[tuple[IPv4Network | IPv6Network, str], ...] = (
    (ip_network("::/128"), "unspecified"),
    (ip_network("::1/128"), "loopback"),
    (ip_network("::ffff:0:0/96"), "ipv4-mapped"),
    (ip_network("::/96"), "ipv4-embedded"),  # IPv4-compatible (deprecated)
    (ip_network("64:ff9b::/96"), "ipv4-embedded"),  # NAT64
    (ip_network("64:ff9b:1::/48"), "ipv4-embedded"),  # local-use NAT64
    (ip_network("fc00::/7"), "private"),  # unique local
    (ip_network("fec0::/10"), "private"),  # site-local (deprecated)
    (ip_network("fe80::/10"), "link-local"),
    (ip_network("ff00::/8"), "multicast"),
    (ip_network("2001::/32"), "ipv4-embedded"),  # Teredo
    (ip_network("2001::/23"), "reserved"),  # IETF protocol assignments (benchmarking, ORCHID...)
    (ip_network("2001:db8::/32"), "documentation"),
    (ip_network("2002::/16"), "ipv4-embedded"),  # 6to4
    (ip_network("3fff::/20"), "documentation"),
)
# names that never denote a public host (RFC 6761, 6762, 8375 home.arpa; ICANN's .internal)
_SPECIAL_SUFFIXES = ("local", "internal", "localdomain", "arpa", "invalid")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")  # a host ending in one is an IPv4 address to URL parsers


class AddressNotAllowed(Exception):
    """The gateway does not connect to this address (``reason``: "loopback", "private"...)."""

    def __init__(self, host: str, address: IPAddress, reason: str) -> None:
        super().__init__(f"{host} is at {address}, a {reason} address: webhooks go to public addresses only")
        self.host, self.address, self.reason = host, address, reason


class UrlNotAllowed(ValueError):
    """A webhook URL refused at registration; the message says what to change."""


def refusal(address: IPAddress | str, *, allow_loopback: bool = False) -> str | None:
    """Why the gateway must not connect to ``address`` ("loopback", "private", "link-local",
    "shared", "multicast", "reserved", "documentation", "unspecified", "ipv4-mapped",
    "ipv4-embedded"), or None when it may."""
    address = ip_address(address) if isinstance(address, str) else address
    if isinstance(address, IPv6Address) and address.scope_id:
        return "link-local"  # a zone index names a local interface
    refused = _V4_REFUSED if address.version == 4 else _V6_REFUSED
    reason = next((why for network, why in refused if address in network), None)
    if reason is None and isinstance(address, IPv6Address) and address not in _V6_GLOBAL_UNICAST:
        reason = "reserved"
    if reason is None and not address.is_global:  # the standard library's list, as a second opinion
        reason = "reserved"
    if reason == "loopback" and allow_loopback:
        return None
    return reason


def check_address(host: str, address: IPAddress | str, *, allow_loopback: bool = False) -> IPAddress:
    """``address`` (one that ``host`` resolved to) if the gateway may connect to it; else raises
    :class:`AddressNotAllowed`."""
    address = ip_address(address) if isinstance(address, str) else address
    reason = refusal(address, allow_loopback=allow_loopback)
    if reason is not None:
        raise AddressNotAllowed(host, address, reason)
    return address


def is_loopback_name(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


def check_url(url: str, *, allow_loopback: bool = False) -> str:
    """``url`` if it may be registered as a webhook: https (plain http only to loopback, when
    ``allow_loopback``), no user:password part, a DNS name or a public IP address written
    plainly (no ``0x7f000001``, ``2130706433``, ``127.1`` or ``0177.0.0.1``). Raises
    :class:`UrlNotAllowed` otherwise. The host's addresses are checked again at each delivery."""
    if any(c.isspace() or c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise UrlNotAllowed("the URL has spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as exc:
        raise UrlNotAllowed(f"the URL does not parse: {exc}") from None
    scheme, netloc = parts.scheme.lower(), parts.netloc
    if scheme not in ("https", "http"):
        raise UrlNotAllowed("use an https URL")
    if "@" in netloc or parts.username is not None or parts.password is not None:
        raise UrlNotAllowed("the URL must have no user:password part (it would be stored and logged in clear)")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlNotAllowed("the URL needs a host")
    literal = _literal(host, bracketed="[" in netloc)
    if literal is not None:
        reason = refusal(literal, allow_loopback=allow_loopback)
        if reason is not None:
            raise UrlNotAllowed(f"{host} is a {reason} address: webhooks go to public addresses only")
        loopback = literal.is_loopback
    else:
        _check_name(host, allow_loopback=allow_loopback)
        loopback = is_loopback_name(host)
    if scheme == "http" and not (allow_loopback and loopback):
        raise UrlNotAllowed("use an https URL (plain http only to loopback, in local development)")
    return url


def _literal(host: str, *, bracketed: bool) -> IPAddress | None:
    """The IP address ``host`` is written as, or None for a name; refuses the odd IPv4 forms
    (hex, octal, a single integer, fewer than four parts) that resolvers accept."""
    if bracketed:
        if "%" in host:
            raise UrlNotAllowed("an IPv6 zone index (%...) names a local interface")
        try:
            return IPv6Address(host)
        except ValueError:
            raise UrlNotAllowed(f"[{host}] is not an IPv6 address") from None
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if not _NUMERIC_LABEL.fullmatch(last):
        return None
    try:
        address = IPv4Address(host)
    except ValueError:
        address = None
    if address is None or str(address) != host:
        raise UrlNotAllowed(f"{host}: write an IPv4 address as four decimal numbers (a.b.c.d), or use a name")
    return address


def _check_name(host: str, *, allow_loopback: bool) -> None:
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UrlNotAllowed(f"{host} is not a host name (letters, digits and hyphens; IDNs as xn--)")
    if is_loopback_name(name):
        if allow_loopback:
            return
        raise UrlNotAllowed(f"{host} is a loopback name: webhooks go to public hosts only")
    if len(labels) < 2 or labels[-1] in _SPECIAL_SUFFIXES:
        raise UrlNotAllowed(f"{host} is not a public host name (use its fully qualified name)")
