"""Withdrawals and deposits accepted in-process: 202 with a job that stays queued (no worker
runs here), its job view, and Idempotency-Key replays and conflicts."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.stack import RedisServer
from tests.web.envelopes import data_of, error_of
from tests.web.in_process import in_process_settings, job_count, running_app
from web.serving.services import EXTENSION_KEY

ASYNC = {"Prefer": "respond-async"}


def accepted_job(response) -> str:  # type: ignore[no-untyped-def]
    """The job id of a 202 answer, checked as the contract writes it."""
    data = data_of(response, 202)
    job_id = data["job_id"]
    assert data == {"job_id": job_id, "status": "queued", "status_url": f"/jobs/{job_id}"}
    assert response.headers["Location"] == f"/jobs/{job_id}"
    assert response.headers["Retry-After"].isdigit()
    return job_id


@pytest.mark.parametrize("operation", ["withdraw", "deposit"])
def test_an_asynchronous_operation_is_accepted_and_its_job_stays_queued(
    app: Flask, client: FlaskClient, operation: str
) -> None:
    response = client.post(f"/accounts/10001/{operation}", json={"amount": 10.5}, headers=ASYNC)
    job_id = accepted_job(response)
    assert response.headers["Preference-Applied"] == "respond-async"

    job = data_of(client.get(f"/jobs/{job_id}"))
    assert {key: job[key] for key in ("job_id", "type", "account_number", "amount")} == {
        "job_id": job_id,
        "type": operation,
        "account_number": "10001",
        "amount": 10.5,
    }
    assert (job["status"], job["result"], job["error"], job["completed_at"]) == (
        "queued",
        None,
        None,
        None,
    )
    assert isinstance(job["created_at"], str) and job["created_at"].endswith("Z")
    assert job_count(app) == 1
    # Nothing applied it: the balance is the seed's.
    assert data_of(client.get("/accounts/10001/balance"))["balance"] == 5000.0


@pytest.mark.parametrize(
    ("prefer", "applied"), [(None, None), ("wait=0", "wait=0"), ("wait=5", "wait=0")]
)
def test_a_wait_that_runs_out_answers_202(
    app: Flask, client: FlaskClient, prefer: str | None, applied: str | None
) -> None:
    """The fixture's wait and its cap are 0 s: a synchronous request's wait runs out at
    once, and Preference-Applied says what was honoured."""
    headers = {"Prefer": prefer} if prefer else {}
    response = client.post("/accounts/10001/withdraw", json={"amount": 1}, headers=headers)
    accepted_job(response)
    assert response.headers.get("Preference-Applied") == applied


def test_unknown_job_is_job_not_found(client: FlaskClient) -> None:
    error_of(client.get("/jobs/00000000-0000-0000-0000-000000000000"), 404, "job_not_found")


def test_a_replayed_idempotency_key_answers_the_same_job(app: Flask, client: FlaskClient) -> None:
    headers = {**ASYNC, "Idempotency-Key": "withdraw-10001-1"}
    first = client.post("/accounts/10001/withdraw", json={"amount": 10}, headers=headers)
    again = client.post("/accounts/10001/withdraw", json={"amount": 10}, headers=headers)
    assert accepted_job(again) == accepted_job(first)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert job_count(app) == 1


def test_the_same_key_with_another_body_is_idempotency_key_reused(
    app: Flask, client: FlaskClient
) -> None:
    headers = {**ASYNC, "Idempotency-Key": "withdraw-10001-2"}
    first = client.post("/accounts/10001/withdraw", json={"amount": 10}, headers=headers)
    job_id = accepted_job(first)
    other = client.post("/accounts/10001/withdraw", json={"amount": 11}, headers=headers)
    error_of(other, 422, "idempotency_key_reused")
    assert job_count(app) == 1
    assert data_of(client.get(f"/jobs/{job_id}"))["amount"] == 10.0


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_malformed_idempotency_key_is_refused(app: Flask, client: FlaskClient, key: str) -> None:
    headers = {**ASYNC, "Idempotency-Key": key}
    response = client.post("/accounts/10001/withdraw", json={"amount": 1}, headers=headers)
    error_of(response, 400, "invalid_idempotency_key")
    assert job_count(app) == 0


@pytest.mark.parametrize(
    ("prefer", "deferred", "synced"),
    [("wait=1", True, True), ("respond-async", False, False)],
)
def test_a_job_is_on_disk_before_its_202(
    tmp_path: Path,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    prefer: str,
    deferred: bool,
    synced: bool,
) -> None:
    """A request that waits has its job committed without an fsync (the owner's commit of
    the outcome makes it durable); when the wait runs out first (no worker here), the job
    is made durable before the 202. A request that does not wait is committed durably."""
    settings = in_process_settings(tmp_path / "atm.db", redis_server.url, ATM_MAX_WAIT_SECONDS="1")
    with running_app(settings) as app:
        database = app.extensions[EXTENSION_KEY].database
        steps: list[str] = []
        real_writing, real_durable = database.writing, database.make_durable

        @contextmanager
        def writing(*, deferred: bool = False):  # type: ignore[no-untyped-def]
            with real_writing(deferred=deferred) as session:
                yield session
            steps.append(f"commit deferred={deferred}")

        def make_durable() -> None:
            real_durable()
            steps.append("make durable")

        monkeypatch.setattr(database, "writing", writing)
        monkeypatch.setattr(database, "make_durable", make_durable)
        response = app.test_client().post(
            "/accounts/10001/withdraw", json={"amount": 1}, headers={"Prefer": prefer}
        )
        assert response.status_code == 202, response.text
        assert steps == [f"commit deferred={deferred}"] + (["make durable"] if synced else [])
