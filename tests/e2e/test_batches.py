"""Batches against the running stack: validation, per-operation outcomes, order, paging."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from decimal import Decimal

from tests.conftest import Api
from tests.e2e.test_validation_errors import assert_error


def random_operations(numbers: list[str], count: int, *, seed: int, largest: int) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "account_number": rng.choice(numbers),
            "type": rng.choice(["deposit", "withdraw"]),
            "amount": f"{rng.randint(1, largest)}.{rng.randint(0, 99):02d}",
        }
        for _ in range(count)
    ]


def submit(client: Api, operations: list[dict], *, atomic: bool = False) -> str:
    response = client.post("/batches", json={"operations": operations, "atomic": atomic})
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["total"] == len(operations)
    assert data["status_url"] == f"/batches/{data['batch_id']}"
    assert response.headers["Location"] == data["status_url"]
    return data["batch_id"]


def wait_completed(client: Api, batch_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/batches/{batch_id}", headers={"Prefer": "wait=10"})
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        if data["status"] == "completed":
            return data
    raise AssertionError(f"batch {batch_id} did not complete: {data}")


def all_results(client: Api, batch_id: str, page: int = 1000) -> list[dict]:
    results: list[dict] = []
    offset = 0
    while True:
        data = client.get(
            f"/batches/{batch_id}/results", params={"offset": offset, "limit": page}
        ).json()["data"]
        results.extend(data["results"])
        offset += page
        if offset >= data["total"]:
            return results


def test_batch_outcomes_are_per_operation(client: Api, new_account) -> None:
    number = new_account("10.00")
    batch_id = submit(
        client,
        [
            {"account_number": number, "type": "withdraw", "amount": 4},
            {"account_number": "9" * 20, "type": "deposit", "amount": 1},
            {"account_number": number, "type": "withdraw", "amount": "7.00"},
            {"account_number": number, "type": "deposit", "amount": 0.5},
        ],
    )
    progress = wait_completed(client, batch_id)
    assert progress["total"] == 4 and progress["succeeded"] == 2 and progress["failed"] == 2
    assert progress["queued"] == 0 and progress["processing"] == 0
    assert progress["completed_at"] is not None
    results = all_results(client, batch_id)
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert results[0]["status"] == "succeeded" and results[0]["new_balance"] == 6.0
    assert results[1]["error"]["type"] == "account_not_found"
    assert results[2]["error"]["type"] == "insufficient_funds"
    assert results[3]["new_balance"] == 6.5 and "error" not in results[3]
    assert client.balance(number) == 6.5
    job = client.get(f"/jobs/{results[0]['job_id']}").json()["data"]
    assert job["status"] == "succeeded"


def test_invalid_batch_lists_every_bad_operation_and_records_nothing(
    client: Api, new_account
) -> None:
    number = new_account("10.00")
    response = client.post(
        "/batches",
        json={
            "operations": [
                {"account_number": number, "type": "withdraw", "amount": 1},
                {"account_number": number, "type": "refund", "amount": 1},
                {"account_number": 12, "type": "deposit", "amount": 1},
                {"account_number": number, "type": "deposit", "amount": "0.001"},
                "deposit",
            ]
        },
    )
    body = assert_error(response, 400, "invalid_batch")
    assert [(d["index"], d["type"]) for d in body["error"]["details"]] == [
        (1, "invalid_operation"),
        (2, "invalid_account_number"),
        (3, "invalid_amount"),
        (4, "invalid_operation"),
    ]
    time.sleep(0.3)
    assert client.balance(number) == 10.0
    assert len(client.history(number)) == 1


def test_batch_size_and_shape_limits(client: Api) -> None:
    for body in ({}, {"operations": []}, {"operations": {"a": 1}}):
        assert_error(client.post("/batches", json=body), 400, "invalid_batch")
    too_many = [{"account_number": "1", "type": "deposit", "amount": 1}] * 10_001
    assert_error(client.post("/batches", json={"operations": too_many}), 400, "invalid_batch")
    oversized = json.dumps({"operations": [], "padding": "x" * (2 * 1024 * 1024)})
    response = client.post("/batches", data=oversized, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")


def test_unknown_batch(client: Api) -> None:
    assert_error(client.get("/batches/nope"), 404, "batch_not_found")
    assert_error(client.get("/batches/nope/results"), 404, "batch_not_found")


def test_order_across_singles_and_a_batch_on_one_account(client: Api, new_account) -> None:
    """Each step only succeeds if everything accepted before it was applied first."""
    number = new_account("0")
    first = client.post(
        f"/accounts/{number}/deposit", json={"amount": 10}, headers={"Prefer": "respond-async"}
    )
    batch_id = submit(
        client,
        [
            {"account_number": number, "type": "withdraw", "amount": 10},
            {"account_number": number, "type": "deposit", "amount": 3},
            {"account_number": number, "type": "withdraw", "amount": 3},
            {"account_number": number, "type": "deposit", "amount": 2},
        ],
    )
    last = client.post(
        f"/accounts/{number}/withdraw", json={"amount": 2}, headers={"Prefer": "respond-async"}
    )
    wait_completed(client, batch_id)
    results = all_results(client, batch_id)
    assert [r["new_balance"] for r in results] == [0.0, 3.0, 0.0, 2.0]
    for accepted in (first, last):
        job = client.get(accepted.headers["Location"], headers={"Prefer": "wait=10"}).json()
        assert job["data"]["status"] == "succeeded"
    assert client.balance(number) == 0.0


def test_a_10000_operation_batch_pages_in_submission_order(client: Api, new_account) -> None:
    numbers = [new_account("100.00") for _ in range(20)]
    operations = random_operations(numbers, 10_000, seed=5, largest=300)
    batch_id = submit(client, operations)
    progress = wait_completed(client, batch_id, timeout=120)
    assert progress["succeeded"] + progress["failed"] == 10_000
    results = all_results(client, batch_id, page=1000)
    assert [r["index"] for r in results] == list(range(10_000))
    for sent, result in zip(operations, results, strict=True):
        assert result["account_number"] == sent["account_number"]
        assert result["type"] == sent["type"]
        assert Decimal(str(result["amount"])) == Decimal(sent["amount"])
    # Replaying the operations in array order reproduces every outcome.
    balances = dict.fromkeys(numbers, Decimal("100.00"))
    for sent, result in zip(operations, results, strict=True):
        amount = Decimal(sent["amount"])
        number = sent["account_number"]
        if sent["type"] == "withdraw" and balances[number] < amount:
            assert result["error"]["type"] == "insufficient_funds"
            continue
        balances[number] += amount if sent["type"] == "deposit" else -amount
        assert Decimal(str(result["new_balance"])) == balances[number]


def test_conservation_across_100_accounts(client: Api, new_account) -> None:
    numbers = [new_account("50.00") for _ in range(100)]
    operations = random_operations(numbers, 3000, seed=9, largest=40)
    batch_id = submit(client, operations)
    wait_completed(client, batch_id)
    results = all_results(client, batch_id)
    moved = Decimal(0)
    for result in results:
        if result["status"] == "succeeded":
            amount = Decimal(str(result["amount"]))
            moved += amount if result["type"] == "deposit" else -amount
    balances = {n: Decimal(str(client.balance(n))) for n in numbers}
    assert sum(balances.values()) == Decimal("50.00") * 100 + moved
    for number in numbers:
        ledger = client.history(number)
        total = sum(
            Decimal(str(t["amount"])) * (-1 if t["type"] == "withdraw" else 1) for t in ledger
        )
        assert total == balances[number]
        assert all(Decimal(str(t["balance_after"])) >= 0 for t in ledger)


def test_10000_unknown_accounts_complete_quickly(client: Api) -> None:
    operations = [
        {"account_number": f"7{i:012d}", "type": "deposit", "amount": 1} for i in range(10_000)
    ]
    started = time.monotonic()
    batch_id = submit(client, operations)
    progress = wait_completed(client, batch_id)
    assert progress["failed"] == 10_000
    assert time.monotonic() - started < 30
    errors = Counter(r["error"]["type"] for r in all_results(client, batch_id, page=5000))
    assert errors == {"account_not_found": 10_000}
