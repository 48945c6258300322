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
    shared, reserved, multicast or unspecified), IPv4 behind IPv6 included."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast
