"""Faults caused for real: kill -9 of workers, Redis losing everything; nothing lost or doubled."""

from __future__ import annotations

import random
import socket
import time
from decimal import Decimal

from tests.conftest import Api
from tests.e2e.test_batches import random_operations, submit, wait_completed
from tests.faults.support import (
    assert_applied_in_array_order,
    assert_audit_clean,
    batch_in_progress,
    counts,
)
from tests.stack import Stack, wait_until


def test_kill_9_in_the_middle_of_a_batch(fault_stack: Stack) -> None:
    client, operations, batch_id = batch_in_progress(fault_stack, seed=11, applied_first=500)
    fault_stack.kill_worker("first")
    assert counts(fault_stack).get("queued", 0) > 0, "the worker finished before it was killed"
    fault_stack.start_worker("second")
    wait_completed(client, batch_id, timeout=120)
    assert_applied_in_array_order(client, batch_id, operations, Decimal("100.00"))
    assert_audit_clean(fault_stack)


def test_redis_losing_everything_while_work_is_queued(fault_stack: Stack) -> None:
    client, operations, batch_id = batch_in_progress(fault_stack, seed=12)
    fault_stack.redis.flushdb()  # doorbells, queued messages and leases all gone
    assert counts(fault_stack).get("queued", 0) > 0, "the worker finished before the flush"
    wait_completed(client, batch_id, timeout=120)
    assert_applied_in_array_order(client, batch_id, operations, Decimal("100.00"))
    assert_audit_clean(fault_stack)


def test_workers_killed_and_restarted_while_they_race(fault_stack: Stack) -> None:
    fault_stack.start_worker("steady")
    fault_stack.start_worker("flaky")
    client = Api(fault_stack.start_web())
    fault_stack.wait_healthy()
    numbers = [client.open_account("100.00") for _ in range(40)]
    batches = [
        (submit(client, ops), ops)
        for ops in (random_operations(numbers, 2000, seed=20 + i, largest=20) for i in range(4))
    ]
    rng = random.Random(3)
    for round_number in range(4):
        name = "flaky" if round_number % 2 == 0 else "steady"
        time.sleep(rng.uniform(0.3, 1.0))
        fault_stack.kill_worker(name)
        for _ in range(5):
            number = rng.choice(numbers)
            client.post(
                f"/accounts/{number}/deposit",
                json={"amount": 1},
                headers={"Prefer": "respond-async"},
            )
        fault_stack.start_worker(name)
    for batch_id, _ in batches:
        wait_completed(client, batch_id, timeout=120)
    wait_until(lambda: counts(fault_stack).get("queued", 0) == 0, 60, "the single requests")
    assert_audit_clean(fault_stack)


def test_a_live_worker_takes_over_a_killed_workers_partitions(fault_stack: Stack) -> None:
    survivor = fault_stack.start_worker("survivor")
    victim = fault_stack.start_worker("victim")
    client = Api(fault_stack.start_web())
    fault_stack.wait_healthy()
    victim_identity = f"{socket.gethostname()}:{victim.pid}"
    survivor_identity = f"{socket.gethostname()}:{survivor.pid}"
    wait_until(
        lambda: victim_identity in fault_stack.lease_owners().values(), 30, "a share for both"
    )
    fault_stack.kill_worker("victim")
    numbers = [client.open_account("100.00") for _ in range(12)]
    started = time.monotonic()
    for number in numbers:  # spread over every partition, the dead worker's included
        response = client.post(
            f"/accounts/{number}/deposit", json={"amount": 1}, headers={"Prefer": "wait=20"}
        )
        assert response.status_code == 200, response.text
    assert time.monotonic() - started < 20
    assert set(fault_stack.lease_owners().values()) == {survivor_identity}
    assert len(fault_stack.lease_owners()) == 4
    assert_audit_clean(fault_stack)
