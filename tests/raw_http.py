"""HTTP/1.1 over plain sockets, for what a client library will not send: stalls, broken
framing, thousands of requests left waiting at once."""

from __future__ import annotations

import contextlib
import json
import socket
from urllib.parse import urlparse


def connect(base_url: str, timeout: float = 10) -> socket.socket:
    address = urlparse(base_url)
    return socket.create_connection((address.hostname, address.port), timeout=timeout)


def send_request(base_url: str, request: bytes, timeout: float = 10) -> socket.socket:
    """A new connection that has sent `request`; read its answer with read_response."""
    sock = connect(base_url, timeout)
    sock.sendall(request)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or the timeout)."""
    received = b""
    while True:
        try:
            part = sock.recv(65536)
        except OSError:
            break
        if not part:
            break
        received += part
    return received


def exchange(base_url: str, request: bytes, timeout: float = 10) -> bytes:
    """Send `request` on a new connection; everything the server answers."""
    with connect(base_url, timeout) as sock:
        # The server may answer and close before the whole body is sent.
        with contextlib.suppress(OSError):
            sock.sendall(request)
        return read_all(sock)


def get(path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: test", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post_json(path: str, body: dict, headers: dict[str, str] | None = None) -> bytes:
    payload = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", "Host: test", "Connection: close"]
    lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def status_and_body(raw: bytes) -> tuple[int, dict]:
    """The status code and JSON body of one complete response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = unchunk(body)
    return status, json.loads(body)


def unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def chunked(payload: bytes, chunk: int = 65536) -> bytes:
    parts = [payload[i : i + chunk] for i in range(0, len(payload), chunk)]
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
