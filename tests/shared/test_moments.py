"""Balances at a moment and statements, on SQLite and PostgreSQL: the bisection of an
account's ids against a plain reading of its ledger, and the applier's dates that make it
valid (no entry dated before its account's previous one); and the accounts' list order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from shared.accepting.operations import Operation, new_id, record_operation
from shared.errors import AccountNotFound, InvalidParameter
from shared.ledger.accounts import list_accounts, open_account
from shared.ledger.applying import apply_pending
from shared.ledger.moments import MAX_STATEMENT_ENTRIES, balance_at, statement
from shared.store.db import Database
from shared.store.models import Account, LedgerEntry
from shared.timestamps import as_utc
from tests.shared.ledger_rows import add_entries

START = datetime(2026, 1, 1, tzinfo=UTC)


def ledger(database: Database, number: str, moments: list[datetime]) -> list[tuple]:
    """Entries of `number` dated `moments` (in id order), each a deposit of 1.00, with
    another account's entries between them; (id, created_at, balance_after) of each."""
    rows = []
    with database.writing() as session:
        open_account(session, number, 0)
        open_account(session, number + "0", 0)
        add_entries(
            session,
            [
                {
                    "account_number": account,
                    "type": "deposit",
                    "amount": 100,
                    "balance_after": balance,
                    "created_at": moment,
                }
                for index, moment in enumerate(moments, start=1)
                for account, balance in ((number + "0", 7), (number, index * 100))
            ],
        )
        query = select(LedgerEntry.id, LedgerEntry.created_at, LedgerEntry.balance_after)
        for entry_id, created_at, balance in session.execute(
            query.where(LedgerEntry.account_number == number).order_by(LedgerEntry.id)
        ):
            rows.append((entry_id, as_utc(created_at), balance))
    return rows


def expected_balance(rows: list[tuple], moment: datetime) -> int:
    dated = [row for row in rows if row[1] <= moment]
    return dated[-1][2] if dated else 0


def test_a_balance_at_any_moment_is_the_last_entry_dated_at_or_before_it(
    database: Database,
) -> None:
    rng = random.Random(21)
    moments, moment = [], START
    for _ in range(300):  # gaps of microseconds to days, and several entries at one instant
        moment += rng.choice([timedelta(0), timedelta(microseconds=1), timedelta(seconds=3)])
        moment += timedelta(hours=rng.random() < 0.05 and rng.randint(1, 72))
        moments.append(moment)
    rows = ledger(database, "9100", moments)
    probes = [START - timedelta(days=1), moments[0], moments[-1], moments[-1] + timedelta(days=1)]
    probes += [
        m + delta
        for m in rng.sample(moments, 60)
        for delta in (timedelta(0), -timedelta(microseconds=1))
    ]
    with database.read.begin() as session:
        for probe in probes:
            assert balance_at(session, "9100", probe) == expected_balance(rows, probe), probe
        with pytest.raises(AccountNotFound):
            balance_at(session, "9199", START)


def test_a_statement_is_the_entries_between_its_two_balances(database: Database) -> None:
    moments = [START + timedelta(minutes=index // 3) for index in range(30)]
    rows = ledger(database, "9200", moments)
    with database.read.begin() as session:
        start, end = START + timedelta(minutes=2), START + timedelta(minutes=5, seconds=30)
        period = statement(session, "9200", start, end)
        inside = [row for row in rows if start < row[1] <= end]
        assert [entry.id for entry in period.entries] == [row[0] for row in inside]
        assert period.opening_balance == expected_balance(rows, start) == 900
        assert period.closing_balance == expected_balance(rows, end) == 1800
        assert (period.credits, period.debits) == (900, 0)
        assert period.closing_balance == period.opening_balance + period.credits - period.debits
        before = statement(session, "9200", START - timedelta(days=2), START - timedelta(days=1))
        assert (before.opening_balance, before.closing_balance, before.entries) == (0, 0, [])
        after = statement(session, "9200", moments[-1], moments[-1] + timedelta(days=1))
        assert (after.opening_balance, after.closing_balance, after.entries) == (3000, 3000, [])


def test_a_statement_of_more_than_its_limit_of_entries_is_refused(database: Database) -> None:
    with database.writing() as session:
        open_account(session, "9300", 0)
        add_entries(
            session,
            [
                {
                    "account_number": "9300",
                    "type": "deposit",
                    "amount": 1,
                    "balance_after": index,
                    "created_at": START + timedelta(seconds=index),
                }
                for index in range(1, MAX_STATEMENT_ENTRIES + 2)
            ],
        )
    with database.read.begin() as session:
        last = START + timedelta(seconds=MAX_STATEMENT_ENTRIES + 1)
        assert (
            len(statement(session, "9300", START, last - timedelta(seconds=1)).entries)
            == MAX_STATEMENT_ENTRIES
        )
        with pytest.raises(InvalidParameter, match="more than 10000 entries"):
            statement(session, "9300", START, last)


def test_an_entry_is_never_dated_before_its_account_s_previous_one(database: Database) -> None:
    """A worker whose clock runs behind (here: the account's last entry dated an hour
    ahead, as another host's clock might have dated it) dates its entries after it."""
    ahead = datetime.now(UTC) + timedelta(hours=1)
    with database.writing() as session:
        open_account(session, "9400", 1000)
        open_account(session, "9401", 1000)
        session.execute(
            update(Account).where(Account.account_number == "9400").values(last_entry_at=ahead)
        )
        record_operation(session, Operation(new_id(), "9400", "deposit", 5), 1)
        record_operation(session, Operation(new_id(), "9401", "deposit", 5), 1)
    with database.writing() as session:
        apply_pending(session, [0], 100, "test")
    with database.read.begin() as session:
        dates = {
            number: as_utc(created_at)
            for number, created_at in session.execute(
                select(LedgerEntry.account_number, LedgerEntry.created_at).where(
                    LedgerEntry.type == "deposit"
                )
            )
        }
        assert dates["9400"] >= ahead and dates["9401"] == dates["9400"]  # one date a chunk
        stored = session.scalar(
            select(Account.last_entry_at).where(Account.account_number == "9401")
        )
        assert as_utc(stored) == dates["9401"]


def test_accounts_list_in_byte_order_on_both_databases(database: Database) -> None:
    """Digits of different lengths: "9100" < "92" < "920" in byte order, whatever the
    database's collation."""
    with database.writing() as session:
        for number in ("920", "92", "9100", "93"):
            open_account(session, number, 0)
        open_account(session, "91", 0)
    with database.read.begin() as session:
        accounts, following = list_accounts(session, 2, "91")
        assert [a.account_number for a in accounts] == ["9100", "92"] and following == "92"
        accounts, following = list_accounts(session, 5, "92")
        assert [a.account_number for a in accounts] == ["920", "93"] and following is None
