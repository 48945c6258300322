"""What both clients share: each endpoint as a request to make, the answers read with money
as Decimal, and the retry policy. No I/O here: `Client` and `AsyncClient` send."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from atm_client.errors import error_from

# What is retried: no answer at all, and the answers that say "later" (rate limited, or a
# proxy or the service overloaded). Every POST carries an idempotency key, so a retry of one
# whose answer was lost is applied once.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
Money = Decimal | int | str


@dataclass(frozen=True)
class Call:
    """One request to make: `idempotent` POSTs get an Idempotency-Key, the same on every
    retry. `raw` answers are returned as text (a CSV statement), not as the envelope."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bool = False

    def prepared(self, idempotency_key: str | None) -> Call:
        """With its Idempotency-Key: the caller's, or a new one for a POST."""
        if self.method != "POST":
            return self
        key = idempotency_key or str(uuid.uuid4())
        return Call(
            self.method,
            self.path,
            self.params,
            self.body,
            {**self.headers, "Idempotency-Key": key},
            self.raw,
        )


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any
    headers: dict[str, str]


def read_answer(status: int, text: str, headers: dict[str, str], raw: bool) -> Answer:
    """The answer's data (numbers as Decimal), or its error raised as the exception of its
    type."""
    if raw and status < 300:
        return Answer(status, text, headers)
    try:
        body = json.loads(text, parse_float=Decimal) if text else None
    except ValueError:
        body = None
    if status >= 400 or not isinstance(body, dict) or body.get("success") is False:
        raise error_from(status, body, text, headers.get("content-type", ""))
    return Answer(status, body.get("data"), headers)


def retry_delay(attempt: int, status: int | None, headers: dict[str, str], base: float) -> float:
    """How long to wait before retry `attempt` (0 first): the answer's Retry-After when it
    gives one in seconds, else exponential backoff with jitter, at most 10 s."""
    given = headers.get("retry-after") if status is not None else None
    if given is not None and given.strip().isdigit():
        return min(float(given), 60.0)
    return min(10.0, base * 2**attempt) * (0.5 + random.random() / 2)


def should_retry(status: int | None) -> bool:
    """None: no answer (a connection error or a timeout)."""
    return status is None or status in RETRY_STATUSES


def money(amount: Money) -> str:
    """An amount as the API takes it, exactly: a decimal string ("12.34"). Floats are
    refused: they cannot say a cent exactly."""
    if isinstance(amount, float):
        raise TypeError("amounts are Decimal, int or str, not float")
    return format(Decimal(str(amount)), "f")


def moment(value: datetime | str) -> str:
    """A date-time query value: an aware datetime, or RFC 3339 text as it is."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("moments need a time zone (an aware datetime)")
    return value.isoformat()


def tags(reference: str | None, metadata: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if reference is not None:
        body["reference"] = reference
    if metadata is not None:
        body["metadata"] = metadata
    return body


def prefer(wait: float | None, respond_async: bool = False) -> dict[str, str]:
    parts = ["respond-async"] if respond_async else []
    if wait is not None:
        parts.append(f"wait={wait:g}")
    return {"Prefer": ", ".join(parts)} if parts else {}


class BatchWatch:
    """Waiting for the batches of one submission: progress counted over all of them, one
    deadline for the whole wait."""

    def __init__(self, total: int, progress: Callable[[int, int], None] | None, timeout: float):
        self.total, self.progress = total, progress
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.done: dict[str, int] = {}

    def wait_seconds(self) -> float:
        """How long the next long-poll may wait."""
        return min(30.0, max(0.0, self.deadline - time.monotonic()))

    def completed(self, batch_id: str, view: dict[str, Any]) -> bool:
        """Whether the batch `view` shows is completed; TimeoutError once the time is up."""
        self.done[batch_id] = view["succeeded"] + view["failed"]
        if self.progress is not None:
            self.progress(sum(self.done.values()), self.total)
        if view["status"] == "completed":
            return True
        if time.monotonic() > self.deadline:
            raise TimeoutError(f"batch {batch_id} did not complete in {self.timeout} s")
        return False


def chunks(operations: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [operations[start : start + size] for start in range(0, len(operations), size)]


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}
