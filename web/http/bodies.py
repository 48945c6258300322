"""Request bodies are read whole before routing: bounded in size and in time, framed or refused.

One place reads every body, so no view ever sees a body cut short at the size limit (a
chunked body has no Content-Length to check up front), a body that stalls (each read is
under one deadline, so a client trickling a byte at a time is cut off too), or broken
chunked framing. The views then read the buffered copy.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from shared.errors import MalformedBody, RequestTimeout
from web.serving.offload import serving_on_gevent

READ_SIZE = 64 * 1024
# Reading at most this much of an oversized body lets the client finish sending and see
# the 413; a client sending more than this gets the connection closed instead.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
# A body refused at a chunk's size line is drained from the socket while the client keeps
# sending it; one that stops for this long is answered at once.
DRAIN_IDLE_SECONDS = 0.2
# Set in the environ when a chunk's size line was refused: gunicorn's reader cannot be read
# on from there, so what the client still sends is drained from the socket.
REFUSED_CHUNK = "atm.refused_chunk"


def register_body_reading(app: Flask, limit: int, timeout_seconds: float) -> None:
    @app.before_request
    def _read_whole_body() -> None:
        read_whole_body(request.environ, limit, timeout_seconds)


def read_whole_body(environ: dict, limit: int, timeout_seconds: float) -> None:
    """Replace the request's input stream by its whole body, read within the deadline.

    413 for a body over `limit` bytes (by its Content-Length, or once a chunked body's size
    lines pass it), 408 when the body does not arrive within `timeout_seconds`, 400 for
    broken framing.
    """
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    declared = environ.get("CONTENT_LENGTH") or ""
    if not chunked and (not declared.isdigit() or int(declared) == 0):
        return
    if not chunked and int(declared) > limit:
        raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
    stream = environ["wsgi.input"]
    if chunked:
        refuse_chunks_over(environ, limit)
    parts: list[bytes] = []
    size = 0
    with read_deadline(timeout_seconds):
        try:
            while size <= limit:
                part = stream.read(READ_SIZE)
                if not part:
                    break
                parts.append(part)
                size += len(part)
        except RequestEntityTooLarge:
            raise
        except Exception as exc:  # the server's parser refusing the framing, or a hang-up
            raise MalformedBody(f"the request body could not be read: {exc}") from exc
    if size > limit:
        raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
    body = b"".join(parts)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)


def refuse_chunks_over(environ: dict, limit: int) -> None:
    """Have gunicorn's chunked reader refuse a chunk as soon as its size line takes the
    body past `limit` bytes.

    The reader waits for the whole of a chunk its size line announces before handing any
    of it on, so a size line of 2**96 would hold the request until the body deadline and
    answer 408. The size line is the first moment the body is known to be too large: the
    413 is answered then (once the client stops sending, see discard_unread_body) and the
    connection closed. A stream that is not gunicorn's (another server) is left as it is.
    """
    reader = getattr(environ["wsgi.input"], "reader", None)
    parse_chunk_size = getattr(reader, "parse_chunk_size", None)
    if parse_chunk_size is None:
        return
    declared = 0

    def checked(unreader: object, data: bytes | None = None) -> tuple[int, bytes | None]:
        nonlocal declared
        size, rest = parse_chunk_size(unreader, data=data)
        declared += size
        if declared > limit:
            environ[REFUSED_CHUNK] = True
            raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
        return size, rest

    reader.parse_chunk_size = checked  # type: ignore[union-attr]


def discard_unread_body(environ: dict, timeout_seconds: float) -> None:
    """Read and drop what is left of a refused body (within the deadline), so that a client
    still sending it receives the answer instead of a reset connection."""
    if environ.get(REFUSED_CHUNK):
        _drain_socket(environ.get("gunicorn.socket"), timeout_seconds)
        return
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    declared = environ.get("CONTENT_LENGTH") or ""
    remaining = min(int(declared), DRAIN_LIMIT_BYTES) if declared.isdigit() else DRAIN_LIMIT_BYTES
    try:
        with read_deadline(timeout_seconds):
            while remaining > 0:
                part = stream.read(min(remaining, READ_SIZE))
                if not part:
                    break
                remaining -= len(part)
    except Exception:
        pass  # the connection is closed after this answer anyway


def _drain_socket(sock: socket.socket | None, timeout_seconds: float) -> None:
    """Read and drop what the client sends, until it pauses for DRAIN_IDLE_SECONDS (a
    client waiting for the answer gets it almost at once), DRAIN_LIMIT_BYTES or the
    deadline; its socket's timeout is restored after."""
    if sock is None:
        return
    previous = sock.gettimeout()
    remaining = DRAIN_LIMIT_BYTES
    try:
        sock.settimeout(DRAIN_IDLE_SECONDS)
        with read_deadline(timeout_seconds):
            while remaining > 0:
                part = sock.recv(READ_SIZE)
                if not part:
                    break
                remaining -= len(part)
    except Exception:
        pass  # a pause, the deadline or a hang-up: the answer goes out now
    finally:
        sock.settimeout(previous)


@contextmanager
def read_deadline(seconds: float) -> Iterator[None]:
    """Raise RequestTimeout if the block is still reading after `seconds` (under gevent,
    where a timer can interrupt a read; elsewhere the server's own timeouts apply)."""
    if not serving_on_gevent():
        yield
        return
    import gevent

    timer = gevent.Timeout(seconds)
    timer.start()
    try:
        yield
    except gevent.Timeout as expired:
        if expired is not timer:
            raise
        raise RequestTimeout(f"the request body did not arrive within {seconds:g} s") from None
    finally:
        timer.close()
