"""End-to-end batch throughput against a running instance, beside the raw SQLite limit.

    BASE_URL=http://127.0.0.1:5000 python bench/batch_throughput.py

Starts nothing itself. Opens its own accounts, then submits 100,000 operations as batches of
10,000, first withdrawals and deposits spread over 10,000 accounts, then transfers between
those accounts, then withdrawals and deposits all on 10 accounts, and times each from the
first POST until every batch reports `completed`; last, the spread load again with half
of its operations moved onto one account (one hot account beside the spread ones); and the
transfers once more as atomic batches of 1,000 and as plain batches of 1,000. Then
does the same balance updates and ledger inserts directly with Python's sqlite3 module
(same pragmas, 1,000 per transaction, no HTTP, no queue, no ORM) and prints the ratio.
Peak memory is read from /proc for the gunicorn and worker processes on this machine.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import requests
from common import open_accounts


def operations_for(accounts: list[str], total: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "account_number": rng.choice(accounts),
            "type": "deposit" if rng.random() < 0.5 else "withdraw",
            "amount": f"{rng.randint(1, 500)}.{rng.randint(0, 99):02d}",
        }
        for _ in range(total)
    ]


def half_on_one_for(accounts: list[str], total: int, seed: int) -> list[dict]:
    """Withdrawals and deposits, half of them on the first account, the rest spread."""
    rng = random.Random(seed)
    operations = operations_for(accounts, total, seed)
    for operation in operations:
        if rng.random() < 0.5:
            operation["account_number"] = accounts[0]
    return operations


def transfers_for(accounts: list[str], total: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    operations = []
    for _ in range(total):
        source, destination = rng.sample(accounts, 2)
        operations.append(
            {
                "account_number": source,
                "type": "transfer",
                "to_account": destination,
                "amount": f"{rng.randint(1, 500)}.{rng.randint(0, 99):02d}",
            }
        )
    return operations


def run_batches(
    base_url: str, operations: list[dict], batch_size: int, *, atomic: bool = False
) -> dict:
    http = requests.Session()
    started = time.perf_counter()
    batch_ids = []
    for start in range(0, len(operations), batch_size):
        response = http.post(
            f"{base_url}/batches",
            json={"operations": operations[start : start + batch_size], "atomic": atomic},
            timeout=120,
        )
        if response.status_code != 202:
            raise SystemExit(f"batch refused: {response.status_code} {response.text[:300]}")
        batch_ids.append(response.json()["data"]["batch_id"])
    accepted = time.perf_counter() - started
    succeeded = failed = 0
    for batch_id in batch_ids:
        while True:
            data = http.get(
                f"{base_url}/batches/{batch_id}", headers={"Prefer": "wait=30"}, timeout=60
            ).json()["data"]
            if data["status"] == "completed":
                succeeded += data["succeeded"]
                failed += data["failed"]
                break
    elapsed = time.perf_counter() - started
    return {
        "operations": len(operations),
        "seconds": elapsed,
        "accept_seconds": accepted,
        "per_second": len(operations) / elapsed,
        "succeeded": succeeded,
        "failed": failed,
    }


def sqlite_limit(total: int, accounts: int, chunk: int = 1000) -> float:
    """Operations/s for balance update + ledger insert straight through sqlite3."""
    with tempfile.TemporaryDirectory() as directory:
        connection = sqlite3.connect(Path(directory) / "limit.db", isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={os.environ.get('ATM_SQLITE_SYNCHRONOUS', 'FULL')}")
        connection.execute(
            "CREATE TABLE accounts (account_number TEXT PRIMARY KEY, balance INTEGER)"
        )
        connection.execute(
            "CREATE TABLE transactions (id INTEGER PRIMARY KEY, account_number TEXT, "
            "job_id TEXT UNIQUE, type TEXT, amount INTEGER, balance_after INTEGER)"
        )
        numbers = [f"{i:010d}" for i in range(accounts)]
        connection.executemany("INSERT INTO accounts VALUES (?, ?)", [(n, 10**8) for n in numbers])
        rng = random.Random(7)
        work = [(rng.choice(numbers), rng.randint(1, 50000)) for _ in range(total)]
        started = time.perf_counter()
        for start in range(0, total, chunk):
            connection.execute("BEGIN IMMEDIATE")
            for index, (number, cents) in enumerate(work[start : start + chunk], start):
                connection.execute(
                    "UPDATE accounts SET balance = balance + ? WHERE account_number = ?",
                    (cents, number),
                )
                connection.execute(
                    "INSERT INTO transactions (account_number, job_id, type, amount, balance_after)"
                    " VALUES (?, ?, 'deposit', ?, 0)",
                    (number, f"job-{index}", cents),
                )
            connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
        connection.close()
    return total / elapsed


def peak_memory() -> dict[str, int]:
    """Peak resident memory (VmHWM) of each gunicorn and worker process, in MiB."""
    peaks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if cmdline.startswith(("/bin/sh", "sh ")):
            continue  # the shell a Procfile line runs in
        if "gunicorn" in cmdline or "-m worker" in cmdline:
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    name = "worker" if "-m worker" in cmdline else "gunicorn"
                    peaks[f"{name}[{entry.name}]"] = int(line.split()[1]) // 1024
    return peaks


def report(name: str, result: dict, limit: float) -> None:
    print(
        f"{name:<28} {result['operations']:>7} ops in {result['seconds']:6.2f} s "
        f"(accepted in {result['accept_seconds']:5.2f} s) = {result['per_second']:>8.0f} ops/s, "
        f"{result['per_second'] / limit:5.3f} of the limit; "
        f"succeeded {result['succeeded']}, failed {result['failed']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("BASE_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--operations", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--hot-accounts", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument(
        "--atomic-batch-size",
        type=int,
        default=1_000,
        help="the transfers again as atomic batches of this size (0: not run)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    accounts = open_accounts(args.base_url, args.accounts)
    print(f"opened {len(accounts)} accounts in {time.perf_counter() - started:.1f} s")
    limit = sqlite_limit(args.operations, args.accounts)
    print(f"{'sqlite3 limit':<28} {args.operations:>7} ops = {limit:>8.0f} ops/s")
    total, size, hot = args.operations, args.batch_size, accounts[: args.hot_accounts]
    loads = [  # name, operations, the name of the ratio to spread it prints (if any)
        (f"spread, {args.accounts} accounts", operations_for(accounts, total, 1), None),
        (f"transfers, {args.accounts} accounts", transfers_for(accounts, total, 3), "transfers"),
        (f"hot, {args.hot_accounts} accounts", operations_for(hot, total, 2), None),
        (
            f"half-on-one, {args.accounts} accounts",
            half_on_one_for(accounts, total, 4),
            "half on one account",
        ),
    ]
    spread = None
    for name, operations, ratio in loads:
        result = run_batches(args.base_url, operations, size)
        report(name, result, limit)
        spread = spread or result
        if ratio:
            print(
                f"{ratio} / spread withdrawals and deposits: "
                f"{result['per_second'] / spread['per_second']:.2f}"
            )
    if args.atomic_batch_size:
        transfers = transfers_for(accounts, total, 3)
        atomic = run_batches(args.base_url, transfers, args.atomic_batch_size, atomic=True)
        report(f"atomic transfers, {args.atomic_batch_size} a batch", atomic, limit)
        plain = run_batches(args.base_url, transfers, args.atomic_batch_size)
        report(f"plain transfers, {args.atomic_batch_size} a batch", plain, limit)
        print(f"atomic / plain, same batches: {atomic['per_second'] / plain['per_second']:.2f}")
    for name, mib in sorted(peak_memory().items()):
        print(f"peak memory {name}: {mib} MiB")


if __name__ == "__main__":
    main()
