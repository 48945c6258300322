"""Transfers across partitions owned by different workers, in both directions at once, on
SQLite and on PostgreSQL: no deadlock, no lost update, the sum of all balances unchanged;
and of concurrent reversals of one transfer, exactly one succeeds."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from shared.config.settings import load_settings
from shared.ledger.audit import run_audit
from shared.partitioning import partition_of
from shared.store.db import Database
from tests.conftest import Api
from tests.postgres import fresh_postgres_database
from tests.stack import RedisServer, Stack, wait_until

PARTITIONS = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def two_worker_stack(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer
) -> Iterator[Stack]:
    def run(**env: str) -> Iterator[Stack]:
        stack = Stack(tmp_path, redis_server.url.replace("/0", "/6"), **env)
        stack.redis.flushdb()
        try:
            stack.start_service("first", "second")
            wait_until(
                lambda: (
                    len(stack.lease_owners()) == PARTITIONS
                    and len(set(stack.lease_owners().values())) == 2
                ),
                30,
                "both workers to own partitions",
            )
            yield stack
        finally:
            stack.stop()

    if request.param == "postgresql":
        with fresh_postgres_database("atm_transfers") as url:
            yield from run(DATABASE_URL=url)
    else:
        yield from run()


def accounts_on_both_workers(client: Api, stack: Stack, count: int) -> list[str]:
    """`count` new accounts, alternating between the two workers' partitions."""
    owners = stack.lease_owners()
    by_owner: dict[str, list[str]] = {owner: [] for owner in set(owners.values())}
    while min(map(len, by_owner.values())) < count // 2 + 1:
        number = client.open_account("1000.00")
        by_owner[owners[partition_of(number, PARTITIONS)]].append(number)
    first, second = by_owner.values()
    return [n for pair in zip(first, second, strict=False) for n in pair][:count]


def test_concurrent_transfers_in_both_directions(two_worker_stack: Stack) -> None:
    client = Api(two_worker_stack.base_url)
    numbers = accounts_on_both_workers(client, two_worker_stack, 4)
    total_before = sum(client.balance(n) for n in numbers)
    pairs = [(a, b) for a, b in itertools.permutations(numbers, 2)]

    def transfers(seed: int) -> Counter:
        rng, seen = random.Random(seed), Counter()
        with requests.Session() as http:
            for _ in range(25):
                source, destination = rng.choice(pairs)
                body = {
                    "from_account": source,
                    "to_account": destination,
                    "amount": f"{rng.randint(1, 400)}.{rng.randint(0, 99):02d}",
                }
                response = http.post(client.url("/transfers"), json=body, timeout=60)
                seen[(response.status_code, response.json().get("error", {}).get("type"))] += 1
        return seen

    def batches(seed: int) -> Counter:
        rng = random.Random(seed)
        operations = []
        for _ in range(200):
            source, destination = rng.choice(pairs)
            operations.append(
                {
                    "account_number": source,
                    "type": "transfer",
                    "to_account": destination,
                    "amount": rng.randint(1, 50),
                }
            )
        batch = client.post("/batches", json={"operations": operations}).json()["data"]
        status = client.get(batch["status_url"], headers={"Prefer": "wait=60"}).json()["data"]
        assert status["status"] == "completed", status
        return Counter({("batch", "completed"): 1})

    with ThreadPoolExecutor(max_workers=18) as pool:
        results = list(pool.map(transfers, range(16))) + list(pool.map(batches, range(2)))
    seen = sum(results, Counter())
    assert set(seen) <= {(200, None), (400, "insufficient_funds"), ("batch", "completed")}, seen
    assert seen[(200, None)] > 100, seen
    assert sum(client.balance(n) for n in numbers) == pytest.approx(total_before, abs=1e-9)

    # Of many concurrent reversals of one transfer across the two workers, exactly one wins.
    # The richest account pays (the random transfers may have left any one of them with less
    # than the amount), to its neighbour, which the other worker owns.
    richest = max(range(len(numbers)), key=lambda i: client.balance(numbers[i]))
    source, destination = numbers[richest], numbers[richest ^ 1]
    answer = client.post(
        "/transfers", json={"from_account": source, "to_account": destination, "amount": 1}
    )
    assert answer.status_code == 200, answer.text
    moved = answer.json()["data"]

    def reverse(_: int) -> int:
        with requests.Session() as http:
            url = client.url(f"/jobs/{moved['job_id']}/reverse")
            return http.post(url, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(pool.map(reverse, range(32)))
    assert statuses[200] == 1 and set(statuses) == {200, 409}, statuses
    assert sum(client.balance(n) for n in numbers) == pytest.approx(total_before, abs=1e-9)

    database = Database(load_settings({"DATABASE_URL": two_worker_stack.env["DATABASE_URL"]}))
    with database.read.begin() as session:
        report = run_audit(session, stale_after_seconds=3600)
    database.engine.dispose()
    assert report.clean, report.findings
