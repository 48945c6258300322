"""Soak: mixed load while workers are killed and Redis loses everything, then the audit.

    .venv/bin/python bench/soak.py --seconds 120
    .venv/bin/python bench/soak.py --seconds 300 --churn --sentinel [--partitions 1024] \
        --database-url postgresql+psycopg://user@host/empty_database

Unlike the other benchmarks this one runs its own stack (a private redis-server, a
temporary SQLite file, gunicorn and two workers, as the tests do), because it kills
parts of it: a random worker with SIGKILL every few seconds (restarted at once), and
Redis once, halfway, restarted empty. With `--churn` instead: a third worker joins and
leaves in turn every 20 s (its partitions move to it and back), and one of the two others
is killed with SIGKILL every 60 s (restarted at once). With `--sentinel` Redis is a
master, a replica and three sentinels, and halfway the master is killed with SIGKILL (the
replica promoted) instead of restarted empty. Synchronous, asynchronous and batch clients
run throughout. At the end it waits for the backlog to drain and reports what was
accepted, what was applied, duplicates, losses, the audit, and the synchronous requests'
p50 and p99 overall and for those sent within 5 s after a worker joined, left or died;
and it follows the events feed from its start, checking that every accepted operation's
event is there once.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import percentile
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from shared.accepting.batch_operations import applied_operations, statuses_by_batch
from shared.accepting.batch_queue import operation_id_prefix
from shared.config.settings import DEFAULT_PARTITIONS, load_settings
from shared.events.feed import sequence
from shared.events.feed_pages import EventFilter, read_feed
from shared.ledger.audit import run_audit
from shared.store.db import Database
from tests.stack import RedisServer, SentinelGroup, Stack, wait_until

# A synchronous request sent this soon after a worker joined, left or died counts as near it.
CHANGE_WINDOW_SECONDS = 5.0


class Ledger:
    """What the clients were told was accepted (2xx): job ids and batch ids."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: set[str] = set()
        self.batches: dict[str, int] = {}
        self.refused = 0
        # (sent at, seconds, status) of each synchronous request answered: 200, a 202 when
        # its wait ran out, or a 400 refusal (insufficient funds).
        self.latencies: list[tuple[float, float, int]] = []

    def job(self, job_id: str) -> None:
        with self.lock:
            self.jobs.add(job_id)

    def batch(self, batch_id: str, total: int) -> None:
        with self.lock:
            self.batches[batch_id] = total

    def refuse(self) -> None:
        with self.lock:
            self.refused += 1

    def answered(self, sent_at: float, seconds: float, status: int) -> None:
        with self.lock:
            self.latencies.append((sent_at, seconds, status))


def single_client(
    base: str, accounts: list[str], ledger: Ledger, stop: threading.Event, prefer: str | None
) -> None:
    rng = random.Random()
    http = requests.Session()
    while not stop.is_set():
        number, kind = rng.choice(accounts), rng.choice(["deposit", "withdraw"])
        headers = {"Prefer": prefer} if prefer else {}
        sent_at = time.monotonic()
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
        if prefer is None:
            ledger.answered(sent_at, time.monotonic() - sent_at, response.status_code)
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


class Chaos:
    """What breaks, and when: the events (for the report) and the moments partitions
    changed owner (for the latency around them)."""

    def __init__(self, stack: Stack, break_redis: Callable[[], str], seconds: float) -> None:
        self.stack, self.break_redis, self.seconds = stack, break_redis, seconds
        self.started = time.monotonic()
        self.events: list[str] = []
        self.changes: list[float] = []
        self.redis_broken = False

    def note(self, event: str, *, moves: bool = True, at: float | None = None) -> None:
        """Record `event`, which happened `at` (now by default), and whether partitions
        changed owner with it."""
        at = time.monotonic() if at is None else at
        self.events.append(f"{at - self.started:6.1f}s {event}")
        if moves:
            self.changes.append(at)

    def run(self, schedule: Callable[[threading.Event], None], stop: threading.Event) -> None:
        """`schedule` until `stop`; a failure of its own is reported, not lost with the thread."""
        try:
            schedule(stop)
        except Exception as failure:
            self.note(f"the chaos stopped: {failure!r}", moves=False)

    def kills(self, stop: threading.Event) -> None:
        """A random worker killed with SIGKILL every 3 to 5 s, restarted at once; Redis
        broken once, halfway."""
        rng = random.Random()
        while not stop.wait(rng.uniform(3, 5)):
            self._kill(rng.choice(sorted(self.stack.workers)))
            self._break_redis_once_halfway()

    def churn(self, stop: threading.Event) -> None:
        """Every 20 s a third worker joins or leaves (SIGTERM, a clean exit); every 60 s one
        of the two others is killed with SIGKILL and restarted; Redis broken once, halfway."""
        rng = random.Random()
        ticks = 0
        while not stop.wait(20):
            ticks += 1
            if "worker-c" in self.stack.workers:
                leaving = time.monotonic()  # its partitions move from the signal on
                self.stack.kill_worker("worker-c", signal.SIGTERM)
                self.note("worker-c left", at=leaving)
            else:
                self.note("worker-c joined")
                self.stack.start_worker("worker-c")
            if ticks % 3 == 0:
                self._kill(rng.choice(["worker-a", "worker-b"]))
            self._break_redis_once_halfway()

    def _break_redis_once_halfway(self) -> None:
        if not self.redis_broken and time.monotonic() - self.started > self.seconds / 2:
            self.note(self.break_redis(), moves=False)
            self.redis_broken = True

    def _kill(self, name: str) -> None:
        self.note(f"kill -9 {name}, restarted")
        self.stack.kill_worker(name)
        self.stack.start_worker(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--churn", action="store_true", help="workers join, leave and die")
    parser.add_argument("--sentinel", action="store_true", help="Redis Sentinel, a failover")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite)")
    parser.add_argument(
        "--partitions",
        type=int,
        default=DEFAULT_PARTITIONS,
        help=f"ATM_PARTITIONS (default {DEFAULT_PARTITIONS}, a new database's)",
    )
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="atm-soak-"))
    env = {"ATM_PARTITIONS": str(args.partitions)}
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.sentinel:
        group = SentinelGroup(directory / "redis")
        redis_url, stop_redis = group.url, group.stop

        def break_redis() -> str:
            group.kill_master()
            wait_until(lambda: group.master_port_now() == group.replica_port, 60, "promotion")
            return "redis master killed with SIGKILL, replica promoted"
    else:
        server = RedisServer(directory / "redis")
        redis_url, stop_redis = server.url, server.stop

        def break_redis() -> str:
            server.restart_empty()
            return "redis restarted empty"

    stack = Stack(directory / "stack", redis_url, **env)
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
        ledger, stop = Ledger(), threading.Event()
        chaos = Chaos(stack, break_redis, args.seconds)
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
            threading.Thread(
                target=chaos.run, args=(chaos.churn if args.churn else chaos.kills, stop)
            ),
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join()
        load_seconds = time.monotonic() - started
        report(stack, ledger, chaos, load_seconds)
    finally:
        stack.stop()
        stop_redis()


def applied_batch_operations(session: Session) -> dict[str, int]:
    """How many operations of each batch have an outcome: in an outcome row of its parts
    or, for those applied before outcome rows or reversed since, a row of their own."""
    applied = [
        (batch_id, operation, outcome)
        for _, batch_id, operation, outcome in applied_operations(session)
        if batch_id is not None and operation is not None
    ]
    return {batch_id: len(ids) for batch_id, ids in statuses_by_batch(session, applied).items()}


def report(stack: Stack, ledger: Ledger, chaos: Chaos, load_seconds: float) -> None:
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
    feed = read_whole_feed(database)
    database.close()
    for event in chaos.events:
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
    print(feed_line(feed, ledger))
    answers = Counter(status for _, _, status in ledger.latencies)
    shown = ", ".join(f"{count} {status}" for status, count in sorted(answers.items()))
    print(f"synchronous requests answered ({shown}): {latency_line(ledger.latencies)}")
    # In flight at any moment of the CHANGE_WINDOW_SECONDS after a change of owner.
    near = [
        (sent_at, seconds, status)
        for sent_at, seconds, status in ledger.latencies
        if any(
            sent_at < change + CHANGE_WINDOW_SECONDS and sent_at + seconds >= change
            for change in chaos.changes
        )
    ]
    print(
        f"  in flight within {CHANGE_WINDOW_SECONDS:.0f} s after a change of owner: "
        f"{latency_line(near)}"
    )


def read_whole_feed(database: Database) -> list[dict]:
    """Every event of the feed, followed from the start in pages of 1,000 as a reader
    would (numbering what has committed before each page, on PostgreSQL)."""
    events: list[dict] = []
    after = None
    while True:
        with database.writing() as session:
            sequence(session)
        with database.read.begin() as session:
            page, following = read_feed(session, after, 1000, EventFilter())
        events.extend(page)
        if not page:
            return events
        after = following


def feed_line(events: list[dict], ledger: Ledger) -> str:
    """Whether the feed holds each accepted operation's event once (its job events are
    also those of requests refused at apply, which the ledger of 2xx answers leaves out)."""
    ids = [event["event_id"] for event in events]
    jobs = Counter(e["data"]["job_id"] for e in events if e["type"].startswith("job."))
    # A batch operation's job id is its batch's id with the index in its last 4 digits.
    per_batch = Counter(job_id[:32] for job_id in jobs if job_id[14] == "8")
    missing = len(ledger.jobs - set(jobs)) + sum(
        max(0, total - per_batch.get(operation_id_prefix(batch_id), 0))
        for batch_id, total in ledger.batches.items()
    )
    doubled = (len(ids) - len(set(ids))) + sum(1 for count in jobs.values() if count > 1)
    return f"feed: {len(events)} events read, missing {missing}, doubled {doubled}"


def latency_line(answered: list[tuple[float, float, int]]) -> str:
    """How many, and the p50, p99 and longest time to an answer of any status."""
    seconds = [taken for _, taken, _ in answered]
    if not seconds:
        return "none"
    return (
        f"{len(seconds)}, p50 {percentile(seconds, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(seconds, 0.99) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
