"""Recording webhook events in the transaction that makes them true: the outbox.

An apply transaction that finishes a job, completes a batch or expires a hold writes one
delivery row per subscribed webhook before it commits, so an event exists exactly when
its change does: a lost Redis or a killed worker can delay a delivery but never lose or
invent one. Sending is another process's work (worker.delivery).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from shared.bulk import BulkStatement
from shared.models import (
    BATCH_COMPLETED,
    EXPIRED,
    HOLD_EXPIRED,
    JOB_FAILED,
    JOB_SUCCEEDED,
    PENDING,
    SUCCEEDED,
    Batch,
    Webhook,
    WebhookDelivery,
)
from shared.operations import new_id
from shared.rules import Chunk, Outcome

WEBHOOKS_DOORBELL = "atm:doorbell:webhooks"
WEBHOOKS_QUEUE = "atm.webhooks"
DELIVER_TASK = "worker.tasks.deliver_webhooks"


def record_events(session: Session, chunk: Chunk, outcomes: Sequence[Outcome]) -> int:
    """Count the chunk's batch jobs, and write the events it makes true for every webhook
    subscribed to them; returns how many deliveries were written."""
    completed_batches = _count_batch_progress(session, outcomes)
    subscribers = _subscribers(session)
    if not subscribers:
        return 0
    events: list[tuple[str, str]] = []  # (type, subject id)
    for outcome in outcomes:
        kind = JOB_SUCCEEDED if outcome.status == SUCCEEDED else JOB_FAILED
        if kind in subscribers:
            events.append((kind, outcome.job_id))
    if HOLD_EXPIRED in subscribers:
        events.extend(
            (HOLD_EXPIRED, hold.hold_id)
            for hold in chunk.holds.values()
            if hold.changed and hold.status == EXPIRED
        )
    if BATCH_COMPLETED in subscribers and completed_batches:
        completed = session.scalars(_COMPLETED, {"ids": completed_batches})
        events.extend((BATCH_COMPLETED, batch_id) for batch_id in completed)
    rows: list[tuple[str, str, str, str]] = []
    for kind, subject in events:
        event_id = new_id()  # one event, however many webhooks hear of it
        rows.extend((event_id, webhook_id, kind, subject) for webhook_id in subscribers[kind])
    _INSERT_DELIVERIES.executemany(
        session,
        rows,
        {"status": PENDING, "attempts": 0, "created_at": chunk.now, "next_attempt_at": chunk.now},
    )
    return len(rows)


def _subscribers(session: Session) -> dict[str, list[str]]:
    """Each event type's live webhooks, read in the applying transaction: a webhook hears of
    every event committed after its own creation, and of none after its deletion."""
    subscribers: dict[str, list[str]] = {}
    for webhook_id, events in session.execute(_LIVE_WEBHOOKS):
        for kind in events.split():
            subscribers.setdefault(kind, []).append(webhook_id)
    return subscribers


def _count_batch_progress(session: Session, outcomes: Sequence[Outcome]) -> list[str]:
    """Add this chunk's applied jobs to their batches' counters; returns those batches.

    Run last before the commit, in batch-id order: on PostgreSQL two workers applying one
    batch's jobs wait for each other's counter row only briefly, and in a fixed order.
    """
    counts = Counter(o.batch_id for o in outcomes if o.batch_id is not None)
    ordered = sorted(counts)
    _COUNT_APPLIED.executemany(session, [(batch_id, counts[batch_id]) for batch_id in ordered])
    return ordered


_webhooks, _batches = Webhook.__table__, Batch.__table__
_LIVE_WEBHOOKS = select(_webhooks.c.webhook_id, _webhooks.c.events).where(
    _webhooks.c.deleted_at.is_(None)
)
_COMPLETED = select(_batches.c.batch_id).where(
    _batches.c.batch_id.in_(bindparam("ids", expanding=True)),
    _batches.c.applied >= _batches.c.total,
)
_COUNT_APPLIED = BulkStatement(
    update(_batches)
    .where(_batches.c.batch_id == bindparam("key"))
    .values(applied=_batches.c.applied + bindparam("count")),
    columns=("key", "count"),
)
_INSERT_DELIVERIES = BulkStatement(
    insert(WebhookDelivery.__table__),
    columns=("event_id", "webhook_id", "type", "subject_id"),
)
