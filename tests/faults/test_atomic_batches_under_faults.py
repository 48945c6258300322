"""Atomic batches of transfers (1,000 in all) over accounts of every partition, owned by two
workers, with single operations on the same accounts from 8 threads, and one worker killed
with SIGKILL: each batch applied whole or not at all, once, and in each account's order."""

from __future__ import annotations

import itertools
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import create_engine, text

from shared.partitioning import partition_of
from tests.conftest import Api
from tests.e2e.test_batches import all_results, wait_completed
from tests.faults.support import assert_audit_clean, counts
from tests.stack import Stack, wait_until

THREADS = 8
BATCHES, TRANSFERS = 40, 25


@dataclass(frozen=True)
class Sent:
    """When a request was sent and answered, on one clock shared by every thread."""

    sent: int
    answered: int


def test_atomic_batches_with_single_operations_through_a_kill(fault_stack: Stack) -> None:
    client = Api(fault_stack.start_service("first", "second"))
    wait_until(lambda: len(set(fault_stack.lease_owners().values())) == 2, 30, "two owners")
    numbers = _accounts_of_every_partition(client, "100.00")
    clock = itertools.count()
    singles: dict[str, tuple[str, Sent]] = {}
    batches: dict[str, Sent] = {}
    failures: list[str] = []
    record = threading.Lock()
    stop = threading.Event()

    def send_singles(thread: int) -> None:
        api, rng = client.clone(), random.Random(thread)
        while not stop.is_set():
            number = rng.choice(numbers)
            headers = {} if rng.random() < 0.5 else {"Prefer": "respond-async"}
            kind = rng.choice(["deposit", "withdraw"])
            sent = next(clock)
            response = api.post(
                f"/accounts/{number}/{kind}", json={"amount": "0.25"}, headers=headers
            )
            answered = next(clock)
            if response.status_code not in (200, 202, 400):
                with record:
                    failures.append(response.text)
                return
            if response.status_code != 400:
                with record:
                    singles[response.json()["data"]["job_id"]] = (number, Sent(sent, answered))

    def send_batches() -> None:
        api, rng = client.clone(), random.Random(99)
        for batch in range(BATCHES):
            operations = []
            for _ in range(TRANSFERS):
                source, destination = rng.sample(numbers, 2)
                amount = f"{rng.randint(1, 500) / 100:.2f}"
                operations.append(
                    {
                        "account_number": source,
                        "type": "transfer",
                        "to_account": destination,
                        "amount": amount,
                    }
                )
            if batch % 5 == 4:  # one that cannot succeed, at a random place
                operations[rng.randrange(TRANSFERS)]["amount"] = "10000.00"
            sent = next(clock)
            response = api.post("/batches", json={"operations": operations, "atomic": True})
            answered = next(clock)
            if response.status_code != 202:
                with record:
                    failures.append(response.text)
                return
            with record:
                batches[response.json()["data"]["batch_id"]] = Sent(sent, answered)
            time.sleep(0.1)  # a stream over about four seconds, for the kill to land in

    threads = [threading.Thread(target=send_singles, args=(t,)) for t in range(THREADS)]
    threads.append(threading.Thread(target=send_batches))
    for thread in threads:
        thread.start()

    def completed() -> int:
        with record:
            ids = list(batches)
        return sum(
            client.get(f"/batches/{batch_id}").json()["data"]["status"] == "completed"
            for batch_id in ids
        )

    wait_until(lambda: completed() >= 10, 60, "ten atomic batches applied")
    fault_stack.kill_worker("first")
    assert completed() < BATCHES, "every batch was applied before the kill"
    fault_stack.start_worker("third")
    threads[-1].join(timeout=120)
    assert len(batches) == BATCHES, failures[:3]
    for batch_id in batches:
        wait_completed(client, batch_id, timeout=120)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures[:3]
    wait_until(lambda: counts(fault_stack).get("queued", 0) == 0, 60, "the single operations")

    results = {batch_id: all_results(client, batch_id) for batch_id in batches}
    succeeded = set()
    for batch_id, of_batch in results.items():
        statuses = {r["status"] for r in of_batch}
        errors = [r["error"]["type"] for r in of_batch if r["status"] == "failed"]
        if statuses == {"succeeded"}:
            succeeded.add(batch_id)
        else:
            assert statuses == {"failed"}, f"{batch_id} partly applied"
            assert len(errors) - errors.count("batch_aborted") == 1, errors
    assert 0 < len(succeeded) < BATCHES
    operation_of = {r["job_id"]: (b, r["index"]) for b, rs in results.items() for r in rs}

    engine = create_engine(fault_stack.env["DATABASE_URL"])
    with engine.connect() as connection:
        entries = connection.execute(
            text(
                "SELECT account_number, job_id FROM transactions"
                " WHERE job_id IS NOT NULL ORDER BY id"
            )
        ).all()
    engine.dispose()
    moved: dict[str, int] = {}
    by_account: dict[str, list[str]] = {}
    for number, job_id in entries:
        moved[job_id] = moved.get(job_id, 0) + 1
        by_account.setdefault(number, []).append(job_id)
    for job_id, (batch_id, _) in operation_of.items():
        assert moved.get(job_id, 0) == (2 if batch_id in succeeded else 0), job_id
    assert all(count == 1 for job_id, count in moved.items() if job_id in singles)

    # Each account's order: an atomic batch's operations in array order, after every single
    # operation answered before the batch was sent, before every one sent after its 202.
    for number in numbers:
        order = by_account[number]
        for batch_id in succeeded:
            places = [
                p
                for p, job_id in enumerate(order)
                if operation_of.get(job_id, ("",))[0] == batch_id
            ]
            if not places:
                continue
            indexes = [operation_of[order[p]][1] for p in places]
            assert indexes == sorted(indexes), f"{number}: {batch_id} out of array order"
            first, last = places[0], places[-1]
            for position, job_id in enumerate(order):
                if job_id not in singles:
                    continue
                sent = singles[job_id][1]
                if sent.answered < batches[batch_id].sent:
                    assert position < first, f"{number}: {job_id} accepted before, applied after"
                if sent.sent > batches[batch_id].answered:
                    assert position > last, f"{number}: {job_id} accepted after, applied before"
    assert_audit_clean(fault_stack)


def test_an_atomic_batch_of_1000_transfers_through_a_kill(fault_stack: Stack) -> None:
    """One batch of 1,000 transfers among accounts of two workers, waiting behind 10,000
    queued deposits in a partition of the worker then killed (it applies 100 a
    transaction): applied whole, once; then the same with one transfer that cannot
    succeed: nothing of it applied."""
    client = Api(fault_stack.start_service("first", "second"))
    wait_until(lambda: len(set(fault_stack.lease_owners().values())) == 2, 30, "two owners")
    numbers = _accounts_of_every_partition(client, "50.00")
    rng = random.Random(7)
    transfers = []
    for _ in range(1000):
        source, destination = rng.sample(numbers, 2)
        transfers.append(
            {
                "account_number": source,
                "type": "transfer",
                "to_account": destination,
                "amount": "0.10",
            }
        )
    successors = iter(["third", "fourth"])
    for broken in (False, True):
        names = {f"{socket.gethostname()}:{p.pid}": n for n, p in fault_stack.workers.items()}
        wait_until(lambda names=names: _owned_by(fault_stack, names), 30, "live owners")
        busy = numbers[0]
        victim = names[fault_stack.lease_owners()[partition_of(busy, 4)]]
        operations = [dict(t) for t in transfers]
        if broken:
            operations[617]["amount"] = "100000.00"
        others = numbers[1:]
        before = {n: client.balance(n) for n in others}  # read first: the kill must come soon
        # Work ahead of the batch in the victim's partition, 100 a transaction.
        ahead = [{"account_number": busy, "type": "deposit", "amount": "0.01"}] * 10_000
        response = client.post("/batches", json={"operations": ahead})
        assert response.status_code == 202, response.text
        response = client.post("/batches", json={"operations": operations, "atomic": True})
        assert response.status_code == 202, response.text
        batch_id = response.json()["data"]["batch_id"]
        fault_stack.kill_worker(victim)
        view = client.get(f"/batches/{batch_id}").json()["data"]
        assert view["status"] == "pending", "the batch was applied before the kill"
        fault_stack.start_worker(next(successors))
        view = wait_completed(client, batch_id, timeout=120)
        results = all_results(client, batch_id)
        if broken:
            assert view["failed"] == 1000
            errors = Counter(r["error"]["type"] for r in results)
            assert errors == {"batch_aborted": 999, "insufficient_funds": 1}
            assert {n: client.balance(n) for n in others} == before
        else:
            assert view["succeeded"] == 1000
            assert {r["status"] for r in results} == {"succeeded"}
        wait_until(lambda: counts(fault_stack).get("queued", 0) == 0, 60, "the deposits")
    assert_audit_clean(fault_stack)


def _owned_by(stack: Stack, names: dict[str, str]) -> bool:
    """Whether every partition is held, and only by the workers `names` knows."""
    owners = stack.lease_owners()
    return len(owners) == 4 and set(owners.values()) <= set(names)


def _accounts_of_every_partition(client: Api, balance: str) -> list[str]:
    """16 accounts or more, with one or more in each of the 4 partitions (numbers are
    random)."""
    numbers = [client.open_account(balance) for _ in range(16)]
    while {partition_of(number, 4) for number in numbers} != {0, 1, 2, 3}:
        numbers.append(client.open_account(balance))
    return numbers
