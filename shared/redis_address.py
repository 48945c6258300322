"""What REDIS_URL names: one Redis server, or a master found through Redis Sentinel.

A plain URL (`redis://`, `rediss://`, `unix://`) is one server. With
`redis+sentinel://[[user]:password@]host:port[,host:port…]/<master name>[/<db>]` every
client asks the sentinels which server is the master of that name, and asks again after a
failover (redis-py's Sentinel connection pool); Celery's broker gets the same sentinels
through kombu's `sentinel://` transport. The password is the master's (and its replicas');
the sentinels themselves are reached without one.

Parsing only: the settings check REDIS_URL with it in every process, gunicorn's master
included, which must not import redis (and with it ssl) before gevent patches its workers.
The clients are made by shared.messaging.redis_client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
# Every client's connections to the sentinels themselves (redis-py's and kombu's): a sentinel
# that hangs or drops packets is passed over for the next one instead of holding a worker's
# reconnection, or a request, until the system's own timeout.
SENTINEL_TIMEOUTS = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
# Said instead of the URL's text, which REDIS_URL's errors never repeat (it may hold a
# password, and an unencoded / # ? in one moves where the URL's parts seem to end).
_ENCODE_HINT = "percent-encode any @ : / # ? in the password"


@dataclass(frozen=True)
class SentinelAddress:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def sentinel_address(url: str) -> SentinelAddress | None:
    """The sentinels and master a `redis+sentinel://` URL names; None for any other URL.
    Raises ValueError, saying what is wrong without repeating the URL, for a malformed one
    (and for a query string: no option, TLS included, is taken through Sentinel)."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return None
    if parts.query or parts.fragment:
        raise ValueError(
            f"a {SENTINEL_SCHEME}:// URL takes no ?options or #fragment; {_ENCODE_HINT}"
        )
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    if username and not password:
        raise ValueError(f"a {SENTINEL_SCHEME}:// URL with a user name needs its password")
    sentinels = tuple(_host_and_port(host) for host in hosts.split(",") if host)
    if not sentinels:
        raise ValueError(f"{SENTINEL_SCHEME}:// needs at least one sentinel host:port")
    path = [piece for piece in parts.path.split("/") if piece]
    if not path or len(path) > 2:
        raise ValueError(f"{SENTINEL_SCHEME}:// needs the master's name, then an optional db")
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError(f"the db of a {SENTINEL_SCHEME}:// URL is a number; {_ENCODE_HINT}")
    return SentinelAddress(
        sentinels,
        unquote(path[0]),
        int(path[1]) if len(path) == 2 else 0,
        unquote(username) or None,
        unquote(password) or None,
    )


def _host_and_port(text: str) -> tuple[str, int]:
    """`host`, `host:port` or `[ipv6]:port`."""
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        port = rest.removeprefix(":") if closed else "?"
    else:
        host, _, port = text.partition(":")
    if not host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(f"each sentinel is host:port with a port from 1 to 65535; {_ENCODE_HINT}")
    return host, int(port) if port else DEFAULT_SENTINEL_PORT


def celery_broker(url: str) -> tuple[str, dict[str, Any]]:
    """Celery's broker URL for REDIS_URL, and the transport options it needs besides."""
    address = sentinel_address(url)
    if address is None:
        return url, {}
    credentials = ""
    if address.password is not None:
        username, password = (
            quote(address.username or "", safe=""),
            quote(address.password, safe=""),
        )
        credentials = f"{username}:{password}@"
    urls = ";".join(
        f"sentinel://{credentials}{_bracketed(host)}:{port}/{address.db}"
        for host, port in address.sentinels
    )
    return urls, {"master_name": address.master, "sentinel_kwargs": dict(SENTINEL_TIMEOUTS)}


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
