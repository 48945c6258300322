"""Every validation and protocol error of the contract, each with its error.type."""

from __future__ import annotations

import json

import pytest
import requests

from tests.conftest import Api


def assert_error(response: requests.Response, status: int, error_type: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["success"] is False
    assert body["code"] == status
    assert body["error"]["type"] == error_type
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


INVALID_AMOUNTS = [
    "{}",
    '{"amount": null}',
    '{"amount": true}',
    '{"amount": false}',
    '{"amount": [100]}',
    '{"amount": {"value": 100}}',
    '{"amount": -5}',
    '{"amount": 0}',
    '{"amount": 0.0}',
    '{"amount": NaN}',
    '{"amount": Infinity}',
    '{"amount": -Infinity}',
    '{"amount": 0.001}',
    '{"amount": 1000000.01}',
    '{"amount": 1e300}',
    '{"amount": "abc"}',
    '{"amount": ""}',
    '{"amount": "1,000"}',
    '{"amount": "-5"}',
    '{"amount": "10.001"}',
]


@pytest.mark.parametrize("body", INVALID_AMOUNTS)
@pytest.mark.parametrize("operation", ["withdraw", "deposit"])
def test_invalid_amounts_are_rejected_and_nothing_moves(
    client: Api, new_account, operation: str, body: str
) -> None:
    number = new_account("50.00")
    response = client.post_json_text(f"/accounts/{number}/{operation}", body)
    assert_error(response, 400, "invalid_amount")
    assert client.balance(number) == 50.0
    assert len(client.history(number)) == 1


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        ("100", 10000),
        ("100.5", 10050),
        ("1e2", 10000),
        ('"100.50"', 10050),
        ("0.1", 10),
        ("1000000.00", 100000000),
        ("100.500", 10050),
    ],
)
def test_accepted_amount_forms(client: Api, new_account, amount: str, cents: int) -> None:
    number = new_account("0")
    response = client.post_json_text(f"/accounts/{number}/deposit", f'{{"amount": {amount}}}')
    assert response.status_code == 200, response.text
    assert response.json()["data"]["new_balance"] == cents / 100


def test_tenths_add_up_exactly(client: Api, new_account) -> None:
    number = new_account("0")
    for _ in range(3):
        client.post(f"/accounts/{number}/deposit", json={"amount": 0.1})
    assert client.get(f"/accounts/{number}/balance").text.count('"balance":0.3') == 1


@pytest.mark.parametrize("body", ["{", "not json", '{"amount": 1', "[1, 2]", '"text"', "12", ""])
def test_malformed_or_non_object_json_is_invalid_json(client: Api, body: str) -> None:
    response = client.post_json_text("/accounts/10002/withdraw", body)
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_non_json_body_is_unsupported_media_type(client: Api, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/accounts/10002/withdraw", data='{"amount": 1}', headers=headers)
    assert_error(response, 415, "unsupported_media_type")


def test_unknown_account(client: Api) -> None:
    assert_error(client.get("/accounts/99999999/balance"), 404, "account_not_found")
    assert_error(client.get("/accounts/abc/balance"), 404, "account_not_found")
    assert_error(client.get("/accounts/10001%0A/balance"), 404, "account_not_found")
    assert_error(
        client.post("/accounts/99999999/withdraw", json={"amount": 1}), 404, "account_not_found"
    )
    assert_error(
        client.post("/accounts/99999999/deposit", json={"amount": 1}), 404, "account_not_found"
    )
    assert_error(client.get("/accounts/99999999/transactions"), 404, "account_not_found")


def test_unknown_job(client: Api) -> None:
    assert_error(client.get("/jobs/00000000-0000-0000-0000-000000000000"), 404, "job_not_found")


def test_unknown_path_is_not_found(client: Api) -> None:
    assert_error(client.get("/nowhere"), 404, "not_found")
    assert_error(client.post("/accounts/10002/transfer", json={}), 404, "not_found")


def test_wrong_method_is_method_not_allowed_with_allow(client: Api) -> None:
    response = client.http.delete(client.url("/accounts/10002/balance"))
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    response = client.get("/accounts/10002/withdraw")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_oversized_body_is_413_and_the_client_receives_it(client: Api, new_account) -> None:
    number = new_account("10.00")
    padding = "x" * (3 * 1024 * 1024)
    body = json.dumps({"amount": 1, "padding": padding})
    response = client.post_json_text(f"/accounts/{number}/deposit", body)
    assert_error(response, 413, "payload_too_large")
    assert client.balance(number) == 10.0


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        ({"account_number": "12a"}, 400, "invalid_account_number"),
        ({"account_number": 12345}, 400, "invalid_account_number"),
        ({"account_number": ""}, 400, "invalid_account_number"),
        ({"account_number": "1" * 35}, 400, "invalid_account_number"),
        ({"account_number": "555\n"}, 400, "invalid_account_number"),
        ({"initial_balance": -1}, 400, "invalid_amount"),
        ({"initial_balance": "0.001"}, 400, "invalid_amount"),
        ({"account_number": "10001"}, 409, "account_exists"),
    ],
)
def test_create_account_errors(client: Api, body: dict, status: int, error_type: str) -> None:
    assert_error(client.post("/accounts", json=body), status, error_type)


def test_create_account_keeps_leading_zeros_and_assigns_numbers(client: Api) -> None:
    zero_led = "00" + client.open_account()
    created = client.post("/accounts", json={"account_number": zero_led})
    assert created.status_code == 201, created.text
    assert created.json()["data"] == {"account_number": zero_led, "balance": 0.0}
    assert created.headers["Location"] == f"/accounts/{zero_led}/balance"

    assigned = client.post("/accounts", json={"initial_balance": "12.34"})
    assert assigned.status_code == 201, assigned.text
    number = assigned.json()["data"]["account_number"]
    assert number.isdigit() and assigned.json()["data"]["balance"] == 12.34
    assert client.balance(number) == 12.34
    assert client.post("/accounts").status_code == 201


def test_history_parameters(client: Api, new_account) -> None:
    number = new_account("1.00")
    assert_error(client.get(f"/accounts/{number}/transactions?limit=abc"), 400, "invalid_parameter")
    assert_error(client.get(f"/accounts/{number}/transactions?limit=0"), 400, "invalid_parameter")
    assert client.get(f"/accounts/{number}/transactions?limit=100000").status_code == 200
