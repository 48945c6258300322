"""Recording events in the transaction that makes them true: the feed, and the outbox.

Every apply transaction's events go to the feed (shared.events.feed). An apply transaction
that finishes jobs, completes a batch or expires holds also writes, for each such event
type that has subscribers, one outbox row listing the events and the webhooks to tell,
before it commits. So an event exists exactly when its change does: a lost Redis or a
killed worker can delay a delivery but never lose or invent one. Sending, and the row per
delivery, are the sender's work (worker.webhooks.delivery), off the apply path.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, case, func, insert, literal_column, select, update
from sqlalchemy.orm import Session

from shared.accepting.batch_operations import outcome_status
from shared.events.feed import event_id as feed_event_id
from shared.events.feed import record_feed
from shared.ledger.chunk import Chunk, Outcome, PartRun
from shared.store.bulk import BulkStatement
from shared.store.models import (
    BATCH_COMPLETED,
    EXPIRED,
    FAILED,
    HOLD_EXPIRED,
    JOB_FAILED,
    JOB_SUCCEEDED,
    SUCCEEDED,
    Batch,
    Webhook,
    WebhookEvent,
)

WEBHOOKS_DOORBELL = "atm:doorbell:webhooks"
WEBHOOKS_QUEUE = "atm.webhooks"
DELIVER_TASK = "worker.tasks.deliver_webhooks"
_EVENT_NAMESPACE = uuid.UUID("6f1c2a8e-3b1d-4c59-9a57-2d0f5e8b7c41")


def event_id(kind: str, subject_id: str) -> str:
    """The id of an event recorded before the feed (an outbox row without `event_ids`),
    from what it says: a job finishes once, a hold expires once, a batch completes once, so
    (type, subject) is one event, whoever it is sent to and how often. Events recorded
    since carry their id in the feed (shared.events.feed.event_id)."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{kind} {subject_id}"))


def record_events(session: Session, chunk: Chunk, steps: Sequence[Outcome | PartRun]) -> int:
    """Count the chunk's batch jobs, record its events in the feed, and for the webhooks
    subscribed to them in the outbox; returns how many deliveries that makes."""
    outcomes = [step for step in steps if type(step) is Outcome]
    runs = [step for step in steps if type(step) is PartRun]
    touched = _count_batch_progress(session, outcomes, runs, chunk.now)  # type: ignore[arg-type]
    completed = list(session.scalars(_COMPLETED, {"ids": touched})) if touched else []
    expired = [
        hold.hold_id for hold in chunk.holds.values() if hold.changed and hold.status == EXPIRED
    ]
    row_id, live = record_feed(session, steps, expired, completed, chunk.now, also=_LIVE_WEBHOOKS)
    subscribers = _subscribers(live)  # type: ignore[arg-type]
    if not subscribers or row_id is None:
        return 0
    # Each event's subject and its place in the feed's row, in the row's order.
    subjects: dict[str, list[tuple[str, int]]] = {kind: [] for kind in subscribers}
    jobs_wanted = JOB_SUCCEEDED in subjects or JOB_FAILED in subjects
    index = 0
    for step in steps:
        if type(step) is Outcome:
            kind = JOB_SUCCEEDED if step.status == SUCCEEDED else JOB_FAILED
            if kind in subjects:
                subjects[kind].append((step.job_id, index))
            index += 1
            continue
        run: PartRun = step  # type: ignore[assignment]
        if jobs_wanted:
            for offset, (job_id, item) in enumerate(zip(run.job_ids, run.outcomes, strict=True)):
                kind = JOB_SUCCEEDED if outcome_status(item) == SUCCEEDED else JOB_FAILED
                if kind in subjects:
                    subjects[kind].append((job_id, index + offset))
        index += len(run.operations)
    if HOLD_EXPIRED in subjects:
        subjects[HOLD_EXPIRED].extend((hold, index + i) for i, hold in enumerate(expired))
    index += len(expired)
    if BATCH_COMPLETED in subjects:
        subjects[BATCH_COMPLETED].extend((batch, index + i) for i, batch in enumerate(completed))
    rows = [
        (
            kind,
            " ".join(subscribers[kind]),
            " ".join(subject for subject, _ in named),
            " ".join(feed_event_id(row_id, position) for _, position in named),
        )
        for kind, named in subjects.items()
        if named
    ]
    _INSERT_EVENTS.executemany(session, rows, {"created_at": chunk.now})
    return sum(len(named) * len(subscribers[kind]) for kind, named in subjects.items())


def _subscribers(live: str | None) -> dict[str, list[str]]:
    """Each event type's live webhooks, from _LIVE_WEBHOOKS as the applying transaction read
    it after writing its events: a webhook hears of every event committed after its own
    creation, and of none after its deletion."""
    subscribers: dict[str, list[str]] = {}
    for webhook in filter(None, (live or "").split(";")):
        webhook_id, *events = webhook.split()
        for kind in events:
            subscribers.setdefault(kind, []).append(webhook_id)
    return subscribers


def _count_batch_progress(
    session: Session, outcomes: Sequence[Outcome], runs: Sequence[PartRun], now: datetime
) -> list[str]:
    """Add this chunk's applied and failed jobs to their batches' counters, and stamp a
    batch whose last job this is as completed now; returns those batches.

    Run at the end of the apply transaction (only the events it completes are written
    after it), in batch-id order: on PostgreSQL two workers applying one batch's jobs wait
    for each other's counter row only briefly, and in a fixed order.
    """
    # Single jobs with a batch id are operations queued as rows before revision 0005.
    counts = Counter(o.batch_id for o in outcomes if o.batch_id is not None)
    failed = Counter(o.batch_id for o in outcomes if o.batch_id is not None and o.status == FAILED)
    for run in runs:
        counts[run.batch_id] += len(run.operations)
        failed[run.batch_id] += run.failed
    ordered = sorted(counts)
    rows = [(batch_id, counts[batch_id], failed[batch_id]) for batch_id in ordered]
    _COUNT_APPLIED.executemany(session, rows, {"now": now})
    return ordered


_webhooks, _batches = Webhook.__table__, Batch.__table__
# Every live webhook as "id type type …", joined by ";" (ids and types have neither): read
# in every apply transaction with the feed's row (shared.events.feed.record_feed), on
# PostgreSQL in the row's own INSERT … RETURNING, and given straight to the driver.
_LIVE_WEBHOOKS = (
    select(
        func.aggregate_strings(
            _webhooks.c.webhook_id.concat(literal_column("' '")).concat(_webhooks.c.events),
            literal_column("';'"),
        )
    )
    .where(_webhooks.c.deleted_at.is_(None))
    .scalar_subquery()
)
_COMPLETED = select(_batches.c.batch_id).where(
    _batches.c.batch_id.in_(bindparam("ids", expanding=True)),
    _batches.c.applied >= _batches.c.total,
)
_COUNT_APPLIED = BulkStatement(
    update(_batches)
    .where(_batches.c.batch_id == bindparam("key"))
    .values(
        applied=_batches.c.applied + bindparam("count"),
        # Null on batches from before it was kept (they are counted from their jobs).
        failed=_batches.c.failed + bindparam("failed"),
        completed_at=case(
            (
                _batches.c.applied + bindparam("count") >= _batches.c.total,
                bindparam("now", type_=_batches.c.completed_at.type),
            ),
            else_=_batches.c.completed_at,
        ),
    ),
    columns=("key", "count", "failed"),
)
_INSERT_EVENTS = BulkStatement(
    insert(WebhookEvent.__table__), columns=("type", "webhook_ids", "subject_ids", "event_ids")
)
