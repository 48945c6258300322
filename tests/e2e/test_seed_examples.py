"""The three examples of the original README, verbatim paths and envelope, on the sample data."""

from __future__ import annotations

from tests.conftest import Api


def test_sample_accounts_exist_with_their_opening_balances(client: Api) -> None:
    assert client.balance("10002") == 3000.0
    assert client.balance("10003") == 1000.0


def test_seed_readme_examples(client: Api) -> None:
    balance = client.get("/accounts/10001/balance")
    assert balance.status_code == 200
    assert balance.headers["Content-Type"] == "application/json"
    assert balance.json() == {
        "success": True,
        # the seed's two fields, and Part two's available balance beside them
        "data": {"account_number": "10001", "balance": 5000.0, "available_balance": 5000.0},
        "code": 200,
    }

    withdraw = client.post(
        "/accounts/10001/withdraw",
        headers={"Content-Type": "application/json"},
        data='{"amount": 100.0}',
    )
    assert withdraw.status_code == 200, withdraw.text
    body = withdraw.json()
    assert list(body) == ["success", "data", "code"]
    assert body["success"] is True and body["code"] == 200
    assert body["data"]["account_number"] == "10001"
    assert body["data"]["new_balance"] == 4900.0
    assert '"new_balance":4900.0' in withdraw.text

    deposit = client.post(
        "/accounts/10001/deposit",
        headers={"Content-Type": "application/json"},
        data='{"amount": 200.0}',
    )
    assert deposit.status_code == 200, deposit.text
    assert deposit.json()["data"]["new_balance"] == 5100.0
    assert client.balance("10001") == 5100.0
