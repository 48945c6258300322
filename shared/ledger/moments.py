"""An account's balance at a past moment, and its statement for a period, from the ledger.

An account's entries have non-decreasing `created_at` in id order: the applier dates a
chunk's entries no earlier than the last entry of any account it touches, under their locks
(shared.ledger.applying, revision 0006). So "the last entry dated at or before a moment" is
found by bisecting the account's entry ids through the ledger's index by account and id,
the one every history read uses: a few dozen index probes, whatever the account's size, and
no second index by time for every ledger insert to keep up. A statement's entries are then
one range of ids: those after the opening balance's entry, up to the closing balance's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from shared.errors import InvalidParameter
from shared.ledger.accounts import get_account
from shared.store.models import CREDIT, DEBIT, LedgerEntry, entry_direction
from shared.timestamps import as_utc

MAX_STATEMENT_ENTRIES = 10_000


class _Entry(NamedTuple):
    id: int
    created_at: datetime
    balance_after: int


@dataclass(frozen=True)
class Statement:
    """A period of an account's ledger: `from < created_at <= to`, oldest first."""

    account_number: str
    start: datetime
    end: datetime
    opening_balance: int
    closing_balance: int
    credits: int
    debits: int
    entries: list[LedgerEntry]


def balance_at(session: Session, account_number: str, moment: datetime) -> int:
    """The account's balance at `moment`: the balance after its last entry dated at or
    before it (0 before its first)."""
    get_account(session, account_number)
    entry = _last_entry_by(session, account_number, moment)
    return 0 if entry is None else entry.balance_after


def statement(session: Session, account_number: str, start: datetime, end: datetime) -> Statement:
    """The account's entries dated in (`start`, `end`], and its balances at both ends."""
    get_account(session, account_number)
    opening = _last_entry_by(session, account_number, start)
    closing = _last_entry_by(session, account_number, end)
    entries: list[LedgerEntry] = []
    if closing is not None and (opening is None or closing.id > opening.id):
        query = (
            select(LedgerEntry)
            .where(
                LedgerEntry.account_number == account_number,
                LedgerEntry.id > (0 if opening is None else opening.id),
                LedgerEntry.id <= closing.id,
            )
            .order_by(LedgerEntry.id)
            .limit(MAX_STATEMENT_ENTRIES + 1)
        )
        entries = list(session.scalars(query))
        if len(entries) > MAX_STATEMENT_ENTRIES:
            raise InvalidParameter(
                f"the period holds more than {MAX_STATEMENT_ENTRIES} entries: ask for a shorter one"
            )
    moved = {CREDIT: 0, DEBIT: 0}
    for entry in entries:
        direction = entry_direction(entry.type, entry.direction)
        if direction is not None:
            moved[direction] += entry.amount
    return Statement(
        account_number,
        start,
        end,
        0 if opening is None else opening.balance_after,
        0 if closing is None else closing.balance_after,
        moved[CREDIT],
        moved[DEBIT],
        entries,
    )


def _last_entry_by(session: Session, account_number: str, moment: datetime) -> _Entry | None:
    """The account's last entry dated at or before `moment` (of several at one instant, the
    one with the highest id), or None.

    Bisects the span of the account's ids: for an id x, "the last entry up to x is dated
    at or before `moment`" holds up to some x and not after it, as the dates never go down.
    Each probe is one read of the index by account and id.
    """
    newest = _entry(session, _NEWEST, {"number": account_number})
    if newest is None or newest.created_at <= moment:
        return newest
    found = _entry(session, _FIRST, {"number": account_number})
    if found is None or found.created_at > moment:
        return None
    low, high = found.id, newest.id  # the answer's id is in [low, high)
    while high - low > 1:
        middle = (low + high) // 2
        entry = _entry(session, _AT_OR_BEFORE, {"number": account_number, "up_to": middle})
        assert entry is not None  # `found` is at or before `middle`
        if entry.created_at <= moment:
            low, found = middle, entry
        else:
            high = entry.id
    return found


def _entry(session: Session, query: Select, parameters: dict[str, object]) -> _Entry | None:
    row = session.execute(query, parameters).first()
    return None if row is None else _Entry(row[0], as_utc(row[1]), row[2])


_COLUMNS = (LedgerEntry.id, LedgerEntry.created_at, LedgerEntry.balance_after)
_OF_ACCOUNT = LedgerEntry.account_number == bindparam("number")
_NEWEST = select(*_COLUMNS).where(_OF_ACCOUNT).order_by(LedgerEntry.id.desc()).limit(1)
_FIRST = select(*_COLUMNS).where(_OF_ACCOUNT).order_by(LedgerEntry.id).limit(1)
_AT_OR_BEFORE = (
    select(*_COLUMNS)
    .where(_OF_ACCOUNT, LedgerEntry.id <= bindparam("up_to"))
    .order_by(LedgerEntry.id.desc())
    .limit(1)
)
