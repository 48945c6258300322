"""`Client` (blocking, httpx.Client) and `AsyncClient` (asyncio, httpx.AsyncClient): the
same endpoints (atm_client.endpoints), the same retries, the same answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from atm_client.endpoints import Endpoints
from atm_client.errors import ApiError, TransportError, error_from
from atm_client.requests import (
    Answer,
    BatchWatch,
    Call,
    auth_headers,
    chunks,
    read_answer,
    retry_delay,
    should_retry,
)

DEFAULT_BATCH_LIMIT = 10_000  # the service's ATM_MAX_BATCH default
RESULTS_PAGE = 1000
Progress = Callable[[int, int], None]  # (operations completed, operations in all)


@dataclass(frozen=True)
class Job:
    """An operation the service accepted but had not applied when it answered (202)."""

    job_id: str
    client: Client

    def wait(self, timeout: float = 60.0) -> Any:
        """The job's result once it is applied; its error raised if it failed."""
        return _outcome(_poll(lambda wait: self.client.job(self.job_id, wait=wait), timeout))


@dataclass(frozen=True)
class AsyncJob:
    job_id: str
    client: AsyncClient

    async def wait(self, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            job = await self.client.job(self.job_id, wait=max(0.0, min(left, 30.0)))
            if job["status"] in ("succeeded", "failed") or left <= 0:
                return _outcome(job)


class Client(Endpoints):
    """The API over one pool of connections; a context manager.

    `api_key` is sent as a bearer token; `retries` is how many times a request with no
    answer, or answered 429, 502, 503 or 504, is sent again (with the same Idempotency-Key
    when it is a POST), waiting `Retry-After` or an exponential backoff from `backoff` s.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = 60.0,
        retries: int = 4,
        backoff: float = 0.2,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers=auth_headers(api_key), timeout=timeout, transport=transport
        )
        self.retries, self.backoff, self.batch_limit = retries, backoff, batch_limit

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def answer(self, call: Call, idempotency_key: str | None = None) -> Answer:
        """One request, retried as every call is: its Answer (status, data, headers), or
        its error raised. For callers that need more than the data (a 202, a header)."""
        call = call.prepared(idempotency_key)
        for attempt in range(self.retries + 1):
            status, headers = None, {}
            try:
                response = self.http.request(
                    call.method, call.path, params=call.params, json=call.body, headers=call.headers
                )
                status, headers = response.status_code, dict(response.headers)
                if not should_retry(status) or attempt == self.retries:
                    return read_answer(status, response.text, headers, call.raw)
            except httpx.TransportError as error:
                if attempt == self.retries:
                    raise TransportError(str(error) or type(error).__name__, status=0) from error
            time.sleep(retry_delay(attempt, status, headers, self.backoff))
        raise AssertionError("unreachable")

    def _send(self, call: Call, idempotency_key: str | None = None) -> Any:
        return self.answer(call, idempotency_key).data

    def _operate(self, call: Call, idempotency_key: str | None = None) -> Any:
        answer = self.answer(call, idempotency_key)
        return Job(answer.data["job_id"], self) if answer.status == 202 else answer.data

    def submit_batch(
        self,
        operations: list[dict[str, Any]],
        *,
        atomic: bool = False,
        progress: Progress | None = None,
        timeout: float = 600.0,
    ) -> Iterator[dict[str, Any]]:
        """Submit any number of operations, split into batches of the service's limit, wait
        until every batch completes (calling `progress(done, total)` as they advance), then
        return an iterator of each operation's result, in order. Each batch is one POST
        with its own Idempotency-Key, reused on that POST's retries, so it is accepted once.
        `atomic=True` sends them as one all-or-nothing batch, never split: more than the
        service's atomic limit raises InvalidBatch, and nothing is applied."""
        parts = [operations] if atomic and operations else chunks(operations, self.batch_limit)
        ids = [self.create_batch(part, atomic=atomic)["batch_id"] for part in parts]
        watch = BatchWatch(len(operations), progress, timeout)
        for batch_id in ids:
            while not watch.completed(batch_id, self.batch(batch_id, wait=watch.wait_seconds())):
                pass
        return self._results(ids)

    def events(
        self,
        after: str | None = None,
        *,
        type: str | None = None,
        account: str | None = None,
        wait: float = 30.0,
        limit: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Follow the events feed from `after` (the oldest kept when None), for as long as
        the caller iterates: each event once, in the order committed, long-polling up to
        `wait` seconds when there is none. Keep the last event's `event_id` to go on later."""
        while True:
            page = self.events_page(after, limit, type, account, wait)
            yield from page["events"]
            after = page["next_after"] or after

    def _results(self, ids: list[str]) -> Iterator[dict[str, Any]]:
        first = 0  # the index in the caller's list of the batch's first operation
        for batch_id in ids:
            offset = 0
            while True:
                page = self.batch_results(batch_id, offset, RESULTS_PAGE)
                yield from (in_submission(result, first) for result in page["results"])
                offset += len(page["results"])
                if not page["results"] or offset >= page["total"]:
                    break
            first += offset


class AsyncClient(Endpoints):
    """`Client` for asyncio: every method is a coroutine; `async with`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = 60.0,
        retries: int = 4,
        backoff: float = 0.2,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url, headers=auth_headers(api_key), timeout=timeout, transport=transport
        )
        self.retries, self.backoff, self.batch_limit = retries, backoff, batch_limit

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def answer(self, call: Call, idempotency_key: str | None = None) -> Answer:
        """As `Client.answer`."""
        call = call.prepared(idempotency_key)
        for attempt in range(self.retries + 1):
            status, headers = None, {}
            try:
                response = await self.http.request(
                    call.method, call.path, params=call.params, json=call.body, headers=call.headers
                )
                status, headers = response.status_code, dict(response.headers)
                if not should_retry(status) or attempt == self.retries:
                    return read_answer(status, response.text, headers, call.raw)
            except httpx.TransportError as error:
                if attempt == self.retries:
                    raise TransportError(str(error) or type(error).__name__, status=0) from error
            await asyncio.sleep(retry_delay(attempt, status, headers, self.backoff))
        raise AssertionError("unreachable")

    async def _send(self, call: Call, idempotency_key: str | None = None) -> Any:
        return (await self.answer(call, idempotency_key)).data

    async def _operate(self, call: Call, idempotency_key: str | None = None) -> Any:
        answer = await self.answer(call, idempotency_key)
        return AsyncJob(answer.data["job_id"], self) if answer.status == 202 else answer.data

    async def submit_batch(
        self,
        operations: list[dict[str, Any]],
        *,
        atomic: bool = False,
        progress: Progress | None = None,
        timeout: float = 600.0,
    ) -> AsyncIterator[dict[str, Any]]:
        """As `Client.submit_batch`: `async for result in await client.submit_batch(...)`."""
        parts = [operations] if atomic and operations else chunks(operations, self.batch_limit)
        ids = [(await self.create_batch(part, atomic=atomic))["batch_id"] for part in parts]
        watch = BatchWatch(len(operations), progress, timeout)
        for batch_id in ids:
            while not watch.completed(
                batch_id, await self.batch(batch_id, wait=watch.wait_seconds())
            ):
                pass
        return self._results(ids)

    async def events(
        self,
        after: str | None = None,
        *,
        type: str | None = None,
        account: str | None = None,
        wait: float = 30.0,
        limit: int = 100,
    ) -> AsyncIterator[dict[str, Any]]:
        """As `Client.events`: `async for event in client.events(...)`."""
        while True:
            page = await self.events_page(after, limit, type, account, wait)
            for event in page["events"]:
                yield event
            after = page["next_after"] or after

    async def _results(self, ids: list[str]) -> AsyncIterator[dict[str, Any]]:
        first = 0
        for batch_id in ids:
            offset = 0
            while True:
                page = await self.batch_results(batch_id, offset, RESULTS_PAGE)
                for result in page["results"]:
                    yield in_submission(result, first)
                offset += len(page["results"])
                if not page["results"] or offset >= page["total"]:
                    break
            first += offset


def _poll(read: Callable[[float], dict[str, Any]], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        job = read(max(0.0, min(left, 30.0)))
        if job["status"] in ("succeeded", "failed") or left <= 0:
            return job


def in_submission(result: dict[str, Any], first: int) -> dict[str, Any]:
    """A batch's result with `index` counted in the caller's whole list (`batch_index`: in
    the batch that carried it)."""
    return {**result, "index": first + result["index"], "batch_index": result["index"]}


def _outcome(job: dict[str, Any]) -> Any:
    """A final job's result, its error raised; a job still queued at the deadline raises
    TimeoutError. The result carries the job's own fields too (a withdrawal's or deposit's
    job keeps only `new_balance` in its `result`)."""
    if job["status"] == "succeeded":
        fields = ("job_id", "type", "account_number", "amount")
        return {**{name: job[name] for name in fields if name in job}, **(job["result"] or {})}
    if job["status"] == "failed":  # status 0: not an HTTP error, a job's outcome
        raise error_from(0, {"error": {**job["error"], "job_id": job["job_id"]}})
    raise TimeoutError(f"job {job['job_id']} is still {job['status']}")


__all__ = ["ApiError", "AsyncClient", "AsyncJob", "Client", "Job"]
