"""The applier alone, in one process: batches recorded, then applied chunk by chunk.

    .venv/bin/python bench/apply_in_process.py [--operations 50000] [--accounts 5000]
        [--ledger 0] [--chunk ATM_APPLY_CHUNK] [--transfers] [--profile | --statements]
        [--database-url postgresql+psycopg://…]

No HTTP, no Redis, no worker: a fresh SQLite file in a temporary directory (the settings'
pragmas, `synchronous=FULL` by default) or the empty PostgreSQL database named; accounts
inserted directly, the operations recorded as batches of 10,000 (`record_batch`), then
`apply_pending` over every partition in write transactions until nothing is left, as the
worker's drain does. `--ledger N` first records and applies N operations the same way,
unmeasured: a service that has been running holds a ledger, and what an insert costs
depends on what is already there. Prints one RESULT line (`cpu_s`, the process's CPU time
while applying, varies less from run to run than the elapsed time); `--profile` prints where the
apply's time went (cProfile, which slows it down); `--statements` the time of each kind of
statement sent to the driver and of the commits, and what is left: the Python around them.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import on_database

BATCH = 10_000
FIRST_ACCOUNT = 800_000_000
OPENING_CENTS = 10_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=50_000)
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument(
        "--ledger", type=int, default=0, help="operations applied first, not measured"
    )
    parser.add_argument("--chunk", type=int, help="operations a transaction (default: setting)")
    parser.add_argument("--transfers", action="store_true", help="transfers, not withdrawals")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--statements", action="store_true", help="time each kind of statement")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite)")
    arguments = parser.parse_args()
    on_database(arguments.database_url, lambda: run(arguments))


def run(arguments: argparse.Namespace) -> None:
    # Imported after DATABASE_URL is set: the settings are read once.
    from shared.accepting.batch_queue import BatchOperation, new_batch_id
    from shared.accepting.batches import record_batch
    from shared.collector import settle_after_start
    from shared.config.settings import get_settings
    from shared.ledger.applying import apply_pending
    from shared.store.db import Database, init_database
    from shared.store.models import Account

    settings = get_settings()
    database = Database(settings)
    init_database(database)
    count = arguments.accounts
    with database.writing() as session:
        session.execute(
            Account.__table__.insert(),
            [
                {
                    "account_number": str(FIRST_ACCOUNT + i),
                    "balance": OPENING_CENTS,
                    "opening_balance": OPENING_CENTS,
                    "status": "active",
                    "held": 0,
                    "withdrawn_on_limit_day": 0,
                }
                for i in range(count)
            ],
        )
    settle_after_start()  # as the worker and the web processes do once started
    chunk = arguments.chunk or settings.apply_chunk
    rng = random.Random(7)

    def operation(index: int) -> BatchOperation:
        source = rng.randrange(count)
        if arguments.transfers:
            destination = (source + 1 + rng.randrange(count - 1)) % count
            kind, to_account = "transfer", str(FIRST_ACCOUNT + destination)
        else:
            kind, to_account = rng.choice(("deposit", "withdraw")), None
        amount = rng.randint(1, 5_000)
        return BatchOperation(
            index, kind, str(FIRST_ACCOUNT + source), amount, to_account, None, None
        )

    def record(operations: int) -> float:
        started = time.perf_counter()
        for _ in range(max(1, operations // BATCH)):
            batch = [operation(index) for index in range(BATCH)]
            with database.writing() as session:
                record_batch(session, new_batch_id(), batch, settings.partitions)
        return time.perf_counter() - started

    commit_seconds = 0.0

    def apply() -> tuple[int, int]:
        nonlocal commit_seconds
        applied, commits = 0, 0
        while True:
            with database.writing() as session:
                done = apply_pending(session, partitions, chunk, "bench").count
                committing = time.perf_counter()
            commit_seconds += time.perf_counter() - committing
            commits += 1
            applied += done
            if not done:
                return applied, commits

    partitions = list(range(settings.partitions))
    for _ in range(arguments.ledger // BATCH):  # the ledger it starts with, not measured
        record(BATCH)
        apply()
    recorded = record(arguments.operations)
    commit_seconds = 0.0
    statements = StatementTimes() if arguments.statements else None
    profile = cProfile.Profile() if arguments.profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profile:
        profile.enable()
    if statements:
        statements.start()
    applied, commits = apply()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profile:
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    if statements:
        statements.stop()
        statements.report(elapsed, commit_seconds)
    database.close()
    print(
        f"RESULT operations={applied} accounts={count} ledger={arguments.ledger} chunk={chunk} "
        f"recorded_s={recorded:.2f} applied_s={elapsed:.2f} cpu_s={cpu:.2f} commits={commits} "
        f"ops/s={applied / elapsed:.0f}"
    )


class StatementTimes:
    """The time of each kind of statement the applier sends to the driver (every one goes
    through shared.store.prepared._run), by the first words of its SQL."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()

    def start(self) -> None:
        from shared.store import prepared

        self.module, self.original = prepared, prepared._run
        original = self.original

        def timed(connection, sql, parameter_sets, *, many=False):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return original(connection, sql, parameter_sets, many=many)
            finally:
                kind = " ".join(sql.split()[:4])[:60]
                self.seconds[kind] += time.perf_counter() - started
                self.calls[kind] += 1
                if many:
                    self.rows[kind] += sum(len(rows) for rows in parameter_sets)

        prepared._run = timed

    def stop(self) -> None:
        self.module._run = self.original

    def report(self, elapsed: float, commit_seconds: float) -> None:
        statements = sum(self.seconds.values())
        for kind, seconds in self.seconds.most_common():
            rows = f"{self.rows[kind]:>8} rows" if self.rows[kind] else " " * 13
            print(f"{seconds:7.3f} s {self.calls[kind]:>6} calls {rows}  {kind}")
        print(
            f"STATEMENTS statements_s={statements:.3f} commits_s={commit_seconds:.3f} "
            f"rest_s={elapsed - statements - commit_seconds:.3f} applied_s={elapsed:.3f}"
        )


if __name__ == "__main__":
    main()
