"""An account's balance at a past moment, and its statement for a period, from the ledger.

An account's entries have non-decreasing `created_at` along its chain, so "the last entry
dated at or before a moment" is one search of the chain (shared.ledger.chain), and a
statement's entries are those after the opening balance's entry up to the closing
balance's: a walk back from the closing one, whose length the two entries' `seq` give
before it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from shared.errors import InvalidParameter
from shared.ledger import chain
from shared.ledger.accounts import get_account
from shared.store.models import CREDIT, DEBIT, LedgerEntry, entry_direction

MAX_STATEMENT_ENTRIES = 10_000


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
    entry = chain.last_where(session, account_number, chain.at_or_before(moment))
    return 0 if entry is None else entry.balance_after


def statement(session: Session, account_number: str, start: datetime, end: datetime) -> Statement:
    """The account's entries dated in (`start`, `end`], and its balances at both ends."""
    get_account(session, account_number)
    opening = chain.last_where(session, account_number, chain.at_or_before(start))
    closing = chain.last_where(session, account_number, chain.at_or_before(end))
    entries: list[LedgerEntry] = []
    if closing is not None and (opening is None or closing.id > opening.id):
        count = closing.seq - (0 if opening is None else opening.seq)
        if count > MAX_STATEMENT_ENTRIES:
            raise InvalidParameter(
                f"the period holds more than {MAX_STATEMENT_ENTRIES} entries: ask for a shorter one"
            )
        entries = chain.entries(session, closing.id, count)
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
