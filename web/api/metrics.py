"""GET /metrics: Prometheus text over every web and worker process, plus shared state.

Request counts and durations are tallied here per request and written every half second;
job counts and apply lag by the workers (shared/metrics.py). The backlog per partition and
the partition owners are read from the database and Redis at scrape time, so every web
process reports the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from web.http.auth import require_unlimited
from web.serving.request_tally import RequestTally
from web.serving.services import Services, current_services
from web.serving.state import partition_states, recorded_metrics

metrics = Blueprint("metrics", __name__)


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
    tally.flush()  # this process's requests so far; the others' lag by a flush at most
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
