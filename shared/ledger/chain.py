"""Reading an account's ledger through its chain: each entry names the account's previous
one (`prev_id`) and its place among them (`seq`), and only every ANCHOR_EVERY-th entry is in
the index by account (see LedgerEntry).

An account's entries have increasing ids and non-decreasing dates along `seq` (the applier
dates a chunk no earlier than the last entry of any account it touches, under their locks;
revision 0006). So "the last entry whose id, or date, is at most x" is found by bisecting
the anchors (one index probe each, a few dozen at most, whatever the account's size), then
walking back at most ANCHOR_EVERY - 1 entries from the next anchor or the newest entry.

A walk is one recursive query: each step is one read by primary key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import CTE, bindparam, literal, select
from sqlalchemy.orm import Session

from shared.store.models import ANCHOR_EVERY, IS_ANCHOR, Account, LedgerEntry
from shared.timestamps import as_utc

_ledger = LedgerEntry.__table__


class Link(NamedTuple):
    """What a search reads of an entry."""

    id: int
    created_at: datetime
    balance_after: int
    seq: int
    prev_id: int | None
    type: str
    reference: str | None


def newest(session: Session, account_number: str) -> Link | None:
    """The account's newest entry, or None when it has none."""
    return _link(session.execute(_NEWEST, {"number": account_number}).first())


def last_where(session: Session, account_number: str, keep: Callable[[Link], bool]) -> Link | None:
    """The account's last entry for which `keep` holds, or None.

    `keep` must hold for a prefix of the account's entries (as "dated at or before a
    moment" or "with an id below a cursor" does): the anchors are bisected on it.
    """
    top = newest(session, account_number)
    if top is None or keep(top):
        return top
    # Anchor k is the entry with seq 1 + k * ANCHOR_EVERY; `keep` holds for anchor `low`
    # (or low is -1: no anchor yet) and not for anchor `high` (or high is past the last).
    low, high = -1, (top.seq - 1) // ANCHOR_EVERY + 1
    kept, upper = None, top
    while high - low > 1:
        middle = (low + high) // 2
        anchor = _link(
            session.execute(
                _ANCHOR, {"number": account_number, "seq": 1 + middle * ANCHOR_EVERY}
            ).first()
        )
        if anchor is None:  # a gap in the numbering: the audit reports it
            raise LookupError(f"account {account_number}: no entry {1 + middle * ANCHOR_EVERY}")
        if keep(anchor):
            low, kept = middle, anchor
        else:
            high, upper = middle, anchor
    if kept is None:
        return None
    # The answer is `kept` or one of the entries between it and `upper`.
    for link in walk(session, upper.prev_id, upper.seq - kept.seq):
        if keep(link):
            return link
    return kept


def walk(session: Session, start: int | None, steps: int) -> list[Link]:
    """Entry `start` and the ones before it on its account, `steps` at most, newest first."""
    if start is None or steps <= 0:
        return []
    rows = session.execute(_WALK, {"start": start, "steps": steps})
    return sorted(map(Link._make, rows), key=lambda link: link.id, reverse=True)


def entries(session: Session, start: int, steps: int) -> list[LedgerEntry]:
    """As `walk`, but whole entries, oldest first."""
    query = (
        select(LedgerEntry)
        .join(_CHAIN, LedgerEntry.id == _CHAIN.c.id)
        .order_by(LedgerEntry.id)
        .params(start=start, steps=steps)
    )
    return list(session.scalars(query))


def at_or_before(moment: datetime) -> Callable[[Link], bool]:
    return lambda link: as_utc(link.created_at) <= moment


def _link(row: object) -> Link | None:
    return None if row is None else Link._make(row)  # type: ignore[arg-type]


def _chain() -> CTE:
    """Entry :start and up to :steps - 1 before it, through prev_id."""
    first = (
        select(_ledger.c.id, _ledger.c.prev_id, literal(1).label("depth"))
        .where(_ledger.c.id == bindparam("start"))
        .cte("chain", recursive=True)
    )
    step = (
        select(_ledger.c.id, _ledger.c.prev_id, first.c.depth + 1)
        .join(first, _ledger.c.id == first.c.prev_id)
        .where(first.c.depth < bindparam("steps"))
    )
    return first.union_all(step)


_COLUMNS = (
    _ledger.c.id,
    _ledger.c.created_at,
    _ledger.c.balance_after,
    _ledger.c.seq,
    _ledger.c.prev_id,
    _ledger.c.type,
    _ledger.c.reference,
)
_CHAIN = _chain()
_WALK = select(*_COLUMNS).join(_CHAIN, _ledger.c.id == _CHAIN.c.id)
_NEWEST = (
    select(*_COLUMNS)
    .join(Account.__table__, Account.__table__.c.last_entry_id == _ledger.c.id)
    .where(Account.__table__.c.account_number == bindparam("number"))
)
# IS_ANCHOR word for word, as in the index: how both databases know it holds the row.
_ANCHOR = select(*_COLUMNS).where(
    _ledger.c.account_number == bindparam("number"), IS_ANCHOR, _ledger.c.seq == bindparam("seq")
)
