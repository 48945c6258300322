"""Soak: mixed load while workers are killed and Redis loses everything, then the audit.

    .venv/bin/python bench/soak.py --seconds 120

Unlike the other benchmarks this one runs its own stack (a private redis-server, a
temporary SQLite file, gunicorn and two workers, as the tests do), because it kills
parts of it: a random worker with SIGKILL every few seconds (restarted at once), and
Redis once, halfway, restarted empty. Synchronous, asynchronous and batch clients run
throughout. At the end it waits for the backlog to drain and reports what was accepted,
what was applied, duplicates, losses and the audit.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from shared.accepting.batch_operations import applied_operations, statuses_by_batch
from shared.config.settings import load_settings
from shared.ledger.audit import run_audit
from shared.store.db import Database
from tests.stack import RedisServer, Stack, wait_until


class Ledger:
    """What the clients were told was accepted (2xx): job ids and batch ids."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: set[str] = set()
        self.batches: dict[str, int] = {}
        self.refused = 0

    def job(self, job_id: str) -> None:
        with self.lock:
            self.jobs.add(job_id)

    def batch(self, batch_id: str, total: int) -> None:
        with self.lock:
            self.batches[batch_id] = total

    def refuse(self) -> None:
        with self.lock:
            self.refused += 1


def single_client(
    base: str, accounts: list[str], ledger: Ledger, stop: threading.Event, prefer: str | None
) -> None:
    rng = random.Random()
    http = requests.Session()
    while not stop.is_set():
        number, kind = rng.choice(accounts), rng.choice(["deposit", "withdraw"])
        headers = {"Prefer": prefer} if prefer else {}
        try:
            response = http.post(
                f"{base}/accounts/{number}/{kind}",
                headers=headers,
                timeout=30,
                json={"amount": f"{rng.randint(1, 50)}.{rng.randint(0, 99):02d}"},
            )
        except requests.RequestException:
            ledger.refuse()
            continue
        body = response.json()
        if response.status_code in (200, 202):
            ledger.job(body["data"]["job_id"])
        elif body.get("error", {}).get("type") == "insufficient_funds":
            ledger.job(body["error"]["job_id"])  # accepted, applied, failed on its own
        else:
            ledger.refuse()


def batch_client(base: str, accounts: list[str], ledger: Ledger, stop: threading.Event) -> None:
    rng = random.Random()
    http = requests.Session()
    while not stop.is_set():
        operations = [
            {
                "account_number": rng.choice(accounts),
                "type": rng.choice(["deposit", "withdraw"]),
                "amount": f"{rng.randint(1, 50)}.{rng.randint(0, 99):02d}",
            }
            for _ in range(500)
        ]
        try:
            response = http.post(f"{base}/batches", json={"operations": operations}, timeout=60)
        except requests.RequestException:
            ledger.refuse()
            continue
        if response.status_code == 202:
            ledger.batch(response.json()["data"]["batch_id"], len(operations))
        else:
            ledger.refuse()
        stop.wait(1)


def chaos(
    stack: Stack,
    redis_server: RedisServer,
    seconds: float,
    stop: threading.Event,
    events: list[str],
) -> None:
    rng = random.Random()
    started = time.monotonic()
    redis_restarted = False
    while not stop.wait(rng.uniform(3, 5)):
        name = rng.choice(sorted(stack.workers))
        stack.kill_worker(name)
        stack.start_worker(name)
        events.append(f"{time.monotonic() - started:6.1f}s kill -9 {name}, restarted")
        if not redis_restarted and time.monotonic() - started > seconds / 2:
            redis_server.restart_empty()
            redis_restarted = True
            events.append(f"{time.monotonic() - started:6.1f}s redis restarted empty")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="atm-soak-"))
    redis_server = RedisServer(directory / "redis")
    stack = Stack(directory / "stack", redis_server.url, ATM_PARTITIONS="8")
    try:
        stack.start_worker("worker-a")
        stack.start_worker("worker-b")
        base = stack.start_web()
        stack.wait_healthy()
        http = requests.Session()
        accounts = []
        for index in range(200):
            number = f"55{index:06d}"
            http.post(
                f"{base}/accounts",
                json={"account_number": number, "initial_balance": 1000},
                timeout=30,
            )
            accounts.append(number)
        ledger, stop, events = Ledger(), threading.Event(), []
        threads = [
            *(
                threading.Thread(target=single_client, args=(base, accounts, ledger, stop, None))
                for _ in range(4)
            ),
            *(
                threading.Thread(
                    target=single_client, args=(base, accounts, ledger, stop, "respond-async")
                )
                for _ in range(2)
            ),
            threading.Thread(target=batch_client, args=(base, accounts, ledger, stop)),
            threading.Thread(target=chaos, args=(stack, redis_server, args.seconds, stop, events)),
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join()
        load_seconds = time.monotonic() - started
        report(stack, ledger, events, load_seconds)
    finally:
        stack.stop()
        redis_server.stop()


def applied_batch_operations(session: Session) -> dict[str, int]:
    """How many operations of each batch have an outcome: in an outcome row of its parts
    or, for those applied before outcome rows or reversed since, a row of their own."""
    applied = [
        (batch_id, operation, outcome)
        for _, batch_id, operation, outcome in applied_operations(session)
        if batch_id is not None and operation is not None
    ]
    return {batch_id: len(ids) for batch_id, ids in statuses_by_batch(session, applied).items()}


def report(stack: Stack, ledger: Ledger, events: list[str], load_seconds: float) -> None:
    engine = create_engine(stack.env["DATABASE_URL"])

    def queued() -> bool:
        with engine.connect() as connection:
            return not connection.execute(
                text("SELECT 1 FROM jobs WHERE status = 'queued' LIMIT 1")
            ).first()

    drain_started = time.monotonic()
    wait_until(queued, 300, "the backlog to drain", interval=0.5)
    drain_seconds = time.monotonic() - drain_started
    with engine.connect() as connection:
        final = {
            row[0]
            for row in connection.execute(
                text("SELECT job_id FROM jobs WHERE status IN ('succeeded', 'failed')")
            )
        }
        duplicates = connection.execute(
            text(
                "SELECT COUNT(*) FROM (SELECT job_id FROM transactions WHERE job_id IS NOT NULL "
                "GROUP BY job_id HAVING COUNT(*) > 1) AS doubled"
            )
        ).scalar()
    engine.dispose()
    accepted = len(ledger.jobs) + sum(ledger.batches.values())
    lost_jobs = len(ledger.jobs - final)
    database = Database(load_settings({"DATABASE_URL": stack.env["DATABASE_URL"]}))
    with database.read.begin() as session:
        audit = run_audit(session, stale_after_seconds=3600)
        batch_final = applied_batch_operations(session)
    lost_batch_ops = sum(total - batch_final.get(b, 0) for b, total in ledger.batches.items())
    for event in events:
        print(event)
    print(f"load: {load_seconds:.0f} s, then {drain_seconds:.1f} s to drain")
    print(
        f"accepted (2xx): {accepted} operations ({len(ledger.jobs)} single, "
        f"{sum(ledger.batches.values())} in {len(ledger.batches)} batches); "
        f"refused or failed in transit: {ledger.refused} requests"
    )
    print(f"applied: {accepted - lost_jobs - lost_batch_ops}")
    print(f"duplicates: {duplicates}")
    print(f"lost: {lost_jobs + lost_batch_ops}")
    print(f"audit: {'clean' if audit.clean else audit.findings}")


if __name__ == "__main__":
    main()
