"""A web process's answered requests, counted in memory and written to the shared metric
files every half second (see RequestTally)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict

from shared.metrics import HTTP_DURATION, HTTP_REQUESTS, observe_many
from web.serving.background import ProcessThread

log = logging.getLogger(__name__)

# How often a process writes its requests' counts and durations to the shared metric files.
FLUSH_SECONDS = 0.5


class RequestTally:
    """A process's answered requests, counted in memory and written to the metric files
    every FLUSH_SECONDS (and before this process answers a scrape).

    In multiprocess mode each counter increment or histogram observation is a locked write
    to a mapped file, two per request: about 4% of a web process's CPU at 32 clients
    (py-spy). A tally costs a dictionary update; the shared values lag by at most
    FLUSH_SECONDS. Only this process's greenlets (or threads) touch it.
    """

    def __init__(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.flush_seconds = flush_seconds
        self.lock = threading.Lock()
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.durations: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.flusher = ProcessThread("request-metrics", self._flush_forever)

    def add(self, method: str, route: str, status: str, seconds: float | None) -> None:
        self.flusher.ensure_started()
        with self.lock:
            self.counts[(method, route, status)] += 1
            if seconds is not None:
                self.durations[(method, route)].append(seconds)

    def flush(self) -> None:
        with self.lock:
            counts, self.counts = self.counts, Counter()
            durations, self.durations = self.durations, defaultdict(list)
        for labels, count in counts.items():
            HTTP_REQUESTS.labels(*labels).inc(count)
        for labels, seconds in durations.items():
            observe_many(HTTP_DURATION.labels(*labels), seconds)

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self.flush_seconds)
            try:
                self.flush()
            except Exception:  # a metric file that cannot be written must not end the loop
                log.exception("writing request metrics failed")
