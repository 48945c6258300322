"""The account view, freezing, closing and the daily withdrawal limit, ordered as jobs."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.e2e.test_validation_errors import assert_error


def test_the_account_view_and_the_balance_show_the_available_balance(
    client: Api, new_account
) -> None:
    number = new_account("80.00")
    view = client.account(number)
    assert view["account_number"] == number
    assert (view["balance"], view["available_balance"]) == (80.0, 80.0)
    assert view["status"] == "active" and view["daily_withdrawal_limit"] is None
    assert view["created_at"].endswith("Z")
    assert client.post(f"/accounts/{number}/holds", json={"amount": 30}).status_code == 200
    balance = client.get(f"/accounts/{number}/balance").json()["data"]
    assert (balance["balance"], balance["available_balance"]) == (80.0, 50.0)
    assert_error(client.get("/accounts/99999999999/"), 404, "not_found")
    assert_error(client.get("/accounts/424242424242424"), 404, "account_not_found")


def test_a_frozen_account_refuses_money_movements_until_unfrozen(client: Api, new_account) -> None:
    number, other = new_account("50.00"), new_account("50.00")
    hold = client.post(f"/accounts/{number}/holds", json={"amount": 5}).json()["data"]
    frozen = client.patch(f"/accounts/{number}", json={"status": "frozen"})
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["data"]["status"] == "frozen"
    for path, body in (
        (f"/accounts/{number}/withdraw", {"amount": 1}),
        (f"/accounts/{number}/deposit", {"amount": 1}),
        (f"/accounts/{number}/holds", {"amount": 1}),
        ("/transfers", {"from_account": number, "to_account": other, "amount": 1}),
        ("/transfers", {"from_account": other, "to_account": number, "amount": 1}),
        (f"/holds/{hold['hold_id']}/capture", {}),
    ):
        assert_error(client.post(path, json=body), 409, "account_frozen")
    voided = client.post(f"/holds/{hold['hold_id']}/void")
    assert voided.status_code == 200, voided.text  # releasing a hold is still allowed
    assert client.patch(f"/accounts/{number}", json={"status": "active"}).status_code == 200
    assert client.post(f"/accounts/{number}/withdraw", json={"amount": 1}).status_code == 200
    assert (client.balance(number), client.balance(other)) == (49.0, 50.0)


def test_closing_needs_an_empty_account_and_is_final(client: Api, new_account) -> None:
    number = new_account("10.00")
    assert_error(
        client.patch(f"/accounts/{number}", json={"status": "closed"}), 409, "account_not_empty"
    )
    client.post(f"/accounts/{number}/withdraw", json={"amount": 9})
    hold = client.post(f"/accounts/{number}/holds", json={"amount": 1}).json()["data"]
    assert_error(
        client.patch(f"/accounts/{number}", json={"status": "closed"}), 409, "account_not_empty"
    )
    capture = client.post(f"/holds/{hold['hold_id']}/capture")
    assert capture.status_code == 200, capture.text
    closed = client.patch(f"/accounts/{number}", json={"status": "closed"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["data"]["status"] == "closed"
    assert_error(
        client.post(f"/accounts/{number}/deposit", json={"amount": 1}), 409, "account_closed"
    )
    assert_error(
        client.patch(f"/accounts/{number}", json={"status": "active"}), 409, "account_closed"
    )


def test_the_daily_limit_counts_withdrawals_transfers_and_holds(client: Api, new_account) -> None:
    number, other = new_account("500.00"), new_account("0")
    limited = client.patch(f"/accounts/{number}", json={"daily_withdrawal_limit": "100.00"})
    assert limited.json()["data"]["daily_withdrawal_limit"] == 100.0
    assert client.post(f"/accounts/{number}/withdraw", json={"amount": 40}).status_code == 200
    transfer = {"from_account": number, "to_account": other, "amount": 30}
    assert client.post("/transfers", json=transfer).status_code == 200
    hold = client.post(f"/accounts/{number}/holds", json={"amount": 30}).json()["data"]
    assert_error(
        client.post(f"/accounts/{number}/withdraw", json={"amount": 1}), 400, "limit_exceeded"
    )
    # a voided hold stops counting; its capture would not have counted again
    assert client.post(f"/holds/{hold['hold_id']}/void").status_code == 200
    assert client.post(f"/accounts/{number}/withdraw", json={"amount": 30}).status_code == 200
    assert_error(
        client.post(f"/accounts/{number}/withdraw", json={"amount": "0.01"}), 400, "limit_exceeded"
    )
    # deposits are not limited, and the limit can be lifted
    assert client.post(f"/accounts/{number}/deposit", json={"amount": 1}).status_code == 200
    lifted = client.patch(f"/accounts/{number}", json={"daily_withdrawal_limit": None})
    assert lifted.json()["data"]["daily_withdrawal_limit"] is None
    assert client.post(f"/accounts/{number}/withdraw", json={"amount": 1}).status_code == 200


def test_an_account_can_be_opened_with_a_limit(client: Api) -> None:
    response = client.post("/accounts", json={"initial_balance": 10, "daily_withdrawal_limit": 5})
    assert response.status_code == 201, response.text
    number = response.json()["data"]["account_number"]
    assert client.account(number)["daily_withdrawal_limit"] == 5.0
    assert_error(
        client.post(f"/accounts/{number}/withdraw", json={"amount": 6}), 400, "limit_exceeded"
    )


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        ({"status": "asleep"}, 400, "invalid_parameter"),
        ({"colour": "blue"}, 400, "invalid_parameter"),
        ({"\ud800": 1}, 400, "invalid_parameter"),  # quoted in the message: a lone surrogate
        ({"daily_withdrawal_limit": 0}, 400, "invalid_amount"),
        ({"daily_withdrawal_limit": "-5"}, 400, "invalid_amount"),
        ({"daily_withdrawal_limit": "1.001"}, 400, "invalid_amount"),
    ],
)
def test_bad_changes_are_refused_at_once(
    client: Api, new_account, body: dict, status: int, error_type: str
) -> None:
    number = new_account("1.00")
    assert_error(client.patch(f"/accounts/{number}", json=body), status, error_type)
    assert client.account(number)["status"] == "active"


def test_a_change_is_ordered_with_the_operations_accepted_before_it(
    client: Api, new_account
) -> None:
    number = new_account("10.00")
    queued = client.post(
        f"/accounts/{number}/withdraw", json={"amount": 4}, headers={"Prefer": "respond-async"}
    )
    assert queued.status_code == 202
    assert client.patch(f"/accounts/{number}", json={"status": "frozen"}).status_code == 200
    # the withdrawal accepted before the freeze was applied before it
    job = client.get(queued.json()["data"]["status_url"]).json()["data"]
    assert job["status"] == "succeeded"
    assert client.balance(number) == 6.0
    assert_error(client.patch("/accounts/4242424242424242", json={}), 404, "account_not_found")


def test_an_overdraft_limit_lets_the_balance_go_below_zero_that_far(
    client: Api, new_account
) -> None:
    opened = client.post("/accounts", json={"initial_balance": "10.00", "overdraft_limit": "25"})
    assert opened.status_code == 201, opened.text
    number = opened.json()["data"]["account_number"]
    assert client.account(number)["overdraft_limit"] == 25.0
    assert_error(
        client.post(f"/accounts/{number}/withdraw", json={"amount": "35.01"}),
        400,
        "insufficient_funds",
    )
    withdrawn = client.post(f"/accounts/{number}/withdraw", json={"amount": "30.00"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["data"]["new_balance"] == -20.0
    view = client.account(number)
    assert (view["balance"], view["available_balance"]) == (-20.0, -20.0)
    lowered = client.patch(f"/accounts/{number}", json={"overdraft_limit": 5})
    assert lowered.status_code == 200, lowered.text
    assert lowered.json()["data"]["overdraft_limit"] == 5.0
    assert_error(
        client.post(f"/accounts/{number}/withdraw", json={"amount": "0.01"}),
        400,
        "insufficient_funds",
    )
    assert client.post(f"/accounts/{number}/deposit", json={"amount": "16"}).status_code == 200
    assert (
        client.post(f"/accounts/{number}/withdraw", json={"amount": "1.00"}).json()["data"][
            "new_balance"
        ]
        == -5.0
    )
    history = client.get(f"/accounts/{number}/transactions").json()["data"]["transactions"]
    assert [entry["balance_after"] for entry in history] == [-5.0, -4.0, -20.0, 10.0]
    for body in ({"overdraft_limit": -1}, {"overdraft_limit": None}, {"overdraft_limit": "1.001"}):
        refused = assert_error(
            client.patch(f"/accounts/{number}", json=body), 400, "invalid_amount"
        )
        assert refused["error"]["message"].startswith("overdraft_limit ")  # names its field
    unlimited = new_account("5.00")
    assert client.account(unlimited)["overdraft_limit"] == 0.0
    assert_error(
        client.post(f"/accounts/{unlimited}/withdraw", json={"amount": "5.01"}),
        400,
        "insufficient_funds",
    )
