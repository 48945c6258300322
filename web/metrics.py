"""GET /metrics: Prometheus text over every web and worker process, plus shared state.

Request counts and durations are recorded here per request; job counts and apply lag by
the workers (shared/metrics.py). The backlog per partition and the partition owners are
read from the database and Redis at scrape time, so every web process reports the same.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from redis.exceptions import RedisError

from shared.metrics import HTTP_DURATION, HTTP_REQUESTS
from shared.operations import queued_by_partition
from shared.partitioning import lease_key
from web.services import Services, current_services

metrics = Blueprint("metrics", __name__)


def register_request_metrics(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.started_at = time.perf_counter()

    @app.after_request
    def _count_request(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        started = g.get("started_at")
        if started is not None:
            HTTP_DURATION.labels(request.method, route).observe(time.perf_counter() - started)
        return response


@metrics.get("/metrics")
def get_metrics() -> Response:
    shared = CollectorRegistry()
    shared.register(SharedState(current_services()))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(shared)  # every process's files, added up
        body = generate_latest(shared)
    else:
        body = generate_latest(REGISTRY) + generate_latest(shared)  # this process only
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


class SharedState(Collector):
    """Gauges of state every process shares: the backlog per partition, the owners."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        partitions = range(self.services.settings.partitions)
        backlog = GaugeMetricFamily(
            "atm_backlog_jobs", "Accepted jobs waiting to be applied", labels=["partition"]
        )
        queued = self.services.reading(queued_by_partition)
        for partition in partitions:
            backlog.add_metric([str(partition)], queued.get(partition, 0))
        yield backlog
        owners = GaugeMetricFamily(
            "atm_partition_owner",
            "1 for the worker that holds the partition's lease",
            labels=["partition", "owner"],
        )
        try:
            tokens = self.services.redis.mget([lease_key(p) for p in partitions])
        except RedisError:
            tokens = [None for _ in partitions]
        for partition, token in zip(partitions, tokens, strict=True):
            if token is not None:
                owners.add_metric([str(partition), token.decode()], 1)
        yield owners
