"""Holds: placing, reading, capturing (whole or part), voiding, and expiry without a request."""

from __future__ import annotations

import time

from tests.conftest import Api
from tests.e2e.test_validation_errors import assert_error


def place(client: Api, number: str, **body: object) -> dict:
    response = client.post(f"/accounts/{number}/holds", json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_a_hold_reserves_money_and_its_capture_moves_part_of_it(client: Api, new_account) -> None:
    number = new_account("100.00")
    hold = place(client, number, amount=60, reference="atm-77", metadata={"atm": "A1"})
    assert hold["status"] == "active" and hold["amount"] == 60.0
    assert (hold["balance"], hold["available_balance"]) == (100.0, 40.0)
    assert_error(
        client.post(f"/accounts/{number}/withdraw", json={"amount": 41}), 400, "insufficient_funds"
    )
    assert_error(
        client.post(f"/accounts/{number}/holds", json={"amount": 41}), 400, "insufficient_funds"
    )
    view = client.get(f"/holds/{hold['hold_id']}").json()["data"]
    assert view["status"] == "active" and view["captured_amount"] == 0.0
    assert view["reference"] == "atm-77"

    capture = client.post(f"/holds/{hold['hold_id']}/capture", json={"amount": "45.50"})
    assert capture.status_code == 200, capture.text
    data = capture.json()["data"]
    assert data["status"] == "captured" and data["amount"] == 45.5
    assert (data["new_balance"], data["available_balance"]) == (54.5, 54.5)
    entry = client.history(number)[0]
    assert entry["type"] == "capture" and entry["transaction_id"] == data["transaction_id"]
    assert entry["amount"] == 45.5 and entry["balance_after"] == 54.5
    view = client.get(f"/holds/{hold['hold_id']}").json()["data"]
    assert (view["status"], view["captured_amount"]) == ("captured", 45.5)
    assert view["completed_at"] is not None
    job = client.get(f"/jobs/{data['job_id']}").json()["data"]
    assert job["type"] == "capture" and job["hold_id"] == hold["hold_id"]
    assert job["result"] == data

    # a hold that is no longer active can be neither captured nor voided
    assert_error(client.post(f"/holds/{hold['hold_id']}/capture"), 409, "hold_not_active")
    assert_error(client.post(f"/holds/{hold['hold_id']}/void"), 409, "hold_not_active")


def test_an_empty_capture_takes_the_whole_hold_and_a_void_releases_it(
    client: Api, new_account
) -> None:
    number = new_account("30.00")
    whole = place(client, number, amount=10)
    released = place(client, number, amount=15)
    captured = client.post(f"/holds/{whole['hold_id']}/capture").json()["data"]
    assert captured["amount"] == 10.0 and captured["new_balance"] == 20.0
    voided = client.post(f"/holds/{released['hold_id']}/void")
    assert voided.status_code == 200, voided.text
    assert voided.json()["data"]["status"] == "voided"
    assert voided.json()["data"]["available_balance"] == 20.0
    assert [e["type"] for e in client.history(number)] == ["capture", "opening"]


def test_capturing_more_than_held_or_an_unknown_hold_is_refused(client: Api, new_account) -> None:
    number = new_account("30.00")
    hold = place(client, number, amount=10)
    assert_error(
        client.post(f"/holds/{hold['hold_id']}/capture", json={"amount": 10.01}),
        400,
        "invalid_amount",
    )
    assert_error(client.post("/holds/no-such-hold/capture"), 404, "hold_not_found")
    assert_error(client.post("/holds/no-such-hold/void"), 404, "hold_not_found")
    assert_error(client.get("/holds/no-such-hold"), 404, "hold_not_found")
    for expires_in in (0, 604801, 1.5, "60", True):
        response = client.post(
            f"/accounts/{number}/holds", json={"amount": 1, "expires_in": expires_in}
        )
        assert_error(response, 400, "invalid_parameter")
    assert client.account(number)["available_balance"] == 20.0


def test_a_hold_expires_on_its_own_and_cannot_be_captured_after(client: Api, new_account) -> None:
    number = new_account("20.00")
    hold = place(client, number, amount=20, expires_in=1)
    assert client.account(number)["available_balance"] == 0.0
    time.sleep(1.2)
    # past expires_at the applier refuses a capture, whether or not a sweep has run yet
    assert_error(client.post(f"/holds/{hold['hold_id']}/capture"), 409, "hold_not_active")
    other = place(client, number, amount=5, expires_in=1)
    deadline = time.monotonic() + 10
    while client.get(f"/holds/{other['hold_id']}").json()["data"]["status"] == "active":
        assert time.monotonic() < deadline, "the hold did not expire within 10 s"
        time.sleep(0.2)
    assert client.get(f"/holds/{other['hold_id']}").json()["data"]["status"] == "expired"
    assert client.account(number)["available_balance"] == 20.0
    assert client.get(f"/holds/{hold['hold_id']}").json()["data"]["status"] == "expired"
    assert client.balance(number) == 20.0


def test_hold_answers_like_a_withdrawal_for_missing_accounts_and_async(
    client: Api, new_account
) -> None:
    assert_error(
        client.post("/accounts/4242424242424242/holds", json={"amount": 1}),
        404,
        "account_not_found",
    )
    number = new_account("5.00")
    accepted = client.post(
        f"/accounts/{number}/holds", json={"amount": 2}, headers={"Prefer": "respond-async"}
    )
    assert accepted.status_code == 202
    job = client.get(accepted.json()["data"]["status_url"], headers={"Prefer": "wait=5"})
    data = job.json()["data"]
    assert data["type"] == "hold" and data["status"] == "succeeded"
    assert data["result"]["hold_id"] == data["hold_id"]
    assert client.get(f"/holds/{data['hold_id']}").json()["data"]["amount"] == 2.0


def test_a_replayed_hold_places_it_once(client: Api, new_account) -> None:
    number = new_account("5.00")
    headers = {"Idempotency-Key": f"hold-{number}"}
    first = client.post(f"/accounts/{number}/holds", json={"amount": 2}, headers=headers)
    again = client.post(f"/accounts/{number}/holds", json={"amount": 2}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["data"] == again.json()["data"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert client.account(number)["available_balance"] == 3.0
