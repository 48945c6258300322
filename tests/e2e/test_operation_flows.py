"""Synchronous, asynchronous and long-poll flows, failed jobs, and the ledger they leave."""

from __future__ import annotations

import time

from tests.conftest import Api


def test_synchronous_withdraw_reports_the_applied_operation(client: Api, new_account) -> None:
    number = new_account("100.00")
    response = client.post(f"/accounts/{number}/withdraw", json={"amount": "40.25"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["account_number"] == number
    assert data["new_balance"] == 59.75
    assert data["amount"] == 40.25
    assert data["type"] == "withdraw"
    assert isinstance(data["transaction_id"], int)
    assert "Preference-Applied" not in response.headers
    assert client.balance(number) == 59.75

    job = client.get(f"/jobs/{data['job_id']}").json()["data"]
    assert job["status"] == "succeeded"
    assert job["result"] == {"new_balance": 59.75}
    assert job["error"] is None
    assert job["created_at"].endswith("Z") and job["completed_at"].endswith("Z")


def test_insufficient_funds_is_400_and_the_job_reports_failed(client: Api, new_account) -> None:
    number = new_account("10.00")
    response = client.post(f"/accounts/{number}/withdraw", json={"amount": 10.01})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"]["type"] == "insufficient_funds"
    job = client.get(f"/jobs/{body['error']['job_id']}").json()["data"]
    assert job["status"] == "failed"
    assert job["result"] is None
    assert job["error"]["type"] == "insufficient_funds"
    assert client.balance(number) == 10.0


def test_respond_async_answers_202_and_the_job_can_be_polled(client: Api, new_account) -> None:
    number = new_account("5.00")
    response = client.post(
        f"/accounts/{number}/deposit", json={"amount": 7}, headers={"Prefer": "respond-async"}
    )
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["status"] == "queued"
    assert data["status_url"] == f"/jobs/{data['job_id']}"
    assert response.headers["Location"] == data["status_url"]
    assert response.headers["Retry-After"] == "1"
    assert response.headers["Preference-Applied"] == "respond-async"

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = client.get(data["status_url"]).json()["data"]
        if job["status"] == "succeeded":
            break
        assert job["status"] in ("queued", "processing")
        time.sleep(0.05)
    assert job["status"] == "succeeded", job
    assert job["type"] == "deposit" and job["amount"] == 7.0
    assert job["account_number"] == number
    assert job["result"] == {"new_balance": 12.0}
    assert client.balance(number) == 12.0


def test_long_poll_returns_once_the_job_is_final(client: Api, new_account) -> None:
    number = new_account("5.00")
    accepted = client.post(
        f"/accounts/{number}/withdraw", json={"amount": 6}, headers={"Prefer": "respond-async"}
    ).json()["data"]
    started = time.monotonic()
    response = client.get(f"/jobs/{accepted['job_id']}", headers={"Prefer": "wait=10"})
    assert time.monotonic() - started < 5
    job = response.json()["data"]
    assert job["status"] == "failed"
    assert job["error"]["type"] == "insufficient_funds"
    assert response.headers["Preference-Applied"] == "wait=10"


def test_wait_zero_answers_202(client: Api, new_account) -> None:
    number = new_account("5.00")
    response = client.post(
        f"/accounts/{number}/deposit", json={"amount": 1}, headers={"Prefer": "wait=0"}
    )
    assert response.status_code == 202
    assert response.headers["Preference-Applied"] == "wait=0"
    job_url = response.headers["Location"]
    final = client.get(job_url, headers={"Prefer": "wait=10"}).json()["data"]
    assert final["status"] == "succeeded"


def test_history_lists_movements_newest_first_with_paging(client: Api, new_account) -> None:
    number = new_account("10.00")
    client.post(f"/accounts/{number}/deposit", json={"amount": 5})
    client.post(f"/accounts/{number}/withdraw", json={"amount": 2.5})
    client.post(f"/accounts/{number}/withdraw", json={"amount": 1000})  # fails: not a movement
    history = client.history(number)
    assert [(t["type"], t["amount"], t["balance_after"]) for t in history] == [
        ("withdraw", 2.5, 12.5),
        ("deposit", 5.0, 15.0),
        ("opening", 10.0, 10.0),
    ]
    assert all(t["status"] == "succeeded" for t in history)
    first = client.get(f"/accounts/{number}/transactions", params={"limit": 2}).json()["data"]
    assert len(first["transactions"]) == 2 and first["next_before"] is not None
    rest = client.get(
        f"/accounts/{number}/transactions", params={"limit": 2, "before": first["next_before"]}
    ).json()["data"]
    assert [t["type"] for t in rest["transactions"]] == ["opening"]
    assert rest["next_before"] is None


def test_health_reports_each_check(client: Api) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["database"]["ok"] and data["redis"]["ok"] and data["workers"]["ok"]
    assert data["workers"]["alive"] == 2
