"""GET /jobs's walk and the events feed's pages on a long history of jobs, in one process.

    .venv/bin/python bench/job_lists.py [--operations 200000] [--singles 20000]
        [--probes 50] [--database-url postgresql+psycopg://…]    # default: a fresh SQLite file

Records and applies `--operations` batch operations (batches of 10,000 over 10,000
accounts) and `--singles` single withdrawals and deposits among them, then times pages of
`list_jobs`, each in its own read transaction as the API runs them: the newest 50 jobs,
the next page from a cursor deep in the history, 50 failed jobs, and one account's jobs
(whose filter matches about one job in 5,000: such a page examines its bound of jobs and
comes back short); then pages of 100 of the events feed of the same history: from its
start, from halfway, and one account's from halfway. Prints a RESULT line per page kind
(p50, p99, jobs or events on the page). A PostgreSQL URL names a database to fill: it
must be empty.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import on_database, percentile

BATCH = 10_000
FIRST_ACCOUNT = 800_000_000
ACCOUNTS = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=200_000)
    parser.add_argument("--singles", type=int, default=20_000)
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--database-url")
    arguments = parser.parse_args()
    on_database(arguments.database_url, lambda: run(arguments))


def run(arguments: argparse.Namespace) -> None:
    # Imported after DATABASE_URL is set: the settings are read once.
    from shared.accepting.batch_queue import BatchOperation, new_batch_id
    from shared.accepting.batches import record_batch
    from shared.accepting.job_list import JobFilter, list_jobs
    from shared.accepting.operations import Operation, new_id, record_operations
    from shared.config.settings import get_settings
    from shared.events.feed import sequence
    from shared.events.feed_pages import EventFilter, read_feed
    from shared.ledger.applying import apply_pending
    from shared.store.db import Database, init_database
    from shared.store.models import Account

    settings = get_settings()
    database = Database(settings)
    init_database(database)
    rng = random.Random(11)
    numbers = [str(FIRST_ACCOUNT + i) for i in range(ACCOUNTS)]
    with database.writing() as session:
        session.execute(
            Account.__table__.insert(),
            [
                {"account_number": n, "balance": 0, "opening_balance": 0, "status": "active"}
                for n in numbers
            ],
        )
    partitions = list(range(settings.partitions))
    batches = max(1, arguments.operations // BATCH)
    singles_a_batch = arguments.singles // batches
    started = time.perf_counter()
    for _ in range(batches):
        with database.writing() as session:
            operations = [
                BatchOperation(
                    index,
                    rng.choice(("deposit", "withdraw")),
                    rng.choice(numbers),
                    100,
                    None,
                    None,
                    None,
                )
                for index in range(BATCH)
            ]
            record_batch(session, new_batch_id(), operations, settings.partitions)
            singles = [
                Operation(new_id(), rng.choice(numbers), rng.choice(("deposit", "withdraw")), 100)
                for _ in range(singles_a_batch)
            ]
            record_operations(session, singles, settings.partitions)
        while True:
            with database.writing() as session:
                if not apply_pending(session, partitions, settings.apply_chunk, "bench").count:
                    break
    filled = batches * (BATCH + singles_a_batch)
    print(f"filled: {filled} jobs in {time.perf_counter() - started:.1f} s")

    with database.read.begin() as session:
        deep = list_jobs(session, 1, None, JobFilter()).jobs[0].job_id
        for _ in range(arguments.operations // 2 // 500):  # halfway back
            deep = list_jobs(session, 500, deep, JobFilter()).next_before or deep
    kinds = {
        "newest": (None, JobFilter()),
        "deep_cursor": (deep, JobFilter()),
        "failed": (None, JobFilter(status="failed")),
        "one_account": (None, JobFilter(account=numbers[7])),
    }
    for name, (before, wanted) in kinds.items():
        times, sizes = [], []
        for _ in range(arguments.probes):
            began = time.perf_counter()
            with database.read.begin() as session:
                page = list_jobs(session, 50, before, wanted)
            times.append(time.perf_counter() - began)
            sizes.append(len(page.jobs))
        print(
            f"RESULT page={name} p50_ms={statistics.median(times) * 1000:.1f} "
            f"p99_ms={percentile(times, 0.99) * 1000:.1f} jobs={statistics.median(sizes):.0f}"
        )
    # The events feed of the same history: pages of 100 as a reader follows it.
    with database.writing() as session:
        sequence(session)
    with database.read.begin() as session:
        halfway = None
        for _ in range(filled // 2 // 1000):
            halfway = read_feed(session, halfway, 1000, EventFilter())[1]
    feeds = {
        "feed_start": (None, EventFilter()),
        "feed_halfway": (halfway, EventFilter()),
        "feed_one_account": (halfway, EventFilter(account=numbers[7])),
    }
    for name, (after, wanted) in feeds.items():
        times, sizes = [], []
        for _ in range(arguments.probes):
            began = time.perf_counter()
            with database.read.begin() as session:
                events, _ = read_feed(session, after, 100, wanted)
            times.append(time.perf_counter() - began)
            sizes.append(len(events))
        print(
            f"RESULT page={name} p50_ms={statistics.median(times) * 1000:.1f} "
            f"p99_ms={percentile(times, 0.99) * 1000:.1f} events={statistics.median(sizes):.0f}"
        )
    database.close()


if __name__ == "__main__":
    main()
