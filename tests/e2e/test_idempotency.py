"""Idempotency keys: a replay answers from the original work and applies nothing again."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import Api
from tests.e2e.test_batches import wait_completed
from tests.e2e.test_validation_errors import assert_error


def key() -> str:
    return f"test-{uuid.uuid4()}"


def test_replayed_withdrawal_returns_the_same_job_and_moves_money_once(
    client: Api, new_account
) -> None:
    number = new_account("100.00")
    headers = {"Idempotency-Key": key()}
    first = client.post(f"/accounts/{number}/withdraw", json={"amount": 30}, headers=headers)
    again = client.post(f"/accounts/{number}/withdraw", json={"amount": 30}, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["data"] == first.json()["data"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert client.balance(number) == 70.0


def test_replayed_failure_is_the_same_failure(client: Api, new_account) -> None:
    number = new_account("1.00")
    headers = {"Idempotency-Key": key()}
    first = client.post(f"/accounts/{number}/withdraw", json={"amount": 5}, headers=headers)
    client.post(f"/accounts/{number}/deposit", json={"amount": 10})
    again = client.post(f"/accounts/{number}/withdraw", json={"amount": 5}, headers=headers)
    assert first.status_code == again.status_code == 400
    assert again.json()["error"]["job_id"] == first.json()["error"]["job_id"]
    assert client.balance(number) == 11.0


def test_async_replay_gets_the_same_job(client: Api, new_account) -> None:
    number = new_account("10.00")
    headers = {"Idempotency-Key": key(), "Prefer": "respond-async"}
    first = client.post(f"/accounts/{number}/deposit", json={"amount": 1}, headers=headers)
    again = client.post(f"/accounts/{number}/deposit", json={"amount": 1}, headers=headers)
    assert first.status_code == 202
    assert again.status_code in (200, 202)
    job_id = first.json()["data"]["job_id"]
    assert (again.json()["data"].get("job_id")) == job_id
    client.get(f"/jobs/{job_id}", headers={"Prefer": "wait=10"})
    assert client.balance(number) == 11.0


def test_same_key_with_another_body_is_422(client: Api, new_account) -> None:
    number = new_account("10.00")
    headers = {"Idempotency-Key": key()}
    assert client.post(f"/accounts/{number}/deposit", json={"amount": 1}, headers=headers).ok
    reused = client.post(f"/accounts/{number}/deposit", json={"amount": 2}, headers=headers)
    assert_error(reused, 422, "idempotency_key_reused")
    elsewhere = client.post(f"/accounts/{number}/withdraw", json={"amount": 1}, headers=headers)
    assert_error(elsewhere, 422, "idempotency_key_reused")
    assert client.balance(number) == 11.0


def test_16_concurrent_replays_apply_once(client: Api, new_account) -> None:
    number = new_account("100.00")
    shared_key = key()
    url = client.url(f"/accounts/{number}/withdraw")

    def withdraw(_: int) -> tuple[int, str]:
        with client.clone().http as http:
            response = http.post(
                url, json={"amount": 10}, headers={"Idempotency-Key": shared_key}, timeout=60
            )
        return response.status_code, response.json()["data"]["job_id"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(withdraw, range(16)))
    assert {status for status, _ in results} == {200}
    assert len({job_id for _, job_id in results}) == 1
    assert client.balance(number) == 90.0
    assert len(client.history(number)) == 2


def test_batch_and_account_creation_replay(client: Api, new_account) -> None:
    number = new_account("10.00")
    operations = {"operations": [{"account_number": number, "type": "deposit", "amount": 5}]}
    headers = {"Idempotency-Key": key()}
    first = client.post("/batches", json=operations, headers=headers)
    again = client.post("/batches", json=operations, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["data"] == first.json()["data"]
    assert again.headers["Location"] == first.headers["Location"]
    wait_completed(client, first.json()["data"]["batch_id"])
    assert client.balance(number) == 15.0

    body = {"initial_balance": "3.00"}
    headers = {"Idempotency-Key": key()}
    created = client.post("/accounts", json=body, headers=headers)
    repeated = client.post("/accounts", json=body, headers=headers)
    assert created.status_code == repeated.status_code == 201
    assert repeated.json()["data"] == created.json()["data"]
    assert_error(
        client.post("/accounts", json={"initial_balance": "4.00"}, headers=headers),
        422,
        "idempotency_key_reused",
    )


def test_malformed_keys_are_refused(client: Api) -> None:
    for bad in ("x" * 256, "tab\there", "é"):
        response = client.post(
            "/accounts/10002/deposit",
            json={"amount": 1},
            headers={"Idempotency-Key": bad.encode("utf-8")},
        )
        assert_error(response, 400, "invalid_idempotency_key")
