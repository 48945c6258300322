"""Batches in-process: a batch with a bad operation is refused whole, naming each bad one
by its index; a valid one is accepted and its progress and results show it queued."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.web.envelopes import data_of, error_of
from tests.web.in_process import job_count

WITHDRAW = {"account_number": "10001", "type": "withdraw", "amount": 10.0}
DEPOSIT = {"account_number": "10002", "type": "deposit", "amount": "2.50"}


@pytest.mark.parametrize(
    ("bad", "error_type"),
    [
        ({**WITHDRAW, "amount": 0}, "invalid_amount"),
        ({**WITHDRAW, "amount": "0.001"}, "invalid_amount"),
        ({"type": "withdraw", "amount": 1}, "invalid_account_number"),
        ({**WITHDRAW, "account_number": "10o01"}, "invalid_account_number"),
        ({**WITHDRAW, "type": "transfer"}, "invalid_account_number"),  # no to_account
        ({**WITHDRAW, "type": "transfer", "to_account": "10001"}, "invalid_transfer"),
        ({**WITHDRAW, "type": "steal"}, "invalid_operation"),
        ("withdraw 10", "invalid_operation"),
    ],
)
def test_a_batch_with_one_bad_operation_is_refused_with_its_index(
    app: Flask, client: FlaskClient, bad: object, error_type: str
) -> None:
    response = client.post("/batches", json={"operations": [WITHDRAW, bad, DEPOSIT]})
    error = error_of(response, 400, "invalid_batch")
    [detail] = error["details"]
    assert set(detail) == {"index", "type", "message"}
    assert (detail["index"], detail["type"]) == (1, error_type)
    assert isinstance(detail["message"], str) and detail["message"]
    assert job_count(app) == 0


def test_every_bad_operation_is_listed(client: FlaskClient) -> None:
    operations = [{**WITHDRAW, "amount": -1}, WITHDRAW, {**DEPOSIT, "account_number": ""}]
    error = error_of(client.post("/batches", json={"operations": operations}), 400, "invalid_batch")
    assert [(d["index"], d["type"]) for d in error["details"]] == [
        (0, "invalid_amount"),
        (2, "invalid_account_number"),
    ]


@pytest.mark.parametrize("body", [{"operations": []}, {}, {"operations": WITHDRAW}])
def test_a_batch_without_a_list_of_1_or_more_operations_is_invalid_batch(
    client: FlaskClient, body: dict
) -> None:
    error = error_of(client.post("/batches", json=body), 400, "invalid_batch")
    assert error["details"] == []


def test_a_valid_batch_is_accepted_and_its_progress_shows_it_queued(
    app: Flask, client: FlaskClient
) -> None:
    operations = [WITHDRAW, DEPOSIT, {**WITHDRAW, "account_number": "10003", "amount": 1}]
    response = client.post("/batches", json={"operations": operations})
    data = data_of(response, 202)
    batch_id = data["batch_id"]
    assert data == {"batch_id": batch_id, "total": 3, "status_url": f"/batches/{batch_id}"}
    assert response.headers["Location"] == f"/batches/{batch_id}"
    assert job_count(app) == 3

    progress = data_of(client.get(f"/batches/{batch_id}"))
    expected = {
        "batch_id": batch_id,
        "total": 3,
        "queued": 3,
        "processing": 0,
        "succeeded": 0,
        "failed": 0,
        "status": "pending",
        "completed_at": None,
    }
    assert {key: progress.get(key) for key in expected} == expected
    assert isinstance(progress["created_at"], str)

    page = data_of(client.get(f"/batches/{batch_id}/results"))
    assert (page["batch_id"], page["offset"], page["total"]) == (batch_id, 0, 3)
    assert [
        (r["index"], r["account_number"], r["type"], r["amount"], r["status"])
        for r in page["results"]
    ] == [
        (0, "10001", "withdraw", 10.0, "queued"),
        (1, "10002", "deposit", 2.5, "queued"),
        (2, "10003", "withdraw", 1.0, "queued"),
    ]
    assert len({r["job_id"] for r in page["results"]}) == 3


def test_an_unknown_account_does_not_refuse_the_batch(app: Flask, client: FlaskClient) -> None:
    """It is the operation's business failure, at apply time, not the batch's."""
    operations = [WITHDRAW, {**WITHDRAW, "account_number": "99999999"}]
    data = data_of(client.post("/batches", json={"operations": operations}), 202)
    assert data["total"] == 2
    assert job_count(app) == 2


def test_a_replayed_batch_key_answers_the_same_batch(app: Flask, client: FlaskClient) -> None:
    headers = {"Idempotency-Key": "batch-1"}
    first = client.post("/batches", json={"operations": [WITHDRAW]}, headers=headers)
    again = client.post("/batches", json={"operations": [WITHDRAW]}, headers=headers)
    assert data_of(again, 202) == data_of(first, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/batches", json={"operations": [WITHDRAW, WITHDRAW]}, headers=headers)
    error_of(other, 422, "idempotency_key_reused")
    assert job_count(app) == 1


@pytest.mark.parametrize("path", ["/batches/{id}", "/batches/{id}/results"])
def test_unknown_batch_is_batch_not_found(client: FlaskClient, path: str) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    error_of(client.get(path.format(id=unknown)), 404, "batch_not_found")
