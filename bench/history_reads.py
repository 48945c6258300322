"""Balances at a moment and statements on an account with a long ledger, in one process.

    .venv/bin/python bench/history_reads.py [--entries 1000000] [--probes 500]
        [--database-url postgresql+psycopg://…]    # default: a fresh SQLite file

Writes one account's `--entries` ledger entries, one a second, each followed by an entry of
another account (so the account's ids are sparse, as in a busy ledger), then times, each in
its own read transaction as the API runs them: `balance_at` at random moments (p50, p99),
a page of 100 entries of its history before a random cursor (p50, p99), and `statement`
of a 10,000-entry period, rendered as the API's JSON data and as its CSV.
Prints RESULT lines. A PostgreSQL URL names a database to fill: it must be empty.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import on_database

ACCOUNT, OTHER = "700000001", "700000002"
START = datetime(2025, 1, 1, tzinfo=UTC)
ROWS_A_STATEMENT = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--database-url")
    arguments = parser.parse_args()
    on_database(arguments.database_url, lambda: run(arguments))


def run(arguments: argparse.Namespace) -> None:
    # Imported after DATABASE_URL is set: the settings are read once.
    from shared.config.settings import get_settings
    from shared.ledger.accounts import list_transactions, open_account
    from shared.ledger.moments import balance_at, statement
    from shared.store.db import Database, init_database
    from shared.store.models import Account, LedgerEntry
    from shared.views import ledger_entry_view
    from web.api.statements import statement_csv

    database = Database(get_settings())
    init_database(database)
    count = arguments.entries
    started = time.perf_counter()
    with database.writing() as session:
        open_account(session, ACCOUNT, 0)
        open_account(session, OTHER, 0)
    # Entries numbered and linked into the accounts' chains, as the applier writes them,
    # after the sample accounts' (ids from base + 1: the account's odd, the other's even).
    with database.read.begin() as session:
        base = session.scalar(select(func.max(LedgerEntry.id))) or 0
    for first in range(0, count, 50_000):
        rows = []
        for index in range(first, min(count, first + 50_000)):
            moment = START + timedelta(seconds=index)
            for offset, number in ((1, ACCOUNT), (2, OTHER)):
                entry_id = base + 2 * index + offset
                previous = entry_id - 2 if index else None
                rows.append((entry_id, number, index + 1, moment, previous))
        with database.writing() as session:
            session.execute(
                LedgerEntry.__table__.insert(),
                [
                    {
                        "id": entry_id,
                        "account_number": number,
                        "type": "deposit",
                        "amount": 1,
                        "balance_after": balance,
                        "status": "succeeded",
                        "created_at": moment,
                        "prev_id": previous,
                        "seq": balance,
                    }
                    for entry_id, number, balance, moment, previous in rows
                ],
            )
    with database.writing() as session:
        for offset, number in ((1, ACCOUNT), (2, OTHER)):
            session.execute(
                update(Account)
                .where(Account.account_number == number)
                .values(last_entry_id=base + 2 * (count - 1) + offset, entry_count=count)
            )
    print(f"filled {2 * count} entries in {time.perf_counter() - started:.1f} s", flush=True)

    rng = random.Random(5)
    timings = []
    for _ in range(arguments.probes):
        moment = START + timedelta(seconds=rng.uniform(-10, count + 10))
        began = time.perf_counter()
        with database.read.begin() as session:
            balance = balance_at(session, ACCOUNT, moment)
        timings.append(time.perf_counter() - began)
        expected = min(count, max(0, int((moment - START).total_seconds()) + 1))
        assert balance == expected, (moment, balance, expected)
    quantiles = statistics.quantiles(timings, n=100)
    print(
        f"RESULT balance_at entries={count} probes={len(timings)} "
        f"p50_ms={quantiles[49] * 1000:.2f} p99_ms={quantiles[98] * 1000:.2f}"
    )

    timings = []
    for _ in range(arguments.probes):
        before = base + 2 * rng.randrange(count) + 1
        began = time.perf_counter()
        with database.read.begin() as session:
            page, _ = list_transactions(session, ACCOUNT, 100, before)
        timings.append(time.perf_counter() - began)
        assert len(page) == min(100, (before - base - 1) // 2), (before, len(page))
    quantiles = statistics.quantiles(timings, n=100)
    print(
        f"RESULT history_page entries={count} limit=100 probes={len(timings)} "
        f"p50_ms={quantiles[49] * 1000:.2f} p99_ms={quantiles[98] * 1000:.2f}"
    )

    start = START + timedelta(seconds=rng.randrange(max(1, count - ROWS_A_STATEMENT)))
    end = start + timedelta(seconds=ROWS_A_STATEMENT)
    for form in ("json", "csv"):
        timings = []
        for _ in range(5):
            began = time.perf_counter()
            with database.read.begin() as session:
                period = statement(session, ACCOUNT, start, end)
                if form == "json":
                    body = json.dumps([ledger_entry_view(entry) for entry in period.entries])
                else:
                    body = statement_csv(period)
            timings.append(time.perf_counter() - began)
        print(
            f"RESULT statement form={form} entries={len(period.entries)} bytes={len(body)} "
            f"best_s={min(timings):.3f} worst_s={max(timings):.3f}"
        )
    database.close()


if __name__ == "__main__":
    main()
