"""The Python client (client/, atm_client) against the running stack: money as Decimal,
errors as exceptions, 202 as a job handle, retries that reuse the Idempotency-Key, and
batches split to the limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from atm_client import AsyncClient, Client, Job
from atm_client.errors import (
    AccountNotFound,
    ApiError,
    BatchAborted,
    InsufficientFunds,
    InvalidAmount,
    InvalidBatch,
    TransportError,
)

from tests.conftest import ADMIN_SECRET
from tests.stack import Stack


@pytest.fixture
def atm(stack: Stack) -> Iterator[Client]:
    with Client(stack.base_url, backoff=0.05) as client:
        yield client


def opened(atm: Client, balance: str) -> str:
    return atm.open_account(initial_balance=balance)["account_number"]


def test_money_is_exact_and_errors_are_their_own_exceptions(atm: Client) -> None:
    number = opened(atm, "10.00")
    result = atm.withdraw(number, Decimal("0.10"), reference="coffee")
    assert result["new_balance"] == Decimal("9.90") and isinstance(result["new_balance"], Decimal)
    assert atm.deposit(number, "0.20")["new_balance"] == Decimal("10.10")
    assert atm.balance(number)["balance"] == Decimal("10.10")
    with pytest.raises(InsufficientFunds) as refused:
        atm.withdraw(number, 11)
    assert refused.value.status == 400 and refused.value.job_id
    assert atm.job(refused.value.job_id)["status"] == "failed"
    with pytest.raises(AccountNotFound):
        atm.withdraw("4242424242424242", 1)
    with pytest.raises(InvalidAmount):
        atm.withdraw(number, "1.001")
    with pytest.raises(TypeError):
        atm.withdraw(number, 0.1)  # a float cannot say a cent exactly
    overdrawn = atm.open_account(initial_balance="1.00", overdraft_limit="2.50")
    assert atm.withdraw(overdrawn["account_number"], "3.50")["new_balance"] == Decimal("-2.50")
    atm.update_account(overdrawn["account_number"], overdraft_limit=Decimal("2.50"))


def test_an_accepted_operation_is_a_job_to_wait_for(atm: Client) -> None:
    number = opened(atm, "5.00")
    handle = atm.withdraw(number, "2.00", respond_async=True)
    assert isinstance(handle, Job)
    result = handle.wait()
    assert result["new_balance"] == Decimal("3.00") and result["job_id"] == handle.job_id
    assert (result["account_number"], result["type"]) == (number, "withdraw")
    failing = atm.withdraw(number, "4.00", respond_async=True)
    with pytest.raises(InsufficientFunds) as refused:
        failing.wait()
    assert refused.value.job_id == failing.job_id


class LosesFirstAnswer(httpx.HTTPTransport):
    """Sends the first POST to the service, then loses its answer (a dropped connection);
    records each POST's Idempotency-Key."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST":
            self.keys.append(request.headers["Idempotency-Key"])
            if len(self.keys) == 1:
                response.read()
                raise httpx.ReadError("connection lost", request=request)
        return response


def test_a_retried_post_reuses_its_key_and_moves_money_once(stack: Stack) -> None:
    with Client(stack.base_url) as setup:
        number = opened(setup, "10.00")
    transport = LosesFirstAnswer()
    with Client(stack.base_url, transport=transport, backoff=0.01) as atm:
        result = atm.withdraw(number, "3.00")
        assert result["new_balance"] == Decimal("7.00")
        assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1]
        assert atm.balance(number)["balance"] == Decimal("7.00")  # applied once
        history = atm.transactions(number)["transactions"]
        assert [entry["type"] for entry in history] == ["withdraw", "opening"]


class RateLimitedOnce(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.answered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.answered += 1
        if self.answered == 1:
            error = {"type": "rate_limited", "message": "slow down"}
            body = {"success": False, "error": error, "code": 429}
            return httpx.Response(429, headers={"Retry-After": "1"}, json=body)
        return super().handle_request(request)


def test_retry_after_is_honoured_and_a_dead_service_is_a_transport_error(stack: Stack) -> None:
    transport = RateLimitedOnce()
    with Client(stack.base_url, transport=transport, backoff=0.01) as atm:
        started = time.monotonic()
        assert atm.health()
        assert time.monotonic() - started >= 0.9 and transport.answered == 2
    nowhere = Client("http://127.0.0.1:9", retries=2, backoff=0.01)  # nothing listens there
    with nowhere, pytest.raises(TransportError):
        nowhere.balance("10001")


def test_a_batch_larger_than_the_limit_is_split_and_read_back_in_order(atm: Client) -> None:
    number = opened(atm, "100.00")
    atm.batch_limit = 3
    operations = [
        {"account_number": number, "type": "withdraw", "amount": "30.00"} for _ in range(4)
    ]
    operations += [{"account_number": number, "type": "deposit", "amount": Decimal("0.50")}] * 3
    seen: list[tuple[int, int]] = []
    results = list(
        atm.submit_batch(operations, progress=lambda done, total: seen.append((done, total)))
    )
    assert [r["status"] for r in results] == ["succeeded"] * 3 + ["failed"] + ["succeeded"] * 3
    assert [r["index"] for r in results] == list(range(7))  # in the list given, not the batch
    assert [r["batch_index"] for r in results] == [0, 1, 2, 0, 1, 2, 0]
    assert results[3]["error"]["type"] == "insufficient_funds"
    assert [r["new_balance"] for r in results if r["status"] == "succeeded"][-1] == Decimal("11.50")
    assert seen[-1] == (7, 7)
    assert len(atm.batches(limit=3)["batches"]) == 3
    newest = atm.jobs(account=number, limit=2)
    assert [job["job_id"] for job in newest["jobs"]] == [r["job_id"] for r in results[::-1][:2]]
    assert newest["jobs"][0]["amount"] == Decimal("0.50")
    failed = atm.jobs(account=number, status="failed", type="withdraw", limit=500)["jobs"]
    assert results[3]["job_id"] in [job["job_id"] for job in failed]


def test_an_atomic_batch_is_sent_whole_and_applies_all_or_nothing(atm: Client) -> None:
    payer, payee = opened(atm, "10.00"), opened(atm, "0")
    atm.batch_limit = 1  # an atomic batch is never split
    move = {"account_number": payer, "type": "transfer", "to_account": payee, "amount": "6.00"}
    results = list(atm.submit_batch([move, move], atomic=True))
    assert [r["error"]["type"] for r in results] == ["batch_aborted", "insufficient_funds"]
    with pytest.raises(BatchAborted):  # the job of an aborted operation raises its error
        Job(results[0]["job_id"], atm).wait()
    assert atm.balance(payee)["balance"] == Decimal(0)
    results = list(atm.submit_batch([move], atomic=True))
    assert results[0]["status"] == "succeeded"
    assert atm.batches(limit=1)["batches"][0]["atomic"] is True
    with pytest.raises(InvalidBatch):
        atm.submit_batch([move] * 1001, atomic=True)
    assert atm.balance(payee)["balance"] == Decimal("6.00")


def test_statements_and_balances_at_a_moment(atm: Client) -> None:
    number = opened(atm, "20.00")
    atm.withdraw(number, "5.00")
    entries = atm.transactions(number)["transactions"][::-1]
    opening_at = entries[0]["created_at"]
    assert atm.balance(number, at=opening_at)["balance"] == Decimal("20.00")
    period = atm.statement(number, opening_at, entries[-1]["created_at"])
    assert (period["opening_balance"], period["closing_balance"]) == (Decimal(20), Decimal(15))
    text = atm.statement_csv(number, opening_at, entries[-1]["created_at"])
    assert text.splitlines()[1].split(",")[2:4] == ["withdraw", "5.00"]


def test_events_follows_the_feed_and_waits_for_the_next(atm: Client) -> None:
    number = opened(atm, "5.00")
    first = atm.deposit(number, "1.00")
    followed = atm.events(account=number, wait=5, limit=1)
    event = next(followed)
    assert (event["type"], event["data"]["job_id"]) == ("job.succeeded", first["job_id"])
    assert event["data"]["amount"] == Decimal("1.00")
    later = atm.deposit(number, "2.00")
    assert next(followed)["data"]["job_id"] == later["job_id"]  # found by the next long-poll
    page = atm.events_page(after=event["event_id"], account=number)
    assert [e["data"]["job_id"] for e in page["events"]] == [later["job_id"]]


def test_the_async_client_does_the_same(stack: Stack) -> None:
    async def scenario() -> None:
        async with AsyncClient(stack.base_url) as atm:
            number = (await atm.open_account(initial_balance="8.00"))["account_number"]
            assert (await atm.withdraw(number, "1.50"))["new_balance"] == Decimal("6.50")
            handle = await atm.deposit(number, "1.00", respond_async=True)
            assert (await handle.wait())["new_balance"] == Decimal("7.50")
            with pytest.raises(InsufficientFunds):
                await atm.withdraw(number, "100.00")
            operations = [{"account_number": number, "type": "deposit", "amount": "1.00"}] * 5
            atm.batch_limit = 2
            results = [r async for r in await atm.submit_batch(operations)]
            assert [r["new_balance"] for r in results] == [
                Decimal(n) + Decimal("7.50") for n in range(1, 6)
            ]
            followed = atm.events(account=number, wait=5)
            kinds = [(await anext(followed))["type"] for _ in range(8)]
            assert kinds == ["job.succeeded"] * 2 + ["job.failed"] + ["job.succeeded"] * 5

    asyncio.run(scenario())


def test_an_api_key_is_sent_as_a_bearer_token(keyed_stack: Stack) -> None:
    with Client(keyed_stack.base_url, api_key=ADMIN_SECRET) as admin:
        key = admin.create_api_key("reader", ["read"])
        number = admin.open_account(initial_balance="1.00")["account_number"]
    with Client(keyed_stack.base_url, api_key=key["secret"]) as reader:
        assert reader.balance(number)["balance"] == Decimal("1.00")
        with pytest.raises(ApiError) as refused:
            reader.withdraw(number, "1.00")
        assert refused.value.type == "forbidden"
