"""Transfers (both legs at once) and reversals (exactly one per job) through the HTTP API."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.conftest import Api
from tests.e2e.test_validation_errors import assert_error


def transfer(client: Api, source: str, destination: str, amount: object, **extra) -> dict:
    response = client.post(
        "/transfers",
        json={"from_account": source, "to_account": destination, "amount": amount, **extra},
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_a_transfer_moves_money_in_two_legs(client: Api, new_account) -> None:
    source, destination = new_account("100.00"), new_account("5.00")
    data = transfer(client, source, destination, 25, reference="rent")
    assert data["type"] == "transfer"
    assert (data["from_account"], data["to_account"], data["amount"]) == (source, destination, 25.0)
    assert (data["from_balance"], data["to_balance"]) == (75.0, 30.0)
    out, into = client.history(source)[0], client.history(destination)[0]
    assert (out["type"], out["amount"], out["balance_after"]) == ("transfer_out", 25.0, 75.0)
    assert (into["type"], into["amount"], into["balance_after"]) == ("transfer_in", 25.0, 30.0)
    assert out["transaction_id"] == data["transaction_id"]
    assert out["job_id"] == into["job_id"] == data["job_id"]
    assert out["reference"] == into["reference"] == "rent"
    job = client.get(f"/jobs/{data['job_id']}").json()["data"]
    assert (job["account_number"], job["to_account"]) == (source, destination)
    assert (job["result"]["new_balance"], job["result"]["to_balance"]) == (75.0, 30.0)
    only_in = client.get(f"/accounts/{destination}/transactions", params={"type": "transfer_in"})
    assert [e["job_id"] for e in only_in.json()["data"]["transactions"]] == [data["job_id"]]


def test_bad_transfers_are_refused_and_move_nothing(client: Api, new_account) -> None:
    source, destination = new_account("10.00"), new_account("0")
    assert_error(
        client.post("/transfers", json={"from_account": source, "to_account": source, "amount": 1}),
        400,
        "invalid_transfer",
    )
    assert_error(
        client.post("/transfers", json={"from_account": source, "to_account": "12a", "amount": 1}),
        400,
        "invalid_account_number",
    )
    assert_error(
        client.post(
            "/transfers",
            json={"from_account": source, "to_account": "4242424242424242", "amount": 1},
        ),
        404,
        "account_not_found",
    )
    assert_error(
        client.post(
            "/transfers",
            json={"from_account": "4242424242424242", "to_account": source, "amount": 1},
        ),
        404,
        "account_not_found",
    )
    assert_error(
        client.post(
            "/transfers", json={"from_account": source, "to_account": destination, "amount": 10.01}
        ),
        400,
        "insufficient_funds",
    )
    assert (client.balance(source), client.balance(destination)) == (10.0, 0.0)
    assert [e["type"] for e in client.history(source)] == ["opening"]


def test_batches_carry_transfers(client: Api, new_account) -> None:
    source, destination = new_account("10.00"), new_account("0")
    operations = [
        {"account_number": source, "type": "transfer", "to_account": destination, "amount": 4},
        {
            "account_number": source,
            "type": "transfer",
            "to_account": "4242424242424242",
            "amount": 1,
        },
        {"account_number": source, "type": "transfer", "to_account": destination, "amount": 7},
    ]
    batch = client.post("/batches", json={"operations": operations}).json()["data"]
    client.get(batch["status_url"], headers={"Prefer": "wait=10"})
    results = client.get(f"{batch['status_url']}/results").json()["data"]["results"]
    assert results[0]["status"] == "succeeded" and results[0]["to_account"] == destination
    assert (results[0]["new_balance"], results[0]["to_balance"]) == (6.0, 4.0)
    assert results[1]["error"]["type"] == "account_not_found"
    assert results[2]["error"]["type"] == "insufficient_funds"
    bad = client.post(
        "/batches",
        json={
            "operations": [
                {"account_number": source, "type": "transfer", "amount": 1},
                {"account_number": source, "type": "transfer", "to_account": source, "amount": 1},
            ]
        },
    )
    details = assert_error(bad, 400, "invalid_batch")["error"]["details"]
    assert [d["type"] for d in details] == ["invalid_account_number", "invalid_transfer"]


def test_each_kind_of_operation_can_be_reversed_once(client: Api, new_account) -> None:
    number, other = new_account("100.00"), new_account("0")
    withdrawal = client.post(f"/accounts/{number}/withdraw", json={"amount": 10}).json()["data"]
    deposit = client.post(f"/accounts/{number}/deposit", json={"amount": 5}).json()["data"]
    moved = transfer(client, number, other, 20)
    hold = client.post(f"/accounts/{number}/holds", json={"amount": 30}).json()["data"]
    captured = client.post(f"/holds/{hold['hold_id']}/capture").json()["data"]
    assert client.balance(number) == 45.0

    expected = [  # (job, the account its reversal names, that account's balance after)
        (withdrawal["job_id"], number, 55.0),
        (deposit["job_id"], number, 50.0),
        (moved["job_id"], other, 0.0),
        (captured["job_id"], number, 100.0),
    ]
    for job_id, account, balance in expected:
        response = client.post(f"/jobs/{job_id}/reverse", json={"reference": "oops"})
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert (data["type"], data["reversed_job_id"]) == ("reversal", job_id)
        assert (data["account_number"], data["new_balance"]) == (account, balance)
        reversed_job = client.get(f"/jobs/{job_id}").json()["data"]
        assert reversed_job["reversed_by"] == data["job_id"]
        assert_error(client.post(f"/jobs/{job_id}/reverse"), 409, "already_reversed")
    assert (client.balance(number), client.balance(other)) == (100.0, 0.0)
    reversals = [e for e in client.history(number) if e["type"] == "reversal"]
    assert len(reversals) == 4 and all(e["reference"] == "oops" for e in reversals)


def test_what_cannot_be_reversed(client: Api, new_account) -> None:
    number = new_account("10.00")
    failed = client.post(f"/accounts/{number}/withdraw", json={"amount": 11})
    failed_job = assert_error(failed, 400, "insufficient_funds")["error"]["job_id"]
    assert_error(client.post(f"/jobs/{failed_job}/reverse"), 409, "not_reversible")
    hold = client.post(f"/accounts/{number}/holds", json={"amount": 1}).json()["data"]
    assert_error(client.post(f"/jobs/{hold['job_id']}/reverse"), 409, "not_reversible")
    assert_error(client.post("/jobs/no-such-job/reverse"), 404, "job_not_found")
    # a deposit whose money is gone: the reversal needs funds, and may be retried later
    deposit = client.post(f"/accounts/{number}/deposit", json={"amount": 50}).json()["data"]
    client.post(f"/accounts/{number}/withdraw", json={"amount": 59})
    assert_error(client.post(f"/jobs/{deposit['job_id']}/reverse"), 400, "insufficient_funds")
    client.post(f"/accounts/{number}/deposit", json={"amount": 50})
    assert client.post(f"/jobs/{deposit['job_id']}/reverse").status_code == 200


def test_of_many_concurrent_reversals_exactly_one_succeeds(client: Api, new_account) -> None:
    number, other = new_account("100.00"), new_account("0")
    moved = transfer(client, number, other, 60)

    def reverse(_: int) -> int:
        return client.clone().post(f"/jobs/{moved['job_id']}/reverse").status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(reverse, range(32)))
    assert statuses.count(200) == 1, statuses
    assert set(statuses) == {200, 409}
    assert (client.balance(number), client.balance(other)) == (100.0, 0.0)
