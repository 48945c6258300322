"""GET /metrics: Prometheus text over every web and worker process, plus shared state.

Request counts and durations are tallied here per request and written every half second;
job counts and apply lag by the workers (shared/metrics.py). The backlog per partition and
the partition owners are read from the database and Redis at scrape time, so every web
process reports the same.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shared.metrics import HTTP_DURATION, HTTP_REQUESTS, observe_many
from web.auth import require_unlimited
from web.background import ProcessThread
from web.services import Services, current_services
from web.state import partition_states, recorded_metrics

log = logging.getLogger(__name__)
metrics = Blueprint("metrics", __name__)


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
        self.counts: Tally[tuple[str, str, str]] = Tally()
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
            counts, self.counts = self.counts, Tally()
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


tally = RequestTally()


def register_request_metrics(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.started_at = time.perf_counter()

    @app.after_request
    def _count_request(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        started = g.get("started_at")
        seconds = None if started is None else time.perf_counter() - started
        tally.add(request.method, route, str(response.status_code), seconds)
        return response


@metrics.get("/metrics")
def get_metrics() -> Response:
    require_unlimited()  # every account's activity
    tally.flush()  # this process's requests so far; the others' lag by FLUSH_SECONDS at most
    shared = CollectorRegistry()
    shared.register(SharedState(current_services()))
    body = generate_latest(recorded_metrics()) + generate_latest(shared)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


class SharedState(Collector):
    """Gauges of state every process shares: the backlog per partition, the owners."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = partition_states(self.services)
        backlog = GaugeMetricFamily(
            "atm_backlog_jobs", "Accepted jobs waiting to be applied", labels=["partition"]
        )
        owners = GaugeMetricFamily(
            "atm_partition_owner",
            "1 for the worker that holds the partition's lease",
            labels=["partition", "owner"],
        )
        for state in states:
            backlog.add_metric([str(state.partition)], state.backlog)
            if state.owner is not None:
                owners.add_metric([str(state.partition), state.owner], 1)
        yield backlog
        yield owners
