"""Where a webhook may be sent: http(s) URLs whose host resolves only to public addresses.

A service that POSTs wherever a client asks can be aimed at what sits behind it (a cloud
metadata address, an admin port on localhost). The check is on the addresses the host
name resolves to, not on the name, and it is made again before every round of sending,
on the addresses then connected to: a name that resolved to a public address when the
webhook was created may point somewhere private later.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from shared.errors import InvalidWebhookUrl

MAX_URL_LENGTH = 2048
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# IPv6 ranges whose addresses carry an IPv4 address (besides IPv4-mapped, 6to4, Teredo).
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291, deprecated
IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 (SIIT)
# A network's own NAT64 prefix within the local-use range may be any of these lengths,
# each of which puts the IPv4 address somewhere else (RFC 6052).
NAT64_PREFIX_LENGTHS = (48, 56, 64, 96)
# IETF protocol assignments (RFC 6890): not reachable across the internet but for the two
# anycast addresses in it. Python before 3.11.10 calls the whole block global.
IETF_PROTOCOL_ASSIGNMENTS = ipaddress.IPv4Network("192.0.0.0/24")
GLOBAL_PROTOCOL_ASSIGNMENTS = {
    ipaddress.IPv4Address("192.0.0.9"),
    ipaddress.IPv4Address("192.0.0.10"),
}


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart, and the address to connect to for it."""

    scheme: str
    host: str  # the name, for the Host header and TLS
    port: int
    path: str  # with its query
    address: str  # the checked address connected to


def parse_url(value: object) -> SplitResult:
    """A webhook URL's parts, or InvalidWebhookUrl saying what is wrong with it."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"url must be an http or https URL of at most {MAX_URL_LENGTH}")
    if not value.isascii() or any(c.isspace() or not c.isprintable() for c in value):
        raise InvalidWebhookUrl("url must be written in printable ASCII, without spaces")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError as exc:
        raise InvalidWebhookUrl(f"url is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookUrl("url must be an http or https URL with a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("url must not carry credentials; use the signature instead")
    if parts.fragment:
        raise InvalidWebhookUrl("url must not have a fragment")
    return parts


def resolve(value: str, *, allow_private: bool) -> Target:
    """The URL's target with an address that may be connected to, or InvalidWebhookUrl.

    Every address the name resolves to must be public (one private answer among public
    ones is enough for a rebinding trick), unless `allow_private`.
    """
    parts = parse_url(value)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidWebhookUrl(f"url's host {host} cannot be resolved: {exc}") from exc
    addresses = [ipaddress.ip_address(answer[4][0].split("%")[0]) for answer in answers]
    if not addresses:
        raise InvalidWebhookUrl(f"url's host {host} has no address")
    if not allow_private:
        refused = [str(address) for address in addresses if not is_public(address)]
        if refused:
            raise InvalidWebhookUrl(
                f"url's host {host} resolves to a private, loopback or reserved address "
                f"({', '.join(refused)}); set ATM_WEBHOOK_ALLOW_PRIVATE=true to allow it"
            )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(parts.scheme, host, port, path, str(addresses[0]))


def is_public(address: IpAddress) -> bool:
    """Whether `address` is a public unicast address (not private, loopback, link-local,
    shared, reserved, multicast or unspecified).

    An IPv6 address that carries an IPv4 address for a translator or tunnel to reach is
    judged by that IPv4 address (each of them, where it carries more than one, or may be
    read more than one way): 64:ff9b::7f00:1 is 127.0.0.1 to a NAT64 gateway.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return all(is_public(inner) for inner in embedded)
        return address.is_global and not address.is_multicast and not address.is_reserved
    if address in IETF_PROTOCOL_ASSIGNMENTS and address not in GLOBAL_PROTOCOL_ASSIGNMENTS:
        return False
    return address.is_global and not address.is_multicast


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address stands for, or None if it stands for none:
    IPv4-mapped and -translated, IPv4-compatible, NAT64, 6to4 and Teredo (its server and
    its client, whose address is stored inverted)."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if address in NAT64_WELL_KNOWN or address in IPV4_COMPATIBLE or address in IPV4_TRANSLATED:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address in NAT64_LOCAL_USE:
        return [_rfc6052_ipv4(address, length) for length in NAT64_PREFIX_LENGTHS]
    return None


def _rfc6052_ipv4(address: ipaddress.IPv6Address, prefix_length: int) -> ipaddress.IPv4Address:
    """The IPv4 address after a NAT64 prefix of `prefix_length` bits: it follows the
    prefix, skipping bits 64 to 71, which are always zero."""
    if prefix_length == 96:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    value = int(address)
    without_bits_64_to_71 = (value >> 64 << 56) | (value & (1 << 56) - 1)
    return ipaddress.IPv4Address(without_bits_64_to_71 >> (120 - prefix_length - 32) & 0xFFFFFFFF)
