"""kill -9 and a Redis flush in the middle of a batch of transfers while holds are placed:
every accepted operation is applied exactly once and the audit is clean."""

from __future__ import annotations

import random
from decimal import Decimal

from tests.conftest import Api
from tests.e2e.test_batches import all_results, submit, wait_completed
from tests.faults.support import assert_audit_clean, counts
from tests.stack import Stack, wait_until


def test_kill_9_and_a_redis_flush_amid_transfers_and_holds(fault_stack: Stack) -> None:
    client = Api(fault_stack.start_service("first"))
    wait_until(lambda: len(fault_stack.lease_owners()) == 4, 20, "the worker to own partitions")
    numbers = [client.open_account("100.00") for _ in range(20)]
    rng = random.Random(21)
    operations = []
    for _ in range(6000):
        source, destination = rng.sample(numbers, 2)
        kind = rng.choice(["transfer", "transfer", "deposit", "withdraw"])
        operation = {"account_number": source, "type": kind, "amount": rng.randint(1, 20)}
        if kind == "transfer":
            operation["to_account"] = destination
        operations.append(operation)
    batch_id = submit(client, operations)
    wait_until(lambda: counts(fault_stack).get("succeeded", 0) >= 300, 30, "the batch to start")

    async_wait = {"Prefer": "respond-async"}
    hold_jobs = [
        client.post(f"/accounts/{number}/holds", json={"amount": 5}, headers=async_wait).json()[
            "data"
        ]["job_id"]
        for number in numbers
    ]
    fault_stack.kill_worker("first")
    fault_stack.redis.flushdb()  # doorbells, queued messages and leases all gone
    assert counts(fault_stack).get("queued", 0) > 0, "the worker finished before it was killed"
    fault_stack.start_worker("second")
    wait_completed(client, batch_id, timeout=120)

    holds = []
    for job_id in hold_jobs:
        job = client.get(f"/jobs/{job_id}", headers={"Prefer": "wait=30"}).json()["data"]
        assert job["status"] in ("succeeded", "failed"), job
        if job["status"] == "succeeded":
            holds.append(job["hold_id"])
    captured = Decimal(0)
    for index, hold_id in enumerate(holds):
        action = "capture" if index % 2 else "void"
        response = client.post(f"/holds/{hold_id}/{action}")
        assert response.status_code == 200, response.text
        captured += Decimal(5) if action == "capture" else 0

    moved = Decimal(0)
    for sent, result in zip(operations, all_results(client, batch_id), strict=True):
        if result["status"] == "succeeded" and sent["type"] != "transfer":
            sign = 1 if sent["type"] == "deposit" else -1
            moved += sign * Decimal(sent["amount"])
    total = sum(Decimal(str(client.balance(number))) for number in numbers)
    assert total == Decimal("2000.00") + moved - captured
    assert_audit_clean(fault_stack)
