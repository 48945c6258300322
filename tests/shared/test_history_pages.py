"""Pages of an account's history read through its chain, on SQLite and PostgreSQL, against
a plain reading of the ledger: every cursor, filters whose matches lie windows apart, and
cursors that are not the account's entries."""

from __future__ import annotations

from sqlalchemy import select

from shared.ledger.accounts import FILTER_WINDOW, list_transactions, open_account
from shared.store.db import Database
from shared.store.models import LedgerEntry
from tests.shared.ledger_rows import add_entries


def history(database: Database, number: str, count: int, withdraw_every: int) -> list[int]:
    """`count` entries of `number` (every `withdraw_every`-th a withdrawal with reference
    "w"), interleaved with another account's; the account's entry ids, oldest first."""
    with database.writing() as session:
        open_account(session, number, 5)  # its first entry, the opening
        open_account(session, number + "9", 0)
        rows = []
        for index in range(1, count + 1):
            withdrawal = index % withdraw_every == 0
            rows.append(
                {
                    "account_number": number,
                    "type": "withdraw" if withdrawal else "deposit",
                    "amount": 1,
                    "balance_after": 5 + index,
                    "reference": "w" if withdrawal else None,
                }
            )
            rows.append(
                {
                    "account_number": number + "9",
                    "type": "deposit",
                    "amount": 1,
                    "balance_after": index,
                }
            )
        add_entries(session, rows)
        query = select(LedgerEntry.id).where(LedgerEntry.account_number == number)
        return list(session.scalars(query.order_by(LedgerEntry.id)))


def every_page(database: Database, number: str, limit: int, **filters: str) -> list[list[int]]:
    pages, before = [], None
    with database.read.begin() as session:
        while True:
            page, before = list_transactions(session, number, limit, before, **filters)
            pages.append([entry.id for entry in page])
            if before is None:
                return pages


def test_pages_follow_the_chain_from_the_newest_entry_to_the_opening(database: Database) -> None:
    ids = history(database, "5100", 120, 7)
    newest_first = ids[::-1]
    for limit in (1, 16, 17, 50, 121, 500):
        pages = every_page(database, "5100", limit)
        assert [entry for page in pages for entry in page] == newest_first, limit
        assert all(len(page) == limit for page in pages[:-1])
        assert pages[-1]  # the cursor is given only when something follows


def test_a_filter_whose_matches_lie_windows_apart_pages_through_all_of_them(
    database: Database,
) -> None:
    every = FILTER_WINDOW + 7
    ids = history(database, "5200", 3 * every + 5, every)
    matches = [ids[index] for index in range(len(ids)) if index % every == 0 and index][::-1]
    assert len(matches) == 3
    for filters in ({"entry_type": "withdraw"}, {"reference": "w"}):
        assert every_page(database, "5200", 2, **filters) == [matches[:2], matches[2:]]
        assert every_page(database, "5200", 3, **filters) == [matches]
    with database.read.begin() as session:
        assert list_transactions(session, "5200", 5, None, entry_type="capture") == ([], None)


def test_a_cursor_is_any_id_the_entries_below_it_follow(database: Database) -> None:
    ids = history(database, "5300", 40, 5)
    other = history(database, "5400", 3, 2)
    with database.read.begin() as session:
        for before, expected in (
            (ids[-1] + 10_000, ids[::-1][:5]),  # beyond every id
            (ids[20], ids[15:20][::-1]),  # one of its entries
            (ids[20] + 1, ids[16:21][::-1]),  # another account's entry, between its own
            (other[0], ids[::-1][:5]),  # a later account's entry
            (ids[0], []),  # its first entry: nothing before it
            (0, []),
        ):
            page, _ = list_transactions(session, "5300", 5, before)
            assert [entry.id for entry in page] == expected, before
