"""How output and the web processes' registry name a database or a Redis: never with a password."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.engine import make_url


def database_label(database_url: str) -> str:
    """The database as web processes name it in Redis: its kind, host, port and name (a
    SQLite file by its full path), never a user or password."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"sqlite:///{os.path.realpath(url.database or '')}"
    return f"{backend}://{url.host or 'localhost'}:{url.port or ''}/{url.database or ''}"


def database_url_label(database_url: str) -> str:
    """DATABASE_URL with its password, if any, replaced by ***."""
    return make_url(database_url).render_as_string(hide_password=True)


def redis_label(redis_url: str) -> str:
    """REDIS_URL with its password, if any, replaced by ***."""
    parts = urlsplit(redis_url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    query = [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*")))
