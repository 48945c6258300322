"""Group commit on accept: concurrent requests' jobs are recorded in shared transactions."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.accepting.idempotency import Claim, ensure_same_request, find_claims, store_claim
from shared.accepting.operations import Operation, record_operations, unknown_account
from shared.errors import AccountNotFound, IdempotencyKeyReused
from shared.partitioning import partition_of
from shared.store.db import Database
from web.serving.background import ProcessThread
from web.serving.dispatch import PartitionDispatcher
from web.serving.offload import DatabaseThreads

log = logging.getLogger(__name__)
MAX_GROUP = 500


@dataclass
class _Pending:
    operation: Operation
    claim: Claim | None
    waits: bool  # the request waits for the outcome (see JobIntake.record)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    woken: bool = False
    durable: bool = False  # its commit waited for the disk
    job_id: str = ""  # the job that answers this request: its own, or a replayed one's


@dataclass(frozen=True)
class Recorded:
    job_id: str
    replayed: bool
    woken: bool
    durable: bool  # False: on disk only once the owner's commit or make_durable returns


class JobIntake:
    """One committer per process records every waiting request's job at once.

    Each write transaction costs a lock hand-off and (with synchronous=FULL) an fsync, and
    each wake-up a Redis round trip; paid once per group (and partition) instead of once per
    request, accepting scales with concurrency. A request returns only after the
    transaction holding its job has committed; a group whose requests all wait for their
    outcome leaves the fsync to the owner's commit (see `record`).
    """

    def __init__(
        self,
        database: Database,
        threads: DatabaseThreads,
        partitions: int,
        dispatcher: PartitionDispatcher,
        idempotency_ttl_seconds: float,
    ) -> None:
        self.database = database
        self.threads = threads
        self.partitions = partitions
        self.dispatcher = dispatcher
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        self.waiting: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self.thread = ProcessThread("job-intake", self._run)
        self.closed = False

    def record(
        self, operation: Operation, claim: Claim | None = None, *, waits: bool = False
    ) -> Recorded:
        """Record `operation` and wake its partition; AccountNotFound if no account.

        With an idempotency claim already stored for the same request, nothing is recorded
        and the stored job answers (`replayed`); for a different request it is
        IdempotencyKeyReused. `woken` is False when the job is recorded but the wake-up
        could not be sent (Redis down): the job then waits for the owner's sweep.

        A request that `waits` for its outcome is answered from the owner's commit of it,
        which waits for the disk and so makes the job durable too: a group of only such
        requests commits without waiting for the disk (`durable` False), and a request
        answered before its outcome (a wait that ran out) calls `make_durable` first.
        """
        if self.closed:
            raise RuntimeError("the job intake of this app is closed")
        self.thread.ensure_started()
        pending = _Pending(operation, claim, waits, job_id=operation.job_id)
        self.waiting.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        replayed = pending.job_id != operation.job_id
        durable = pending.durable and not replayed
        return Recorded(pending.job_id, replayed, pending.woken or replayed, durable)

    def make_durable(self) -> None:
        """Every job recorded so far on disk (Database.make_durable), off the event loop."""
        self.threads.run(self.database.make_durable)

    def close(self, timeout: float) -> bool:
        """End the committer after the requests already waiting, and refuse new ones; True
        if it has ended."""
        self.closed = True
        if self.thread.running_here():  # else no committer would take the closing marker
            self.waiting.put(None)  # type: ignore[arg-type]
        return self.thread.join(timeout)

    def _run(self) -> None:
        while True:
            group = [self.waiting.get()]
            while len(group) < MAX_GROUP:
                try:
                    group.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            closing = None in group
            group = [pending for pending in group if pending is not None]
            if group:
                self._commit(group)
            if closing:
                return

    def _commit(self, group: list[_Pending]) -> None:
        try:
            try:
                recorded = self.threads.run(self._record, group)
            except IntegrityError:
                # Two processes stored the same new key at once (PostgreSQL): the loser's
                # group rolled back; recorded again, its request finds the winner's job.
                recorded = self.threads.run(self._record, group)
            self._wake(recorded)
        except Exception as exc:  # reported to every request of the group
            log.exception("recording %d jobs failed", len(group))
            for pending in group:
                pending.error = exc
        finally:
            for pending in group:
                pending.done.set()

    def _record(self, group: list[_Pending]) -> list[_Pending]:
        """One transaction for the group; returns the requests whose jobs it recorded."""
        deferred = all(pending.waits for pending in group)
        for pending in group:
            pending.error, pending.job_id = None, pending.operation.job_id
            pending.durable = not deferred
        with self.database.writing(deferred=deferred) as session:
            fresh, replays = self._resolve_claims(session, group)
            refused = record_operations(
                session, [pending.operation for pending in fresh], self.partitions
            )
            for pending in fresh:
                if pending.operation.job_id in refused:
                    number = unknown_account(session, pending.operation)
                    pending.error = AccountNotFound(f"account {number} not found")
                elif pending.claim is not None:
                    store_claim(
                        session,
                        pending.claim,
                        self.idempotency_ttl_seconds,
                        job_id=pending.operation.job_id,
                    )
            for pending, original in replays:
                pending.job_id = original.job_id
                pending.error = original.error
        return [pending for pending in fresh if pending.error is None]

    def _resolve_claims(
        self, session: Session, group: list[_Pending]
    ) -> tuple[list[_Pending], list[tuple[_Pending, _Pending]]]:
        """Split the group into requests to record and replays of a request already made.

        A replay of a stored key is answered by its stored job; of a key that an earlier
        request in this same group carries, by that request's job.
        """
        claims = [pending.claim for pending in group if pending.claim is not None]
        stored = find_claims(session, {claim.key for claim in claims})
        first_use: dict[str, _Pending] = {}
        fresh: list[_Pending] = []
        replays: list[tuple[_Pending, _Pending]] = []
        for pending in group:
            claim = pending.claim
            if claim is None:
                fresh.append(pending)
                continue
            try:
                if claim.key in stored:
                    ensure_same_request(stored[claim.key].fingerprint, claim)
                    pending.job_id = stored[claim.key].job_id or pending.job_id
                    continue
                if claim.key in first_use:
                    ensure_same_request(first_use[claim.key].claim.fingerprint, claim)  # type: ignore[union-attr]
                    replays.append((pending, first_use[claim.key]))
                    continue
            except IdempotencyKeyReused as error:
                pending.error = error
                continue
            first_use[claim.key] = pending
            fresh.append(pending)
        return fresh, replays

    def _wake(self, recorded: list[_Pending]) -> None:
        partitions = {partition_of(p.operation.account_number, self.partitions) for p in recorded}
        if self.wake(partitions):
            for pending in recorded:
                pending.woken = True

    def wake(self, partitions: set[int]) -> bool:
        """Ring the partitions' doorbells; False if Redis could not be reached."""
        try:
            self.dispatcher.wake(partitions)
        except RedisError as exc:
            # Already durable: the partitions' owners sweep them up when Redis is back.
            log.warning("could not wake partitions %s: %s", sorted(partitions), exc)
            return False
        return True
