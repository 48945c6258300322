"""X-Request-ID on every response, and the same id in the log line of the worker that applied
the request's job (logs are one JSON object per line)."""

from __future__ import annotations

import json
import secrets

import pytest

from tests.conftest import Api
from tests.stack import Stack, wait_until

HEADER = "X-Request-ID"


def test_a_usable_client_id_is_echoed_and_others_are_replaced(client: Api) -> None:
    given = f"client-{secrets.token_hex(4)}:1.a_b"
    assert client.get("/health", headers={HEADER: given}).headers[HEADER] == given
    for unusable in ("x" * 129, "has space", "semi;colon"):
        answered = client.get("/health", headers={HEADER: unusable}).headers[HEADER]
        assert answered and answered != unusable
    first = client.get("/health").headers[HEADER]
    second = client.get("/health").headers[HEADER]
    assert first != second


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/no/such/path", {}, 404),
        ("post", "/accounts/10001/withdraw", {"data": "{", "headers": {}}, 400),
        ("post", "/accounts/10001/withdraw", {"data": "x" * (3 * 1024 * 1024)}, 413),
        ("delete", "/accounts/10001/balance", {}, 405),
    ],
)
def test_errors_carry_the_id_too(client: Api, method: str, path: str, kwargs: dict, status: int):
    headers = {"Content-Type": "application/json", HEADER: "err-1"}
    response = getattr(client.http, method)(
        client.url(path),
        headers=headers,
        timeout=30,
        **{k: v for k, v in kwargs.items() if k != "headers"},
    )
    assert response.status_code == status
    assert response.headers[HEADER] == "err-1"


def worker_log_lines(stack: Stack) -> list[dict]:
    lines = []
    for path in stack.directory.glob("worker-*.log"):
        for raw in path.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                lines.append(json.loads(raw))
    return lines


def test_the_request_id_reaches_the_log_line_of_the_worker_that_applied_the_job(
    stack: Stack, open_client: Api
) -> None:
    number = open_client.open_account("10.00")
    request_id = f"trace-{secrets.token_hex(6)}"
    response = open_client.post(
        f"/accounts/{number}/withdraw", json={"amount": 1}, headers={HEADER: request_id}
    )
    assert response.status_code == 200, response.text
    job_id = response.json()["data"]["job_id"]

    def logged() -> list[dict]:
        return [line for line in worker_log_lines(stack) if line.get("request_id") == request_id]

    (line,) = wait_until(logged, 10, "the worker's log line for the job")
    assert line["job_id"] == job_id
    assert line["message"] == "applied job" and line["status"] == "succeeded"
    assert line["level"] == "INFO" and line["logger"] == "worker.partitions.draining"


def test_a_batch_request_id_reaches_the_workers_log(stack: Stack, open_client: Api):
    number = open_client.open_account("10.00")
    request_id = f"batch-{secrets.token_hex(6)}"
    operations = [{"account_number": number, "type": "deposit", "amount": 1}] * 3
    response = open_client.post(
        "/batches", json={"operations": operations}, headers={HEADER: request_id}
    )
    batch_id = response.json()["data"]["batch_id"]

    def logged() -> int:
        lines = [line for line in worker_log_lines(stack) if line.get("request_id") == request_id]
        return sum(line["jobs"] for line in lines if line.get("batch_id") == batch_id)

    assert wait_until(lambda: logged() == 3, 10, "the batch's log lines")


def test_every_worker_log_line_is_a_json_object(stack: Stack) -> None:
    for path in stack.directory.glob("worker-*.log"):
        for raw in path.read_text(errors="replace").splitlines():
            if raw.strip() and "Warm shutdown" not in raw:
                json.loads(raw)
