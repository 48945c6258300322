"""The seed's endpoints in-process: a balance, and every request refused before anything is
recorded (bad amounts, bodies and content types, unknown accounts, paths and methods)."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.e2e.test_validation_errors import INVALID_AMOUNTS
from tests.web.envelopes import data_of, error_of
from tests.web.in_process import job_count

OPERATIONS = ["withdraw", "deposit"]


@pytest.mark.parametrize(
    ("number", "balance"), [("10001", 5000.0), ("10002", 3000.0), ("10003", 1000.0)]
)
def test_balance_of_a_sample_account(client: FlaskClient, number: str, balance: float) -> None:
    response = client.get(f"/accounts/{number}/balance")
    data = data_of(response)
    assert data["account_number"] == number
    assert data["balance"] == balance
    assert data["available_balance"] == balance  # no hold on it
    # Money is a JSON number with its decimal point, as the contract writes it.
    assert f'"balance":{balance}' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/accounts/99999999/balance"),
        ("GET", "/accounts/abc/balance"),
        ("GET", "/accounts/99999999/transactions"),
        ("POST", "/accounts/99999999/withdraw"),
        ("POST", "/accounts/99999999/deposit"),
    ],
)
def test_unknown_account_is_account_not_found(
    app: Flask, client: FlaskClient, method: str, path: str
) -> None:
    response = client.open(path, method=method, json={"amount": 1} if method == "POST" else None)
    error_of(response, 404, "account_not_found")
    assert job_count(app) == 0


@pytest.mark.parametrize("body", INVALID_AMOUNTS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_invalid_amount_is_refused_and_nothing_is_recorded(
    app: Flask, client: FlaskClient, operation: str, body: str
) -> None:
    response = client.post(
        f"/accounts/10002/{operation}", data=body, content_type="application/json"
    )
    error_of(response, 400, "invalid_amount")
    assert job_count(app) == 0


@pytest.mark.parametrize("body", ["{", "not json", '{"amount": 1', "[1, 2]", '"text"', "12", ""])
def test_malformed_or_non_object_json_is_invalid_json(
    app: Flask, client: FlaskClient, body: str
) -> None:
    response = client.post("/accounts/10002/withdraw", data=body, content_type="application/json")
    error_of(response, 400, "invalid_json")
    assert job_count(app) == 0


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_unsupported_media_type(
    app: Flask, client: FlaskClient, content_type: str | None
) -> None:
    response = client.post(
        "/accounts/10002/withdraw", data='{"amount": 1}', content_type=content_type
    )
    error_of(response, 415, "unsupported_media_type")
    assert job_count(app) == 0


def test_a_body_over_the_limit_is_payload_too_large(app: Flask, client: FlaskClient) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({"amount": 1, "padding": "x" * limit})
    response = client.post("/accounts/10002/deposit", data=body, content_type="application/json")
    error_of(response, 413, "payload_too_large")
    assert response.headers["Connection"] == "close"
    assert job_count(app) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nowhere"), ("POST", "/accounts/10002/transfer"), ("GET", "/accounts/10002/x")],
)
def test_unknown_path_is_not_found(client: FlaskClient, method: str, path: str) -> None:
    error_of(client.open(path, method=method, json={}), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/accounts/10002/balance", "GET"),
        ("POST", "/accounts/10002/balance", "GET"),
        ("GET", "/accounts/10002/withdraw", "POST"),
        ("PUT", "/accounts/10002/deposit", "POST"),
    ],
)
def test_wrong_method_is_method_not_allowed_with_allow(
    client: FlaskClient, method: str, path: str, allowed: str
) -> None:
    response = client.open(path, method=method)
    error_of(response, 405, "method_not_allowed")
    assert allowed in [name.strip() for name in response.headers["Allow"].split(",")]
