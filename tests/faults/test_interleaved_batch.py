"""A batch of 10,000 over every partition, single operations on the same accounts from 16
threads (waiting and not), and the worker killed twice: each account's operations are
applied once, in the order they were accepted."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from sqlalchemy import create_engine, text

from shared.partitioning import partition_of
from tests.conftest import Api
from tests.e2e.test_batches import all_results, random_operations, wait_completed
from tests.faults.support import assert_audit_clean, counts
from tests.stack import Stack, wait_until

THREADS = 16


@dataclass(frozen=True)
class Single:
    thread: int
    sequence: int  # the order the thread sent it in
    account: str
    before_batch: bool  # answered before the batch was sent
    after_batch: bool  # sent after the batch was accepted


def test_a_batch_and_single_operations_interleaved_through_two_kills(fault_stack: Stack) -> None:
    client = Api(fault_stack.start_service("first"))
    wait_until(lambda: len(fault_stack.lease_owners()) == 4, 20, "one owner of every partition")
    numbers = [client.open_account("1000.00") for _ in range(32)]
    assert {partition_of(number, 4) for number in numbers} == {0, 1, 2, 3}
    operations = random_operations(numbers, 10_000, seed=31, largest=30)
    singles: dict[str, Single] = {}
    failures: list[str] = []
    record = threading.Lock()
    batch_sent, batch_accepted, stop = threading.Event(), threading.Event(), threading.Event()

    def send_singles(thread: int) -> None:
        api, rng = client.clone(), random.Random(thread)
        for sequence in range(10**6):
            if stop.is_set():
                return
            number = rng.choice(numbers)
            after = batch_accepted.is_set()
            headers = {} if rng.random() < 0.5 else {"Prefer": "respond-async"}
            kind = rng.choice(["deposit", "withdraw"])
            response = api.post(
                f"/accounts/{number}/{kind}", json={"amount": "0.25"}, headers=headers
            )
            before = not batch_sent.is_set()
            if response.status_code not in (200, 202):
                with record:
                    failures.append(response.text)
                return
            job_id = response.json()["data"]["job_id"]
            with record:
                singles[job_id] = Single(thread, sequence, number, before, after)

    threads = [threading.Thread(target=send_singles, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(singles) >= 50, 30, "single operations before the batch")
    batch_sent.set()
    response = client.post("/batches", json={"operations": operations})
    assert response.status_code == 202, response.text
    batch_id = response.json()["data"]["batch_id"]
    batch_accepted.set()

    def applied_of_batch() -> int:
        data = client.get(f"/batches/{batch_id}").json()["data"]
        return data["succeeded"] + data["failed"]

    for victim, successor, past in (("first", "second", 1500), ("second", "third", 5000)):
        wait_until(lambda past=past: applied_of_batch() >= past, 60, f"{past} applied")
        fault_stack.kill_worker(victim)
        assert applied_of_batch() < len(operations), "the batch finished before the kill"
        time.sleep(0.5)  # singles keep arriving while nobody applies
        fault_stack.start_worker(successor)
    wait_completed(client, batch_id, timeout=180)
    time.sleep(0.5)  # singles accepted after the batch, some applied after its last operation
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures[:3]
    wait_until(lambda: counts(fault_stack).get("queued", 0) == 0, 60, "the single operations")

    results = all_results(client, batch_id)
    assert [r["index"] for r in results] == list(range(len(operations)))
    assert all(r["status"] in ("succeeded", "failed") for r in results)
    batch_jobs = {r["job_id"]: r["index"] for r in results}
    assert any(s.before_batch for s in singles.values())
    assert any(s.after_batch for s in singles.values())

    engine = create_engine(fault_stack.env["DATABASE_URL"])
    with engine.connect() as connection:
        entries = connection.execute(
            text(
                "SELECT account_number, job_id FROM transactions"
                " WHERE job_id IS NOT NULL ORDER BY id"  # not the openings
            )
        ).all()
        statuses = dict(connection.execute(text("SELECT job_id, status FROM jobs")).all())
    engine.dispose()
    assert all(statuses.get(job_id) in ("succeeded", "failed") for job_id in singles)
    moved = [job_id for _, job_id in entries]
    assert len(moved) == len(set(moved)), "a job moved money twice"
    succeeded_singles = {j for j in singles if statuses[j] == "succeeded"}
    assert succeeded_singles <= set(moved), "an accepted operation was lost"

    by_account: dict[str, list[str]] = {}
    for number, job_id in entries:
        by_account.setdefault(number, []).append(job_id)
    for number in numbers:
        order = by_account[number]
        batch_positions = [p for p, j in enumerate(order) if j in batch_jobs]
        indexes = [batch_jobs[order[p]] for p in batch_positions]
        assert indexes == sorted(indexes), f"{number}: the batch out of array order"
        first, last = min(batch_positions), max(batch_positions)
        last_sent: dict[int, int] = {}
        for position, job_id in enumerate(order):
            single = singles.get(job_id)
            if single is None:
                continue
            if single.before_batch:
                assert position < first, f"{number}: {job_id}, accepted before, applied after"
            if single.after_batch:
                assert position > last, f"{number}: {job_id}, accepted after, applied before"
            assert single.sequence > last_sent.get(single.thread, -1), f"{number}: {job_id}"
            last_sent[single.thread] = single.sequence
    assert_audit_clean(fault_stack)
