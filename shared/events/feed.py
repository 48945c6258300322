"""The events feed: every event, in commit order, for readers that follow a cursor.

Each apply transaction that finishes jobs, expires holds or completes batches writes one
`event_log` row naming them (`record_feed`), whether or not a webhook subscribes. A row's
events are its steps in the order applied (a single job: one event; a run of batch
operations: one per operation), then its holds, then its batches; an event's id says its
row and its place there (`event_id`), so a cursor finds its row by primary key.

Commit order. A reader that follows `next_after` must never have an event committed after
its page placed before that page's last event. An id (or a sequence number) taken inside a
transaction does not give that on PostgreSQL: a transaction that took an earlier number
can commit later, after a reader has gone past it. So a row's `position` is given only
after its commit: `sequence` numbers the committed rows that have none, in one statement,
under a transaction-scoped advisory lock, after the highest position given so far; a row
committed later is not visible to that statement and gets a higher number from a later
one. Positions are thus given in an order consistent with the commits, and a reader reads
only rows that have one, after its cursor's. On SQLite write transactions run one at a
time, so a row's id is already its commit order: it is written with `position = id`.

The data of an event is the view of its job, hold or batch as the transaction that made
it left it: what a row names is final once that transaction commits, except a job's
`reversed_by` (a later reversal's), which an event's data leaves out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import ScalarSelect, bindparam, delete, func, insert, null, select, text
from sqlalchemy.orm import Session

from shared.ledger.chunk import Outcome, PartRun
from shared.store.bulk import reserve_ids
from shared.store.models import (
    EventLog,
)
from shared.store.prepared import Prepared
from shared.timestamps import as_utc

# One request looks at no more events than this (each it does not show costs a few µs).
EXAMINED_PER_PAGE = 20_000
# Rows read at a time.
WINDOW = 200
# The 12 bits after an event id's version nibble: they tell an event id from a job's.
_MARK = 0xE7E
_SEQUENCER_LOCK = 0x41544D4556  # "ATMEV": the advisory lock of `sequence`
SEQUENCED_AT_ONCE = 10_000  # rows one call of `sequence` numbers at most


def event_id(row_id: int, index: int) -> str:
    """The id of event `index` of log row `row_id`: a UUIDv8 holding both."""
    value = (row_id << 80) | (8 << 76) | (_MARK << 64) | (0b10 << 62) | index
    return str(uuid.UUID(int=value))


def parse_event_id(value: str) -> tuple[int, int] | None:
    """The row and index an event id names, or None if it is not one."""
    try:
        number = uuid.UUID(value).int
    except ValueError:
        return None
    if str(uuid.UUID(int=number)) != value:  # only the canonical lowercase form
        return None
    if (number >> 76) & 0xF != 8 or (number >> 64) & 0xFFF != _MARK or number >> 62 & 3 != 2:
        return None
    return number >> 80, number & ((1 << 62) - 1)


def record_feed(
    session: Session,
    steps: Sequence[Outcome | PartRun],
    expired_holds: Sequence[str],
    completed_batches: Sequence[str],
    now: datetime,
    *,
    also: ScalarSelect | None = None,
) -> tuple[int | None, object]:
    """Write the transaction's events as one row, in the transaction: its id (None when
    there are none), and the value of the scalar subquery `also` read right after it in
    the same transaction (None without a row): on PostgreSQL in the insert's own round
    trip. Its events are numbered in the order `_row_events` reads them."""
    if not (steps or expired_holds or completed_batches):
        return None, None
    encoded = json.dumps(
        [
            step.job_id
            if type(step) is Outcome
            else [step.part, step.operations[0][0], len(step.operations)]  # type: ignore[union-attr]
            for step in steps
        ],
        separators=(",", ":"),
    )
    values = {
        "steps": encoded,
        "holds": " ".join(expired_holds),
        "batches": " ".join(completed_batches),
        "created_at": now,
    }
    if session.get_bind().dialect.name == "postgresql":
        # The id from the sequence, read back by the insert; the position is given after
        # the commit.
        row_id, value = _inserting_returning(also).execute(session, values)[0]
        return row_id, value
    # SQLite: the id taken before the insert, so that it is the position too.
    row_id = reserve_ids(session, _log, 1)[0]
    _INSERT.execute(session, {"id": row_id, "position": row_id, **values})
    return row_id, (None if also is None else _reading(also).execute(session)[0][0])


@cache
def _inserting_returning(also: ScalarSelect | None) -> Prepared:
    """PostgreSQL's insert of a row, returning its id and `also`."""
    statement = insert(_log).values(
        steps=bindparam("steps"),
        holds=bindparam("holds"),
        batches=bindparam("batches"),
        created_at=bindparam("created_at", type_=_log.c.created_at.type),
    )
    return Prepared(statement.returning(_log.c.id, also if also is not None else null()))


@cache
def _reading(also: ScalarSelect) -> Prepared:
    return Prepared(select(also))


def sequence(session: Session) -> None:
    """Give positions to committed rows that have none, up to SEQUENCED_AT_ONCE of them,
    oldest first (PostgreSQL; on SQLite every row has its position from the start). In the
    caller's write transaction. When another reader is numbering, this one leaves it to
    them: what it would number gets a position from them or from a later call, after
    every position given before, which is all a reader relies on."""
    if session.get_bind().dialect.name != "postgresql":
        return
    if session.scalar(_TRY_LOCK, {"key": _SEQUENCER_LOCK}):
        session.execute(_SEQUENCE, {"most": SEQUENCED_AT_ONCE})


def purge_events(session: Session, before: datetime, rows: int = 1000) -> int:
    """Delete up to `rows` of the oldest log rows written before `before`; how many. The
    newest row is always kept: on SQLite a new row's id is the highest one plus one, and an
    emptied log would give ids (and so event ids, which webhook receivers de-duplicate on)
    a second time."""
    first = session.scalar(select(_log.c.created_at).order_by(_log.c.id).limit(1))
    if first is None or as_utc(first) >= before:  # the usual case: nothing to remove yet
        return 0
    newest = session.scalar(select(func.max(_log.c.id)))
    oldest = session.execute(
        select(_log.c.id, _log.c.created_at)
        .where(_log.c.id < newest)
        .order_by(_log.c.id)
        .limit(rows)
    ).all()
    ids = [row_id for row_id, created_at in oldest if as_utc(created_at) < before]
    if ids:
        session.execute(delete(_log).where(_log.c.id.in_(ids)))
    return len(ids)


_log = EventLog.__table__
_INSERT = Prepared(
    insert(_log).values(
        id=bindparam("id"),
        position=bindparam("position"),
        steps=bindparam("steps"),
        holds=bindparam("holds"),
        batches=bindparam("batches"),
        created_at=bindparam("created_at", type_=_log.c.created_at.type),
    )
)
# The committed rows without a position, numbered in id order after the highest given.
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
_SEQUENCE = text(
    "UPDATE event_log AS e SET position = n.position FROM ("
    " SELECT id, (SELECT COALESCE(MAX(position), 0) FROM event_log)"
    " + row_number() OVER (ORDER BY id) AS position"
    " FROM (SELECT id FROM event_log WHERE position IS NULL ORDER BY id LIMIT :most) AS u) AS n"
    " WHERE e.id = n.id"
)
