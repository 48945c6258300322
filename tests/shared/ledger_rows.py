"""Ledger entries written straight into the table, for tests of what reads them: numbered
and linked into their accounts' chains as the applier links its own."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from shared.store.bulk import reserve_ids
from shared.store.models import Account, LedgerEntry


def add_entries(session: Session, rows: list[dict[str, object]]) -> list[int]:
    """Insert `rows` (LedgerEntry columns, in order) with ids reserved as the applier
    reserves its own, each linked to its account's previous entry; the accounts name their
    new last entries. Returns the ids."""
    ids = reserve_ids(session, LedgerEntry.__table__, len(rows))
    numbers = sorted({row["account_number"] for row in rows})
    chains = {
        number: (last, count or 0)
        for number, last, count in session.execute(
            select(Account.account_number, Account.last_entry_id, Account.entry_count).where(
                Account.account_number.in_(numbers)
            )
        )
    }
    linked = []
    for entry_id, row in zip(ids, rows, strict=True):
        last, count = chains[row["account_number"]]
        linked.append({**row, "id": entry_id, "prev_id": last, "seq": count + 1})
        chains[row["account_number"]] = (entry_id, count + 1)
    session.execute(insert(LedgerEntry), linked)
    for number, (last, count) in chains.items():
        session.execute(
            update(Account)
            .where(Account.account_number == number)
            .values(last_entry_id=last, entry_count=count)
        )
    return [row["id"] for row in linked]
