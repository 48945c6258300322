"""The database side of a round: due work claimed in one write transaction, results in another."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import NamedTuple

from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from shared.config.settings import Settings
from shared.events.outbox import event_id
from shared.metrics import WEBHOOK_DELIVERIES
from shared.store.bulk import BulkStatement
from shared.store.models import IS_PENDING, PENDING, WebhookDelivery, WebhookEvent, utcnow
from shared.timestamps import as_utc
from worker.webhooks.due import Due, Result
from worker.webhooks.policy import state_after

log = logging.getLogger(__name__)

EVENT_ROWS_PER_ROUND = 100  # outbox rows read at most per round (each one transaction's)
CLAIM_SECONDS = 120  # well past a round's longest possible time


class FreshEvents(NamedTuple):
    """An outbox row: events of one type for the webhooks subscribed then."""

    type: str
    webhook_ids: str
    subject_ids: str
    created_at: datetime
    event_ids: str | None  # the feed's, in the subjects' order (None: a row of before it)


@dataclass
class Round:
    """What one round sends: the events of the outbox rows `event_rows`, and retries."""

    event_rows: list[int]
    fresh: list[FreshEvents]
    retries: list[Due]

    @cached_property
    def due(self) -> list[Due]:
        """Every delivery of the round: each new event once per webhook, then the retries.
        Worked out when first asked, after the claiming transaction, not while it holds
        the database's write lock."""
        due = []
        for events in self.fresh:
            created_at = as_utc(events.created_at)
            webhooks = events.webhook_ids.split()
            subjects = events.subject_ids.split()
            ids = events.event_ids.split() if events.event_ids else None
            for position, subject in enumerate(subjects):
                event = ids[position] if ids else event_id(events.type, subject)
                due.extend(
                    Due(None, event, webhook, events.type, subject, 0, created_at)
                    for webhook in webhooks
                )
        return due + self.retries


@dataclass
class Recording:
    """A round's results as the rows and updates to write, worked out before the write
    transaction begins. New rows are grouped by their timestamps, which are written as
    values shared by the group (see shared.store.bulk)."""

    new: dict[tuple[datetime, datetime, datetime | None], list[tuple]] = field(default_factory=dict)
    finished: list[dict[str, object]] = field(default_factory=list)
    retried: list[dict[str, object]] = field(default_factory=list)
    deferred: list[dict[str, object]] = field(default_factory=list)
    event_rows: list[int] = field(default_factory=list)


def claim(session: Session, now: datetime, size: int) -> Round:
    """The oldest outbox rows (about `size` events) and up to `size` retries due by `now`,
    claimed for this round. On PostgreSQL rows another sender holds are skipped."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    until = now + timedelta(seconds=CLAIM_SECONDS)
    events = _FRESH_EVENTS.with_for_update(skip_locked=True) if postgresql else _FRESH_EVENTS
    rows, fresh, count = [], [], 0
    for row in session.execute(events, {"now": now}).all():
        rows.append(row.id)
        fresh.append(
            FreshEvents(row.type, row.webhook_ids, row.subject_ids, row.created_at, row.event_ids)
        )
        count += (row.subject_ids.count(" ") + 1) * (row.webhook_ids.count(" ") + 1)
        if count >= size:
            break
    if rows:
        session.execute(_CLAIM_EVENTS, {"ids": rows, "until": until})
    retries = _DUE.limit(size)
    if postgresql:
        retries = retries.with_for_update(skip_locked=True)
    claimed = [Due(*row) for row in session.execute(retries, {"now": now})]
    if claimed:
        session.execute(_CLAIM, {"ids": [d.id for d in claimed], "until": until})
    return Round(rows, fresh, claimed)


def prepare(work: Round, results: list[Result], settings: Settings) -> Recording:
    """Delivered, failed for good, or due again after an exponential backoff: a new row for
    an event tried for the first time, an update for a retry; and the outbox rows to go."""
    now = utcnow()
    recording = Recording(event_rows=work.event_rows)
    tally: Counter[str] = Counter()
    for result in results:
        due = result.due
        state = state_after(result, settings, now)
        tally[state["result"]] += 1
        if due.id is None:
            key = (due.created_at, state["next"], state["completed_at"])
            recording.new.setdefault(key, []).append(  # type: ignore[arg-type]
                (
                    due.event_id,
                    due.webhook_id,
                    due.type,
                    due.subject_id,
                    state["status"],
                    state["attempts"],
                    state["code"],
                    state["error"],
                )
            )
        elif result.deferred:
            recording.deferred.append({"key": due.id, "next": state["next"]})
        elif state["status"] == PENDING:
            recording.retried.append({"key": due.id, **state})
        else:
            recording.finished.append({"key": due.id, **state})
    for result_name, count in tally.items():
        if result_name != "deferred":
            WEBHOOK_DELIVERIES.labels(result_name).inc(count)
    failures = [r for r in results if not (r.delivered or r.deferred or r.gone)]
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
    return recording


def record(session: Session, recording: Recording) -> None:
    """Write a prepared round's results and delete its outbox rows, in the caller's
    transaction."""
    for (created_at, next_attempt_at, completed_at), rows in recording.new.items():
        _INSERT_DELIVERIES.executemany(
            session,
            rows,
            {
                "created_at": created_at,
                "next_attempt_at": next_attempt_at,
                "completed_at": completed_at,
            },
        )
    for statement, rows in (
        (_FINISH, recording.finished),
        (_RETRY, recording.retried),
        (_DEFER, recording.deferred),
    ):
        if rows:
            session.execute(statement, rows)
    if recording.event_rows:
        session.execute(_DELETE_EVENTS, {"ids": recording.event_rows})


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
_INSERT_DELIVERIES = BulkStatement(
    insert(_deliveries),
    columns=(
        "event_id",
        "webhook_id",
        "type",
        "subject_id",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
    ),
)
_events = WebhookEvent.__table__
_FRESH_EVENTS = (
    select(
        _events.c.id,
        _events.c.type,
        _events.c.webhook_ids,
        _events.c.subject_ids,
        _events.c.event_ids,
        _events.c.created_at,
    )
    .where(or_(_events.c.claimed_until.is_(None), _events.c.claimed_until <= bindparam("now")))
    .order_by(_events.c.id)
    .limit(EVENT_ROWS_PER_ROUND)
)
_IDS = bindparam("ids", expanding=True)
_CLAIM_EVENTS = (
    update(_events).where(_events.c.id.in_(_IDS)).values(claimed_until=bindparam("until"))
)
_DELETE_EVENTS = delete(_events).where(_events.c.id.in_(_IDS))
