"""Sending webhook events: claim what is due, POST it signed, record what came of it.

Runs in the sender process (`python -m worker.sender`), never in a partition worker, so a
receiver that hangs or fails for hours costs the appliers nothing. Each round claims up to
CLAIM_SIZE due deliveries in one write transaction (moving their next attempt past the
claim time, so a second sender does not take them too), sends them on a pool of threads,
and records every result in one more. A sender that dies mid-round leaves its claims to
run out: those deliveries are sent again (at least once, never lost).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

import urllib3
from redis.exceptions import RedisError
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shared.batches import batch_progress
from shared.errors import InvalidWebhookUrl
from shared.metrics import WEBHOOK_DELIVERIES
from shared.models import (
    BATCH_COMPLETED,
    DELIVERED,
    FAILED,
    HOLD_EXPIRED,
    IS_PENDING,
    Hold,
    Job,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from shared.outbox import WEBHOOKS_DOORBELL
from shared.settings import Settings
from shared.timestamps import iso
from shared.views import batch_view, hold_view, job_view
from shared.webhook_targets import Target, resolve
from shared.webhooks import signature
from worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)

CLAIM_SIZE = 500
CLAIM_SECONDS = 120  # well past a round's longest possible time
MAX_RESPONSE_BYTES = 64 * 1024  # a receiver's answer is read this far, then dropped
MAX_DELAY = timedelta(days=1)
USER_AGENT = "atm-webhooks/1"


class Due(NamedTuple):
    id: int
    event_id: str
    webhook_id: str
    type: str
    subject_id: str
    attempts: int
    created_at: datetime


@dataclass
class Result:
    """What one send came to: a status code, or an error without one; `deferred` for a
    delivery not tried because its receiver had already failed in this round."""

    due: Due
    status_code: int | None = None
    error: str | None = None
    deferred: bool = False
    gone: bool = False  # its webhook was deleted: never to be sent

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def deliver_due(runtime: WorkerRuntime) -> int:
    """Send every delivery that is due, round after round; returns how many were delivered.

    The doorbell is cleared first, so an event recorded after the first claim rings again.
    """
    try:
        runtime.redis.delete(WEBHOOKS_DOORBELL)
    except RedisError as exc:
        log.warning("could not clear the webhook doorbell: %s", exc)
    delivered = 0
    while not runtime.stopping.is_set():
        with runtime.database.writing() as session:
            due = claim(session, utcnow(), CLAIM_SIZE)
        if not due:
            break
        results = sender(runtime.settings).send(runtime, due)
        with runtime.database.writing() as session:
            record(session, results, runtime.settings)
        delivered += sum(result.delivered for result in results)
    return delivered


def claim(session: Session, now: datetime, size: int) -> list[Due]:
    """Up to `size` pending deliveries due by `now`, oldest due first, claimed for this
    round. On PostgreSQL rows another sender is claiming are skipped, not waited for."""
    query = _DUE.limit(size)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    due = [Due(*row) for row in session.execute(query, {"now": now})]
    if due:
        session.execute(
            _CLAIM,
            {"ids": [d.id for d in due], "until": now + timedelta(seconds=CLAIM_SECONDS)},
        )
    return due


def record(session: Session, results: list[Result], settings: Settings) -> None:
    """Delivered, failed for good, or due again after an exponential backoff."""
    now = utcnow()
    finished, retried, deferred = [], [], []
    tally: Counter[str] = Counter()
    for result in results:
        due = result.due
        if result.deferred:
            deferred.append({"key": due.id, "next": now + _backoff(settings, 1)})
            continue
        attempts = due.attempts + 1
        common = {
            "key": due.id,
            "attempts": attempts,
            "code": result.status_code,
            "error": None if result.delivered else (result.error or f"HTTP {result.status_code}"),
        }
        if result.delivered or result.gone or attempts >= settings.webhook_max_attempts:
            status = DELIVERED if result.delivered else FAILED
            finished.append({**common, "status": status, "completed_at": now})
            tally[status] += 1
        else:
            retried.append({**common, "next": now + _backoff(settings, attempts)})
            tally["retry"] += 1
    for statement, rows in ((_FINISH, finished), (_RETRY, retried), (_DEFER, deferred)):
        if rows:
            session.execute(statement, rows)
    for result_name, count in tally.items():
        WEBHOOK_DELIVERIES.labels(result_name).inc(count)
    failures = [r for r in results if not r.delivered and not r.deferred]
    for result in failures[:10]:  # a receiver that is down fails hundreds at once
        log.warning(
            "webhook delivery failed",
            extra={
                "webhook_id": result.due.webhook_id,
                "event_id": result.due.event_id,
                "status_code": result.status_code,
                "error": result.error,
                "attempts": result.due.attempts + 1,
            },
        )


def _backoff(settings: Settings, attempts: int) -> timedelta:
    """base, twice base, four times base … after the first, second, third failed attempt."""
    seconds = settings.webhook_retry_base_seconds * 2 ** min(attempts - 1, 30)
    return min(timedelta(seconds=seconds), MAX_DELAY)


class Sender:
    """The HTTP side: a thread pool, and a connection pool per checked address."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.threads = ThreadPoolExecutor(settings.webhook_concurrency, "webhook")
        self.pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self.timeout = urllib3.Timeout(total=settings.webhook_timeout_seconds)

    def send(self, runtime: WorkerRuntime, due: list[Due]) -> list[Result]:
        with runtime.database.read.begin() as session:
            webhooks = _webhooks(session, {d.webhook_id for d in due})
            bodies = _bodies(session, due)
        targets: dict[str, Target | str] = {}  # webhook id -> target, or why there is none
        for webhook_id, webhook in webhooks.items():
            try:
                targets[webhook_id] = resolve(
                    webhook.url, allow_private=self.settings.webhook_allow_private
                )
            except InvalidWebhookUrl as exc:
                targets[webhook_id] = exc.message
        failed_receivers: set[str] = set()

        def send_one(item: Due) -> Result:
            webhook = webhooks.get(item.webhook_id)
            if webhook is None:
                return Result(item, error="webhook deleted", gone=True)
            if item.webhook_id in failed_receivers:
                return Result(item, deferred=True)
            target = targets[item.webhook_id]
            if isinstance(target, str):
                return Result(item, error=target)
            result = self.post(target, webhook.secret, item, bodies[item.id])
            if not result.delivered:
                failed_receivers.add(item.webhook_id)
            return result

        return list(self.threads.map(send_one, due))

    def post(self, target: Target, secret: str, item: Due, body: bytes) -> Result:
        headers = {
            "Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "ATM-Event-Id": item.event_id,
            "ATM-Signature": signature(secret, int(time.time()), body),
        }
        try:
            response = self._pool(target).urlopen(
                "POST",
                target.path,
                body=body,
                headers=headers,
                redirect=False,  # a redirect could lead anywhere, private addresses included
                retries=False,
                preload_content=False,
                timeout=self.timeout,
            )
        except urllib3.exceptions.HTTPError as exc:
            return Result(item, error=_describe(exc))
        try:
            response.read(MAX_RESPONSE_BYTES)
        except urllib3.exceptions.HTTPError:
            pass  # the status is what counts
        finally:
            if response.length_remaining == 0:
                response.release_conn()
            else:
                response.close()
        return Result(item, status_code=response.status)

    def _pool(self, target: Target) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, target.address, target.port, target.host)
        pool = self.pools.get(key)
        if pool is None:
            size = self.settings.webhook_concurrency
            if target.scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    target.address,
                    target.port,
                    maxsize=size,
                    server_hostname=target.host,
                    assert_hostname=target.host,
                    cert_reqs="CERT_REQUIRED",
                )
            else:
                pool = urllib3.HTTPConnectionPool(target.address, target.port, maxsize=size)
            self.pools[key] = pool
        return pool


@cache
def sender(settings: Settings) -> Sender:
    return Sender(settings)


def _describe(exc: Exception) -> str:
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"[:255]


def _webhooks(session: Session, ids: set[str]) -> dict[str, Webhook]:
    found = session.scalars(
        select(Webhook).where(Webhook.webhook_id.in_(ids), Webhook.deleted_at.is_(None))
    )
    return {webhook.webhook_id: webhook for webhook in found}


def _bodies(session: Session, due: list[Due]) -> dict[int, bytes]:
    """Each delivery's JSON body: `{event_id, type, created_at, data}`, `data` being the
    view of the job, batch or hold the event is about."""
    subjects: dict[str, dict[str, object] | None] = {}
    jobs = {d.subject_id for d in due if d.type not in (BATCH_COMPLETED, HOLD_EXPIRED)}
    if jobs:
        for job in session.scalars(select(Job).where(Job.job_id.in_(jobs))):
            subjects[job.job_id] = job_view(job)
    holds = {d.subject_id for d in due if d.type == HOLD_EXPIRED}
    if holds:
        for hold in session.scalars(select(Hold).where(Hold.hold_id.in_(holds))):
            subjects[hold.hold_id] = hold_view(hold)
    for batch_id in {d.subject_id for d in due if d.type == BATCH_COMPLETED}:
        subjects[batch_id] = batch_view(batch_progress(session, batch_id))
    return {
        d.id: json.dumps(
            {
                "event_id": d.event_id,
                "type": d.type,
                "created_at": iso(d.created_at),
                "data": subjects.get(d.subject_id),
            },
            separators=(",", ":"),
        ).encode()
        for d in due
    }


_deliveries = WebhookDelivery.__table__
_DUE = (
    select(
        _deliveries.c.id,
        _deliveries.c.event_id,
        _deliveries.c.webhook_id,
        _deliveries.c.type,
        _deliveries.c.subject_id,
        _deliveries.c.attempts,
        _deliveries.c.created_at,
    )
    .where(IS_PENDING, _deliveries.c.next_attempt_at <= bindparam("now"))
    .order_by(_deliveries.c.next_attempt_at)
)
_CLAIM = (
    update(_deliveries)
    .where(_deliveries.c.id.in_(bindparam("ids", expanding=True)))
    .values(next_attempt_at=bindparam("until"))
)
_BY_KEY = _deliveries.c.id == bindparam("key")
_FINISH = (
    update(_deliveries)
    .where(_BY_KEY)
    .values(
        status=bindparam("status"),
        attempts=bindparam("attempts"),
        last_status_code=bindparam("code"),
        last_error=bindparam("error"),
        completed_at=bindparam("completed_at"),
    )
)
_RETRY = (
    update(_deliveries)
    .where(_BY_KEY)
    .values(
        attempts=bindparam("attempts"),
        last_status_code=bindparam("code"),
        last_error=bindparam("error"),
        next_attempt_at=bindparam("next"),
    )
)
_DEFER = update(_deliveries).where(_BY_KEY).values(next_attempt_at=bindparam("next"))
