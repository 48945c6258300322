"""Shared state as an operator sees it: each partition's owner and backlog, job totals.

Read from the database, Redis and the metrics files, so every web process reports the same;
/metrics and the console both show it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY
from redis.exceptions import RedisError

from shared.accepting.operations import queued_by_partition
from shared.messaging import lease_holders
from web.serving.services import Services


@dataclass(frozen=True)
class PartitionState:
    partition: int
    owner: str | None  # the worker holding its lease (host:pid), None if nobody does
    backlog: int


def partition_states(services: Services) -> list[PartitionState]:
    partitions = range(services.settings.partitions)
    queued = services.reading(queued_by_partition)
    try:
        owners = lease_holders(services.redis, partitions)
    except RedisError:
        owners = [None for _ in partitions]
    return [
        PartitionState(p, owner, queued.get(p, 0))
        for p, owner in zip(partitions, owners, strict=True)
    ]


def recorded_metrics() -> CollectorRegistry:
    """The metrics every process recorded, added up (multiprocess mode), or without
    PROMETHEUS_MULTIPROC_DIR this process's own. That is prometheus-client's own variable,
    read by the library from the environment (MultiProcessCollector), not a setting."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def recorded_totals() -> dict[str, float | int]:
    """Jobs completed and the apply lag's sum and count so far, over every process; the
    counts as whole numbers (the metrics keep every value as a float: 2020.0)."""
    totals: dict[str, float | int] = {
        "jobs_completed": 0.0,
        "apply_lag_sum": 0.0,
        "apply_lag_count": 0.0,
    }
    names = {
        "atm_jobs_completed_total": "jobs_completed",
        "atm_apply_lag_seconds_sum": "apply_lag_sum",
        "atm_apply_lag_seconds_count": "apply_lag_count",
    }
    for family in recorded_metrics().collect():
        for sample in family.samples:
            if sample.name in names:
                totals[names[sample.name]] += sample.value
    for count in ("jobs_completed", "apply_lag_count"):
        totals[count] = round(totals[count])
    return totals
