"""Atomic batches against the running stack (two workers, eight partitions): all of a batch
or nothing, in array order, each account's operations after those accepted before it."""

from __future__ import annotations

import itertools

import pytest

from shared.partitioning import partition_of
from tests.conftest import Api
from tests.e2e.test_batches import all_results, wait_completed
from tests.e2e.test_validation_errors import assert_error


def submit_atomic(client: Api, operations: list[dict]) -> str:
    response = client.post("/batches", json={"operations": operations, "atomic": True})
    assert response.status_code == 202, response.text
    return response.json()["data"]["batch_id"]


def spread_accounts(new_account, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Accounts, at least one in each of four partitions (of the stack's eight)."""
    numbers = [new_account("0") for _ in range(count)]
    while len({partition_of(n, 8) for n in numbers}) < 4:
        numbers.append(new_account("0"))
    return numbers


def test_an_atomic_batch_applies_in_array_order_across_partitions(client: Api, new_account) -> None:
    """A chain of transfers through accounts of several partitions (and so of both
    workers): each leg can pay only what the one before brought it."""
    numbers = spread_accounts(new_account, 6)
    first = numbers[0]
    assert client.post(f"/accounts/{first}/deposit", json={"amount": "10.00"}).status_code == 200
    chain = [
        {"account_number": a, "type": "transfer", "to_account": b, "amount": "10.00"}
        for a, b in itertools.pairwise(numbers)
    ]
    last = numbers[-1]
    operations = [*chain, {"account_number": last, "type": "withdraw", "amount": "10.00"}]
    batch_id = submit_atomic(client, operations)
    view = wait_completed(client, batch_id)
    assert (view["atomic"], view["succeeded"], view["failed"]) == (True, len(operations), 0)
    results = all_results(client, batch_id)
    assert [r["status"] for r in results] == ["succeeded"] * len(operations)
    assert all(client.balance(n) == 0.0 for n in numbers)
    job = client.get(f"/jobs/{results[-1]['job_id']}").json()["data"]
    assert (job["status"], job["result"]["new_balance"]) == ("succeeded", 0)


def test_one_failure_moves_no_money_and_names_the_first(client: Api, new_account) -> None:
    payer, payee = new_account("50.00"), new_account("0")
    operations = [
        {"account_number": payer, "type": "transfer", "to_account": payee, "amount": "20.00"},
        {"account_number": payee, "type": "withdraw", "amount": "5.00"},
        {"account_number": payer, "type": "withdraw", "amount": "40.00"},  # 30.00 left
        {"account_number": "31415926", "type": "deposit", "amount": "1.00"},  # unknown
    ]
    batch_id = submit_atomic(client, operations)
    view = wait_completed(client, batch_id)
    assert (view["atomic"], view["succeeded"], view["failed"]) == (True, 0, 4)
    results = all_results(client, batch_id)
    assert [(r["status"], r["error"]["type"]) for r in results] == [
        ("failed", "batch_aborted"),
        ("failed", "batch_aborted"),
        ("failed", "insufficient_funds"),
        ("failed", "batch_aborted"),
    ]
    assert "operation 2 failed" in results[0]["error"]["message"]
    assert (client.balance(payer), client.balance(payee)) == (50.0, 0.0)
    assert client.history(payee) == []


def test_an_unknown_account_fails_the_batch_at_apply(client: Api, new_account) -> None:
    number = new_account("5.00")
    operations = [
        {"account_number": number, "type": "withdraw", "amount": "1.00"},
        {"account_number": "27182818", "type": "deposit", "amount": "1.00"},
    ]
    batch_id = submit_atomic(client, operations)
    wait_completed(client, batch_id)
    errors = [r["error"]["type"] for r in all_results(client, batch_id)]
    assert errors == ["batch_aborted", "account_not_found"]
    assert client.balance(number) == 5.0


def test_it_comes_after_what_was_accepted_before_on_each_account(client: Api, new_account) -> None:
    """Deposits accepted (202, not yet applied) before the batch on its accounts are what
    its withdrawals take; a withdrawal accepted after it finds the money gone."""
    numbers = spread_accounts(new_account, 4)
    for number in numbers:
        response = client.post(
            f"/accounts/{number}/deposit",
            json={"amount": "3.00"},
            headers={"Prefer": "respond-async"},
        )
        assert response.status_code in (200, 202), response.text
    batch_id = submit_atomic(
        client, [{"account_number": n, "type": "withdraw", "amount": "3.00"} for n in numbers]
    )
    late = client.post(f"/accounts/{numbers[0]}/withdraw", json={"amount": "0.01"})
    assert_error(late, 400, "insufficient_funds")
    view = wait_completed(client, batch_id)
    assert view["succeeded"] == len(numbers)


def test_plain_batches_say_they_are_not_atomic(client: Api, new_account) -> None:
    number = new_account("5.00")
    operations = [
        {"account_number": number, "type": "withdraw", "amount": "1.00"},
        {"account_number": number, "type": "withdraw", "amount": "100.00"},
    ]
    response = client.post("/batches", json={"operations": operations, "atomic": False})
    assert response.status_code == 202, response.text
    view = wait_completed(client, response.json()["data"]["batch_id"])
    assert (view["atomic"], view["succeeded"], view["failed"]) == (False, 1, 1)
    assert client.balance(number) == 4.0
    listed = client.get("/batches", params={"limit": 1}).json()["data"]["batches"]
    assert "atomic" in listed[0]


@pytest.mark.parametrize(
    ("atomic", "size", "message"),
    [
        ("yes", 1, "true or false"),
        (1, 1, "true or false"),
        (None, 1, "true or false"),
        (True, 1001, "an atomic batch holds 1 to 1000 operations"),
    ],
)
def test_a_bad_atomic_batch_is_refused_whole(
    client: Api, new_account, atomic: object, size: int, message: str
) -> None:
    number = new_account("5.00")
    operations = [{"account_number": number, "type": "withdraw", "amount": "0.01"}] * size
    body = {"operations": operations, "atomic": atomic}
    error = assert_error(client.post("/batches", json=body), 400, "invalid_batch")
    assert message in error["error"]["message"]
    assert client.balance(number) == 5.0


def test_the_largest_atomic_batch_is_taken(client: Api, new_account) -> None:
    numbers = spread_accounts(new_account, 8)
    operations = [
        {"account_number": numbers[i % len(numbers)], "type": "deposit", "amount": "0.01"}
        for i in range(1000)
    ]
    view = wait_completed(client, submit_atomic(client, operations))
    assert view["succeeded"] == 1000
    assert round(sum(client.balance(n) for n in numbers), 2) == 10.0
