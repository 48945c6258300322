"""The whole stack on PostgreSQL, through the same code: skipped where no PostgreSQL answers."""

from __future__ import annotations

import itertools
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
from tests.e2e.test_batches import all_results, submit, wait_completed
from tests.postgres import fresh_postgres_database
from tests.stack import RedisServer, Stack


@pytest.fixture
def postgres_stack(tmp_path: Path, redis_server: RedisServer) -> Iterator[Stack]:
    with fresh_postgres_database("atm_e2e") as url:
        stack = Stack(tmp_path, redis_server.url.replace("/0", "/5"), DATABASE_URL=url)
        stack.redis.flushdb()
        try:
            stack.start_service("first", "second")
            yield stack
        finally:
            stack.stop()


def test_concurrency_batches_and_audit_on_postgresql(postgres_stack: Stack) -> None:
    client = Api(postgres_stack.base_url)
    assert client.balance("10001") == 5000.0
    url = client.url("/accounts/10001/withdraw")

    def withdraw(_: int) -> int:
        with requests.Session() as http:
            return http.post(url, json={"amount": 100}, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(pool.map(withdraw, range(80)))
    assert statuses == {200: 50, 400: 30}
    assert client.balance("10001") == 0.0

    batch_id = submit(
        client,
        [
            {"account_number": "10002", "type": "withdraw", "amount": "2999.99"},
            {"account_number": "10002", "type": "withdraw", "amount": "0.02"},
            {"account_number": "10003", "type": "deposit", "amount": 1},
        ],
    )
    wait_completed(client, batch_id)
    results = all_results(client, batch_id)
    assert [r["status"] for r in results] == ["succeeded", "failed", "succeeded"]
    assert client.balance("10002") == 0.01

    # Atomic: the accounts are in several partitions, so of both workers.
    numbers = [client.open_account("0") for _ in range(6)]
    assert len({partition_of(n, 8) for n in numbers}) > 1
    deposit = {"account_number": numbers[0], "type": "deposit", "amount": "6.00"}
    chain = [
        {"account_number": a, "type": "transfer", "to_account": b, "amount": "6.00"}
        for a, b in itertools.pairwise(numbers)
    ]
    applied = submit(client, [deposit, *chain], atomic=True)
    aborted = submit(client, [deposit, *chain, {**chain[0], "amount": "0.01"}], atomic=True)
    assert wait_completed(client, applied)["succeeded"] == 6
    assert wait_completed(client, aborted)["failed"] == 7
    assert [client.balance(n) for n in numbers] == [0.0] * 5 + [6.0]

    database = Database(load_settings({"DATABASE_URL": postgres_stack.env["DATABASE_URL"]}))
    with database.read.begin() as session:
        report = run_audit(session, stale_after_seconds=3600)
    database.engine.dispose()
    assert report.clean, report.findings
