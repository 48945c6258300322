"""Real worker processes: one applier per partition, and duplicated wake-ups move money once."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from shared import messaging
from shared.partitioning import owner_queue
from shared.wake_ups import WakeUpMessages
from tests.conftest import Api
from tests.stack import RedisServer, Stack, logs, wait_until


@pytest.fixture
def private_stack(tmp_path: Path, redis_server: RedisServer):  # type: ignore[no-untyped-def]
    """A stack of its own (database file, Redis database 2), started by the test itself."""
    url = redis_server.url.replace("/0", "/2")
    running = Stack(tmp_path, url)
    running.redis.flushdb()
    yield running
    running.stop()
    if os.environ.get("ATM_TEST_SHOW_LOGS"):
        print(logs(tmp_path))


def identity_of(process) -> str:  # type: ignore[no-untyped-def]
    return f"{socket.gethostname()}:{process.pid}"


def rows(stack: Stack, query: str) -> list:
    engine = create_engine(stack.env["DATABASE_URL"])
    with engine.connect() as connection:
        result = list(connection.execute(text(query)))
    engine.dispose()
    return result


def test_two_workers_for_the_same_partitions_never_share_one(private_stack: Stack) -> None:
    first = private_stack.start_worker("first")
    second = private_stack.start_worker("second")
    private_stack.start_web()
    identities = {identity_of(first), identity_of(second)}

    def settled() -> dict[int, str] | None:
        owners = private_stack.lease_owners()
        held = list(owners.values())
        balanced = len(owners) == 4 and all(held.count(i) == 2 for i in identities)
        return owners if balanced else None

    owners = wait_until(settled, 30, "the two workers to hold two partitions each")
    # Each consumes its own queue, whose kombu binding expires once nobody refreshes it.
    for identity in identities:
        assert private_stack.redis.zscore("_kombu.binding_deadlines", owner_queue(identity))
    client = Api(private_stack.base_url)
    accounts = [client.open_account("1000.00") for _ in range(24)]

    def operate(index: int) -> int:
        number = accounts[index % len(accounts)]
        kind = "deposit" if index % 3 else "withdraw"
        return client.http.post(
            client.url(f"/accounts/{number}/{kind}"), json={"amount": 1}, timeout=60
        ).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(operate, range(480)))
    assert statuses == [200] * 480, logs(private_stack.directory)

    appliers: dict[int, set[str]] = defaultdict(set)
    for partition, applied_by in rows(private_stack, "SELECT partition, applied_by FROM jobs"):
        appliers[partition].add(applied_by)
    assert private_stack.lease_owners() == owners, "ownership changed while both were alive"
    assert {p: {owner} for p, owner in owners.items() if p in appliers} == dict(appliers)
    assert {owner for group in appliers.values() for owner in group} == identities


def test_a_late_worker_does_not_apply_partitions_already_owned(private_stack: Stack) -> None:
    first = private_stack.start_worker("first")
    private_stack.start_web()
    wait_until(lambda: len(private_stack.lease_owners()) == 4, 30, "the first worker to own all")
    second = private_stack.start_worker("second")
    # The newcomer gets partitions only when the first hands them over; until then it applies
    # nothing, and afterwards every partition still has exactly one applier at a time.
    wait_until(
        lambda: identity_of(second) in private_stack.lease_owners().values(), 30, "a hand-over"
    )
    client = Api(private_stack.base_url)
    accounts = [client.open_account("100.00") for _ in range(12)]
    for number in accounts:
        assert client.post(f"/accounts/{number}/deposit", json={"amount": 1}).status_code == 200
    owners = private_stack.lease_owners()
    for partition, applied_by in rows(
        private_stack, "SELECT partition, applied_by FROM jobs WHERE status != 'queued'"
    ):
        assert applied_by == owners[partition]
    assert set(owners.values()) == {identity_of(first), identity_of(second)}


def test_duplicated_wake_ups_move_money_once(private_stack: Stack) -> None:
    private_stack.start_web()  # no worker yet: jobs are recorded and wait
    client = Api(private_stack.base_url)
    accounts = [client.open_account("50.00") for _ in range(8)]
    for number in accounts:
        for kind in ("deposit", "withdraw", "deposit"):
            response = client.post(
                f"/accounts/{number}/{kind}",
                json={"amount": 20},
                headers={"Prefer": "respond-async"},
            )
            assert response.status_code == 202
    # While the workers start, take partitions over and drain, every partition's owner is
    # sent wake-ups, several at a time, as a redelivering or duplicating broker would.
    redis_client = redis.Redis.from_url(private_stack.env["REDIS_URL"])
    messages, stop = WakeUpMessages(), threading.Event()

    def duplicate_wake_ups() -> None:
        while not stop.is_set():
            for owner in set(messaging.lease_holders(redis_client, range(4))) - {None}:
                for _ in range(3):
                    messaging.wake_worker(redis_client, owner, messages.message())
            time.sleep(0.005)

    duplicator = threading.Thread(target=duplicate_wake_ups)
    duplicator.start()
    try:
        private_stack.start_worker("first")
        private_stack.start_worker("second")

        def all_final() -> bool:
            return not rows(private_stack, "SELECT 1 FROM jobs WHERE status = 'queued'")

        wait_until(all_final, 30, "every job to be applied")
        time.sleep(1)  # the wake-ups go on reaching both owners after the queues are empty
    finally:
        stop.set()
        duplicator.join(10)
    per_job = rows(
        private_stack,
        "SELECT j.job_id, COUNT(t.id) FROM jobs j LEFT JOIN transactions t ON t.job_id = j.job_id "
        "GROUP BY j.job_id",
    )
    assert len(per_job) == 24 and all(count == 1 for _, count in per_job)
    for number in accounts:
        assert client.balance(number) == 70.0
