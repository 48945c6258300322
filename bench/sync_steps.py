"""Where one synchronous withdrawal's time goes, step by step, in one process.

    .venv/bin/python bench/sync_steps.py [--requests N] [--partitions ATM_PARTITIONS]
        [--database-url postgresql+psycopg://…]

To choose between designs for the synchronous path by measurement rather than by guess, it
runs N withdrawals (default 300, after 30 not counted) one after another through the
project's own code, the web's side and the worker's side in turn, with no HTTP, no
gunicorn and no Celery worker process: against a fresh SQLite file in a temporary
directory (WAL, synchronous=FULL, as the service's defaults), or the empty PostgreSQL
database named by --database-url, and a redis-server it starts on
a free port without persistence (stopped at exit). This process holds every partition's
lease, as the one worker of `make run` does, so the doorbell names an owner. Each step is
timed with time.perf_counter:

1. the intake's write transaction (`JobIntake._record` of a request that waits for its
   outcome: record_operations, commit, its fsync left to the owner's commit);
2. the intake's wake-up (`PartitionDispatcher.wake`, as `JobIntake._wake` calls it): the
   doorbell script, which pushes the Celery message itself in the same round trip;
3. the worker receiving it: kombu's Redis transport consuming the owner's own queue
   (BRPOP) and decoding the message, without Celery's worker around it; the message is
   already queued when the read starts, so this is a full round trip, where an idle
   worker already blocked in BRPOP gets it half of one after the send;
4. the task's check of the doorbell (EXISTS);
5. apply_pending in a write transaction, committed with fsync;
6. publish_outcomes, until the web's CompletionListener (a pubsub subscription in a thread)
   has woken the request's waiter, from the publish's start.

After the answer the worker clears its doorbell and looks again (one read); those
are shown apart, off the client's path. For scale: a bare sqlite3 INSERT + COMMIT with
synchronous=FULL, a Redis PING, and a balance SELECT in an SQLAlchemy read transaction. It
ends with the Redis commands per request and two lines, one per design lever.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
from common import percentile
from kombu import Connection, Consumer, Exchange, Message, Queue
from sqlalchemy import select

from shared import messaging
from shared.accepting.operations import Operation, new_id
from shared.config.settings import Settings, load_settings
from shared.ledger.accounts import open_account
from shared.ledger.applying import apply_pending, has_pending
from shared.partitioning import DRAIN_TASK, owner_queue, partition_of
from shared.store.db import Database, init_database
from shared.store.models import SUCCEEDED, WITHDRAW, Account
from tests.stack import RedisServer
from web.serving.dispatch import PartitionDispatcher
from web.serving.intake import JobIntake, _Pending
from web.serving.offload import DatabaseThreads
from web.serving.waiting import CompletionListener
from worker.partitions.leases import PartitionLeases

ACCOUNT = "10001"
OPENING = 10**12  # cents: enough for every withdrawal
AMOUNT = 100
IDENTITY = "bench-host:1"  # the fake owner's lease token, as a worker's host:pid
WARM_UP = 30
PATH = {  # on the client's path, in order; summed
    "record": "1 web: record the job (write transaction, commit)",
    "ring": "2 web: ring the doorbell, pushing the wake-up (Lua)",
    "receive": "3 worker: receive the wake-up (kombu, BRPOP)",
    "check": "4 worker: check the doorbell (EXISTS)",
    "apply": "5 worker: apply_pending, commit",
    "notify": "6 publish, until the web's waiter wakes",
}
APART = {
    "publish": "6, of which the worker's PUBLISH call",
    "clear": "after the answer: clear the doorbell (DEL)",
    "look": "after the answer: look again (one read)",
}
REDIS_HOPS = ("ring", "receive", "check", "notify")


class WakeUpReceiver:
    """The worker's end of a wake-up: a kombu consumer of the owner's own queue, with the
    transport options of worker/app.py (no ack emulation: one BRPOP per message)."""

    def __init__(self, redis_url: str, identity: str) -> None:
        self.connection = Connection(redis_url, transport_options={"ack_emulation": False})
        name = owner_queue(identity)
        queues = [Queue(name, Exchange(name), routing_key=name)]
        self.consumer = Consumer(
            self.connection.channel(), queues, callbacks=[self._take], accept=["json"]
        )
        self.consumer.consume()
        self.received: list[str] = []

    def _take(self, body: list, message: Message) -> None:
        message.ack()  # early, as task_acks_late=False
        self.received.append(message.headers["task"])

    def receive(self) -> str:
        """The next wake-up's task name."""
        self.connection.drain_events(timeout=5)
        return self.received.pop()


@dataclass
class Rig:
    settings: Settings
    web_db: Database
    worker_db: Database
    worker_redis: redis.Redis
    intake: JobIntake
    dispatcher: PartitionDispatcher
    listener: CompletionListener
    receiver: WakeUpReceiver
    leases: PartitionLeases


def build(
    directory: Path, redis_url: str, partitions: int | None = None, database_url: str | None = None
) -> Rig:
    """The web's and the worker's objects, each side with its own engine and Redis client
    as in two processes, and the account the withdrawals take from."""
    settings = load_settings(
        {
            "DATABASE_URL": database_url or f"sqlite:///{directory / 'atm.db'}",
            "REDIS_URL": redis_url,
            "ATM_DATA_DIR": str(directory),
            "ATM_SEED_SAMPLE_ACCOUNTS": "false",
            **({"ATM_PARTITIONS": str(partitions)} if partitions else {}),
        }
    )
    web_db, worker_db = Database(settings), Database(settings)
    init_database(worker_db)
    with worker_db.writing() as session:
        open_account(session, ACCOUNT, OPENING)
    worker_redis = messaging.connect(redis_url)
    leases = PartitionLeases(worker_redis, IDENTITY, settings)
    leases.acquire_free(live_workers=1)  # every partition, as the only worker
    dispatcher = PartitionDispatcher(messaging.connect(redis_url))
    intake = JobIntake(
        web_db,
        DatabaseThreads(settings.database_threads),  # outside gevent: runs in the caller
        settings.partitions,
        dispatcher,
        settings.idempotency_ttl_seconds,
    )
    listener = CompletionListener(redis_url, settings.max_waiters)
    receiver = WakeUpReceiver(redis_url, IDENTITY)
    return Rig(
        settings, web_db, worker_db, worker_redis, intake, dispatcher, listener, receiver, leases
    )


def one_withdrawal(rig: Rig) -> dict[str, float]:
    """One withdrawal through every step, in the order the web and the worker run them."""
    operation = Operation(new_id(), ACCOUNT, WITHDRAW, AMOUNT)
    partition = partition_of(ACCOUNT, rig.settings.partitions)
    client, identity = rig.worker_redis, IDENTITY
    with rig.listener.expect(operation.job_id) as waiter:  # before the job exists, as the web
        t0 = time.perf_counter()
        rig.intake._record([_Pending(operation, None, waits=True)])
        t1 = time.perf_counter()
        if rig.dispatcher.wake([partition]) != [partition]:
            raise SystemExit("the doorbell was already set: no wake-up was sent")
        t2 = time.perf_counter()
        if rig.receiver.receive() != DRAIN_TASK:
            raise SystemExit("received a wake-up for another task")
        t3 = time.perf_counter()
        if not messaging.doorbell_rung(client, identity):
            raise SystemExit("the wake-up found its doorbell clear")
        t4 = time.perf_counter()
        owned = rig.leases.owned()
        with rig.worker_db.writing() as session:
            applied = apply_pending(session, owned, rig.settings.apply_chunk, identity)
        t5 = time.perf_counter()
        messaging.publish_outcomes(client, applied.outcomes)
        t6 = time.perf_counter()
        if not waiter.wait(5) or waiter.outcome is None or waiter.outcome.status != SUCCEEDED:
            raise SystemExit(f"no successful outcome for job {operation.job_id}")
        t7 = time.perf_counter()
    messaging.clear_doorbells(client, identity)
    t8 = time.perf_counter()
    with rig.worker_db.look.begin() as session:
        has_pending(session, owned)
    t9 = time.perf_counter()
    return {
        "record": t1 - t0,
        "ring": t2 - t1,
        "receive": t3 - t2,
        "check": t4 - t3,
        "apply": t5 - t4,
        "notify": t7 - t5,
        "publish": t6 - t5,
        "clear": t8 - t7,
        "look": t9 - t8,
    }


def timed(work: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return samples


def raw_sqlite_commits(path: Path, count: int) -> list[float]:
    """A bare sqlite3 INSERT + COMMIT per sample, WAL and synchronous=FULL: what durability
    itself costs."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")

    def insert() -> None:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO t (v) VALUES (?)", (new_id(),))
        connection.execute("COMMIT")

    try:
        return timed(insert, count)
    finally:
        connection.close()


def row(label: str, samples: list[float]) -> str:
    p50, p99 = percentile(samples, 0.5) * 1000, percentile(samples, 0.99) * 1000
    return f"{label:<50} {p50:>8.3f} {p99:>8.3f}"


def commands_per_request(client: redis.Redis, run: Callable[[], None], count: int) -> str:
    """The Redis commands `run` makes per request, from the server's own counts (a script's
    GET and SET among them, though they are no round trips)."""

    def calls() -> dict[str, int]:
        stats = client.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}

    before = calls()
    run()
    used = {name: (n - before.get(name, 0)) / count for name, n in calls().items()}
    used.pop("info", None)  # these counts' own
    return ", ".join(f"{name} {n:.2f}" for name, n in sorted(used.items()) if n >= 0.01)


def balance(database: Database) -> int:
    with database.read.begin() as session:
        return session.scalar(select(Account.balance).where(Account.account_number == ACCOUNT))


def report(rig: Rig, directory: Path, count: int) -> None:
    for _ in range(WARM_UP):
        one_withdrawal(rig)
    steps: dict[str, list[float]] = defaultdict(list)

    def run() -> None:
        for _ in range(count):
            for step, seconds in one_withdrawal(rig).items():
                steps[step].append(seconds)

    commands = commands_per_request(rig.worker_redis, run, count)
    if balance(rig.web_db) != OPENING - (WARM_UP + count) * AMOUNT:
        raise SystemExit("the balance is not what the withdrawals leave")
    totals = [sum(steps[step][i] for step in PATH) for i in range(count)]
    hops = [sum(steps[step][i] for step in REDIS_HOPS) for i in range(count)]
    ping = timed(rig.worker_redis.ping, count)
    sqlite_commits = raw_sqlite_commits(directory / "raw.db", count)
    reads = timed(lambda: balance(rig.web_db), count)
    p50 = {name: percentile(samples, 0.5) * 1000 for name, samples in steps.items()}

    print(f"{f'{count} withdrawals, one at a time (ms)':<50} {'p50':>8} {'p99':>8}")
    for step, label in PATH.items():
        print(row(label, steps[step]))
    print(f"{'sum of the step p50s':<50} {sum(p50[step] for step in PATH):>8.3f}")
    print(row("each request's steps, summed", totals))
    for step, label in APART.items():
        print(row(label, steps[step]))
    print("for scale")
    print(row("  sqlite3 INSERT + COMMIT, synchronous=FULL", sqlite_commits))
    print(row("  Redis PING", ping))
    print(row("  SQLAlchemy read transaction: SELECT a balance", reads))
    print(f"Redis commands per request: {commands}")
    total, hop = percentile(totals, 0.5) * 1000, percentile(hops, 0.5) * 1000
    print(
        f"(a) without the intake's commit (the operation as the Celery payload, written once "
        f"by the owner): {p50['record']:.2f} ms of {total:.2f} ms p50 "
        f"({p50['record'] / total:.0%}) saved for a client that waits"
    )
    print(
        f"(b) the Redis hops on the path (steps 2, 3, 4, 6): {hop:.2f} ms of {total:.2f} ms "
        f"p50 ({hop / total:.0%}); their {len(REDIS_HOPS)} round trips at PING's p50 would be "
        f"{len(REDIS_HOPS) * percentile(ping, 0.5) * 1000:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="withdrawals measured")
    parser.add_argument("--partitions", type=int, help="the partitions held (default: setting)")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atm-sync-steps-") as name:
        directory = Path(name)
        server = RedisServer(directory / "redis")
        try:
            rig = build(directory, server.url, args.partitions, args.database_url)
            report(rig, directory, args.requests)
        finally:
            # The listener's thread would report the server's stop as a lost subscription.
            logging.getLogger("web.serving.waiting").setLevel(logging.CRITICAL)
            server.stop()


if __name__ == "__main__":
    main()
