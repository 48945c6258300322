"""The applier's histogram updates in bulk give what one observe per job gives."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from shared.metrics import LAG_BUCKETS, observe_many, observe_repeated


def exposed(registry: CollectorRegistry) -> list[str]:
    lines = generate_latest(registry).decode().splitlines()
    return [line for line in lines if not line.startswith(("#", "lag_seconds_created"))]


def test_observe_many_exposes_what_single_observations_expose() -> None:
    one_by_one, in_bulk = CollectorRegistry(), CollectorRegistry()
    single = Histogram("lag_seconds", "lag", buckets=LAG_BUCKETS, registry=one_by_one)
    bulk = Histogram("lag_seconds", "lag", buckets=LAG_BUCKETS, registry=in_bulk)
    rng = random.Random(3)
    amounts = [rng.expovariate(5) for _ in range(2000)] + list(LAG_BUCKETS) + [0.0, 1e6]
    for amount in amounts:
        single.observe(amount)
    observe_many(bulk, amounts[:1000])
    observe_many(bulk, amounts[1000:])
    observe_many(bulk, [])
    assert exposed(in_bulk) == exposed(one_by_one)


def test_observe_repeated_exposes_what_repeated_observations_expose() -> None:
    """A batch's operations share one lag: observed once with their count."""
    one_by_one, in_bulk = CollectorRegistry(), CollectorRegistry()
    single = Histogram("lag_seconds", "lag", buckets=LAG_BUCKETS, registry=one_by_one)
    bulk = Histogram("lag_seconds", "lag", buckets=LAG_BUCKETS, registry=in_bulk)
    for amount, count in [(0.0, 3), (LAG_BUCKETS[2], 5), (0.37, 2000), (1e6, 1), (2.5, 0)]:
        for _ in range(count):
            single.observe(amount)
        observe_repeated(bulk, amount, count)
    assert exposed(in_bulk) == exposed(one_by_one)
