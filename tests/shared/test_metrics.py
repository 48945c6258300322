"""The applier's metrics in bulk: what one observe or count per job gives."""

from __future__ import annotations

import random
import time
from bisect import bisect_left
from collections import Counter

import uuid_utils
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from shared.accepting.batch_operations import outcome_status
from shared.accepting.batch_queue import new_batch_id
from shared.ledger.chunk import PartRun
from shared.metrics import (
    APPLY_LAG,
    JOBS_COMPLETED,
    LAG_BUCKETS,
    observe_many,
    observe_repeated,
    record_applied,
)
from shared.store.models import FAILED, SUCCEEDED


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


def test_record_applied_counts_batch_operations_by_type_and_outcome() -> None:
    """A run's operations are counted in bulk by (type, outcome): the same counts as asking
    outcome_status of each one."""
    rng = random.Random(5)
    batch_id = new_batch_id()
    runs, expected = [], Counter()
    for part in range(3):
        operations, outcomes = [], []
        for index in range(500):
            kind = rng.choice(["withdraw", "deposit", "transfer"])
            operations.append([index, kind, "1000", 100, None, None, None])
            if rng.random() < 0.3:
                outcomes.append([index, "insufficient_funds", "not enough"])
            else:
                outcomes.append([index, rng.randrange(10**6), index + 1])
            expected[kind, outcome_status(outcomes[-1])] += 1
        runs.append(PartRun(part, batch_id, None, "prefix", operations, outcomes=outcomes))

    def counts() -> Counter:
        return Counter(
            {
                (kind, status): JOBS_COMPLETED.labels(kind, status)._value.get()
                for kind in ("withdraw", "deposit", "transfer")
                for status in (SUCCEEDED, FAILED)
            }
        )

    before = counts()
    record_applied([], runs)
    after = counts()
    after.subtract(before)
    assert +after == expected
    assert {status for _, status in expected} == {SUCCEEDED, FAILED}


def _batch_id_accepted(seconds_ago: float) -> str:
    """A batch id (a version 7 UUID) whose time is `seconds_ago` before now."""
    return str(uuid_utils.uuid7(nanoseconds=time.time_ns() - int(seconds_ago * 1e9)))


def test_record_applied_observes_each_batch_operation_at_its_batch_lag() -> None:
    """Runs of several batches, interleaved as a chunk takes them: every operation is
    observed once, at the lag of its own batch."""
    old, new = _batch_id_accepted(3.0), _batch_id_accepted(0.0)
    taken = [(old, 40), (new, 25), (old, 7), (new, 300), (old, 1)]  # (batch, run length)
    runs = [
        PartRun(
            part,
            batch_id,
            None,
            "prefix",
            [[i, "deposit", "1", 1, None, None, None] for i in range(size)],
            outcomes=[[i, 5, i] for i in range(size)],
        )
        for part, (batch_id, size) in enumerate(taken)
    ]

    def buckets() -> list[float]:
        return [bucket.get() for bucket in APPLY_LAG._buckets]

    before = buckets()
    record_applied([], runs)
    added = [a - b for a, b in zip(buckets(), before, strict=True)]
    three_seconds = bisect_left(LAG_BUCKETS, 3.0)  # the bucket of a lag just over 3 s
    assert added[three_seconds] == 48
    assert sum(added[:three_seconds]) == 325
    assert sum(added) == 373
