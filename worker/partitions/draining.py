"""Draining a partition: apply its queued jobs in chunks while the lease is held, then notify."""

from __future__ import annotations

import logging
import time
from collections import Counter

import redis
from celery import current_app
from sqlalchemy.exc import SQLAlchemyError

from shared import messaging
from shared.events.outbox import DELIVER_TASK, WEBHOOKS_DOORBELL, WEBHOOKS_QUEUE
from shared.ledger.applying import Applied, Outcome, PartRun, apply_pending, has_pending
from shared.ledger.atomic import apply_atomic
from shared.ledger.fences import PartitionsMoved
from shared.metrics import record_applied
from worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)
# The longest a drain applies before handing the event loop back (it wakes itself again).
DRAIN_SLICE_SECONDS = 1.0


def drain(runtime: WorkerRuntime, *, look_first: bool = True) -> int:
    """Apply everything queued for the partitions this worker owns; return how many jobs.

    It applies, clears the worker's doorbell after the first transaction that leaves
    nothing more in sight, and goes on looking (a plain read) and applying while the looks
    find work; it returns only when a look made after the clear finds nothing. A job
    committed before the clear is seen by a later look; one committed after it rings again
    (its request sets the flag after its commit), once for the whole worker: later
    requests find the flag set and send nothing. Under load a drain thus runs on with at
    most one message waiting for it, instead of a message per request or per partition.

    A wake-up that found its flag set skips the first look (`look_first=False`): its job
    is likely there, and an apply that finds nothing counts as an empty look. Ownership is
    checked before every chunk: a worker that lost a partition stops applying it, and the
    partition's fence in the database covers the moment between (an apply of a partition
    taken since is refused, and the partition given up). A shutdown stops it between
    transactions, and clears the doorbell so that later requests ring the next owner.
    After DRAIN_SLICE_SECONDS of work it wakes itself again and returns, so the consumer's
    event loop (lease renewals, the heartbeat, shutdown) is never starved.
    """
    applied = 0
    cleared = False
    found: bool | None = None if look_first else True  # None: not known, look
    chunk = runtime.settings.apply_chunk
    slice_ends = time.monotonic() + DRAIN_SLICE_SECONDS
    while owned := runtime.leases.applicable():
        if runtime.stopping.is_set():
            messaging.clear_doorbells(runtime.redis, runtime.identity)
            break
        if time.monotonic() > slice_ends:
            wake_again(runtime)
            break
        if found is None:
            with runtime.database.look.begin() as session:
                found = has_pending(session, owned)
        nothing = not found
        if found:
            applied_now = _apply_chunk(runtime, owned, chunk)
            if applied_now is None:  # partitions given up, nothing applied: look again
                found = None
                continue
            applied += applied_now
            if applied_now == chunk:  # a full chunk says there is more
                continue
            nothing, found = applied_now == 0, None  # after a partial one, look
        if nothing and cleared:  # found nothing after a clear: every later job rang again
            break
        if not cleared:
            messaging.clear_doorbells(runtime.redis, runtime.identity)
            cleared, found = True, None
    return applied


def _apply_chunk(runtime: WorkerRuntime, owned: list[int], chunk: int) -> int | None:
    """One transaction of up to `chunk` jobs; its outcomes told, logged and counted. A
    partition another worker has taken since is given up, and nothing applied (None: the
    other partitions may still have work, which the drain looks for again)."""
    fences = runtime.leases.fences()
    try:
        with runtime.database.writing() as session:
            applied = apply_pending(session, owned, chunk, runtime.identity, fences)
    except PartitionsMoved as moved:
        for partition in moved.partitions:
            log.warning("partition %s was taken by another worker; giving it up", partition)
            runtime.leases.forget(partition)
        return None
    _tell(runtime, applied)
    return applied.count + sum(_try_atomic(runtime, batch_id) for batch_id in applied.barriers)


def _try_atomic(runtime: WorkerRuntime, batch_id: str) -> int:
    """Try an atomic batch one of the owned queues waits for, after the transaction that
    brought the queue to it has committed (shared.ledger.atomic); how many operations
    that applied. Once applied, every partition it held is rung: their queues go on."""
    try:
        with runtime.database.writing() as session:
            applied = apply_atomic(session, batch_id, runtime.identity)
    except SQLAlchemyError as exc:  # the queues still wait for it: tried again by the next drain
        log.warning("atomic batch %s could not be applied now: %s", batch_id, exc)
        return 0
    if applied is None:
        return 0
    _tell(runtime, applied)
    messaging.ring_doorbells(runtime.redis, applied.partitions, runtime.wake_ups.message)
    return applied.count


def _tell(runtime: WorkerRuntime, applied: Applied) -> None:
    """A committed transaction's outcomes told to waiting requests, logged and counted."""
    outcomes, runs = applied.outcomes, applied.runs
    messaging.publish_outcomes(runtime.redis, outcomes, runs)
    if applied.events:
        wake_sender(runtime.redis)
    log_applied(outcomes, runs)
    record_applied(outcomes, runs)


def wake_again(runtime: WorkerRuntime) -> None:
    """Push a wake-up on this worker's own queue, its flag set with it: for a drain that
    hands the event loop back with work left."""
    messaging.wake_worker(runtime.redis, runtime.identity, runtime.wake_ups.message())


def wake_sender(client: redis.Redis) -> None:
    """Wake the webhook sender, unless a wake-up is already waiting for it (the sender
    clears the flag before it looks for due deliveries, as a partition's worker does)."""
    if client.set(WEBHOOKS_DOORBELL, 1, nx=True, ex=messaging.DOORBELL_TTL_SECONDS):
        current_app.send_task(DELIVER_TASK, queue=WEBHOOKS_QUEUE)


def log_applied(outcomes: list[Outcome], runs: list[PartRun]) -> None:
    """A line per single operation, and per batch a line for its jobs in this chunk, each
    with the id of the request that submitted it."""
    batches: Counter[tuple[str, str | None]] = Counter()
    for run in runs:
        batches[(run.batch_id, run.request_id)] += len(run.operations)
    for outcome in outcomes:
        if outcome.batch_id is not None:
            batches[(outcome.batch_id, outcome.request_id)] += 1
            continue
        log.info(
            "applied job",
            extra={
                "job_id": outcome.job_id,
                "request_id": outcome.request_id,
                "account_number": outcome.account_number,
                "type": outcome.type,
                "status": outcome.status,
                "error_type": outcome.error_type,
            },
        )
    for (batch_id, request_id), count in batches.items():
        log.info(
            "applied batch jobs",
            extra={"batch_id": batch_id, "request_id": request_id, "jobs": count},
        )
