"""Group commit on accept: concurrent requests' jobs are recorded in shared transactions."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field

from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from shared.db import Database
from shared.errors import AccountNotFound
from shared.operations import Operation, record_operations
from shared.partitioning import partition_of
from web.background import ProcessThread
from web.dispatch import PartitionDispatcher

log = logging.getLogger(__name__)
MAX_GROUP = 500


@dataclass
class _Pending:
    operation: Operation
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    woken: bool = False


class JobIntake:
    """One committer thread per process records every waiting request's job at once.

    Each write transaction costs a lock hand-off and (with synchronous=FULL) an fsync, and
    each wake-up a Redis round trip; paid once per group (and partition) instead of once per
    request, accepting scales with concurrency. A request returns only after the
    transaction holding its job has committed.
    """

    def __init__(
        self, database: Database, partitions: int, dispatcher: PartitionDispatcher
    ) -> None:
        self.database = database
        self.partitions = partitions
        self.dispatcher = dispatcher
        self.waiting: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self.thread = ProcessThread("job-intake", self._run)

    def record(self, operation: Operation) -> bool:
        """Durably record `operation` and wake its partition; AccountNotFound if no account.

        Returns False when the job is recorded but the wake-up could not be sent (Redis
        down): the job then waits for the partition owner's sweep.
        """
        self.thread.ensure_started()
        pending = _Pending(operation)
        self.waiting.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.woken

    def _run(self) -> None:
        while True:
            group = [self.waiting.get()]
            while len(group) < MAX_GROUP:
                try:
                    group.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            self._commit(group)

    def _commit(self, group: list[_Pending]) -> None:
        try:
            with self.database.writing() as session:
                refused = record_operations(
                    session, [pending.operation for pending in group], self.partitions
                )
            for pending in group:
                if pending.operation.job_id in refused:
                    number = pending.operation.account_number
                    pending.error = AccountNotFound(f"account {number} not found")
            self._wake([pending for pending in group if pending.error is None])
        except Exception as exc:  # reported to every request of the group
            log.exception("recording %d jobs failed", len(group))
            for pending in group:
                pending.error = exc
        finally:
            for pending in group:
                pending.done.set()

    def _wake(self, recorded: list[_Pending]) -> None:
        partitions = {partition_of(p.operation.account_number, self.partitions) for p in recorded}
        if self.wake(partitions):
            for pending in recorded:
                pending.woken = True

    def wake(self, partitions: set[int]) -> bool:
        """Ring the partitions' doorbells; False if Redis could not be reached."""
        try:
            self.dispatcher.wake(partitions)
        except (RedisError, OperationalError) as exc:
            # Already durable: the partitions' owners sweep them up when Redis is back.
            log.warning("could not wake partitions %s: %s", sorted(partitions), exc)
            return False
        return True
