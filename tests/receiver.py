"""A webhook receiver for tests: a real HTTP server on a free port that records every POST.

The path says how to answer: `/ok` 200; `/fail-first/<n>` 500 to the first n deliveries
of each event id, then 200; `/down` always 500; `/hang` answers only after HANG_SECONDS.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG_SECONDS = 3.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                item = Received(self.path, dict(self.headers.items()), body, time.time())
                with receiver.lock:
                    receiver.received.append(item)
                    seen = sum(
                        1
                        for r in receiver.received
                        if r.path == item.path
                        and r.headers.get("ATM-Event-Id") == item.headers.get("ATM-Event-Id")
                    )
                self.send_response(receiver.status_for(self.path, seen))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def status_for(path: str, seen: int) -> int:
        if path.startswith("/fail-first/"):
            return 500 if seen <= int(path.rsplit("/", 1)[1]) else 200
        if path.startswith("/down"):
            return 500
        if path.startswith("/hang"):
            time.sleep(HANG_SECONDS)
        return 200

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def about(self, path: str, subject_key: str, subject_id: str) -> list[Received]:
        """What reached `path` about the job, batch or hold `subject_id`."""
        return [r for r in self.at(path) if r.event["data"].get(subject_key) == subject_id]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
