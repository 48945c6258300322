"""A consumer bootstep that holds this worker's partitions: leases, fences, and the sweep."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import bootsteps
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from shared.accepting.idempotency import purge_expired
from shared.events.feed import purge_events
from shared.ledger.fences import take_partitions
from shared.messaging import DOORBELL_TTL_SECONDS
from shared.partitioning import owner_queue
from shared.store.models import utcnow
from worker.partitions.draining import drain
from worker.runtime import get_runtime

log = logging.getLogger(__name__)
PURGE_INTERVAL_SECONDS = 600
EVENT_ROWS_A_PURGE = 1000
EVENT_ROWS_A_TICK = 20_000


class PartitionOwnershipStep(bootsteps.StartStopStep):
    """Every lease/3 seconds: renew leases, hand back surplus, take free partitions, sweep.

    Runs on the consumer's event loop, the same thread that executes tasks in the solo pool,
    so ownership changes and draining never race each other inside one process. The wake-ups
    of all its partitions come on the worker's own queue, consumed from the start: taking or
    giving up a partition changes no queue, whatever the number of partitions.
    """

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent, **kwargs)
        self.timer_entry = None
        self.next_purge = 0.0

    def start(self, consumer) -> None:  # type: ignore[no-untyped-def]
        # The one queue the wake-ups of every partition this worker holds come to. It
        # expires as its messages do (the doorbell script gives it the flag's TTL), and so
        # does kombu's binding of it once no consumer refreshes it: a worker's identity
        # carries its pid, and each one that ended would otherwise leave a key for good.
        expires = {"x-expires": DOORBELL_TTL_SECONDS * 1000}
        consumer.add_task_queue(owner_queue(get_runtime().identity), queue_arguments=expires)
        self.tick(consumer)
        interval = get_runtime().settings.lease_seconds / 3
        self.timer_entry = consumer.timer.call_repeatedly(interval, self.tick, (consumer,))

    def stop(self, consumer) -> None:  # type: ignore[no-untyped-def]
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    def shutdown(self, consumer) -> None:  # type: ignore[no-untyped-def]
        self.stop(consumer)
        try:
            get_runtime().leases.release_all()
        except RedisError:
            log.warning("could not release partition leases; they expire on their own")

    def purge_expired_keys(self, runtime) -> None:  # type: ignore[no-untyped-def]
        """Now and then, the owner of partition 0 deletes idempotency keys past retention."""
        if 0 not in runtime.leases.held or time.monotonic() < self.next_purge:
            return
        self.next_purge = time.monotonic() + PURGE_INTERVAL_SECONDS
        with runtime.database.writing() as session:
            purged = purge_expired(session)
        if purged:
            log.info("purged %d expired idempotency keys", purged)

    def purge_old_events(self, runtime) -> None:  # type: ignore[no-untyped-def]
        """At each tick, the owner of partition 0 removes events past retention: at most
        EVENT_ROWS_A_TICK log rows, EVENT_ROWS_A_PURGE a transaction, so neither the
        appliers nor this loop's lease renewals wait long; more than apply transactions
        commit in a tick's time on this kind of machine, so it keeps up."""
        if 0 not in runtime.leases.held:
            return
        before = utcnow() - timedelta(days=runtime.settings.events_retention_days)
        removed = 0
        while removed < EVENT_ROWS_A_TICK:
            with runtime.database.writing() as session:
                count = purge_events(session, before, EVENT_ROWS_A_PURGE)
            removed += count
            if count < EVENT_ROWS_A_PURGE:
                break
        if removed:
            log.info("removed %d transactions' events past retention", removed)

    def fence(self, runtime) -> None:  # type: ignore[no-untyped-def]
        """Take the database fence of each partition newly held in Redis: its epoch exists
        once the previous owner's last apply transaction for it has ended
        (shared.ledger.fences), and only then is it applied. One that fails is fenced again
        at the next tick."""
        unfenced = runtime.leases.unfenced()
        if not unfenced:
            return
        with runtime.database.writing() as session:
            epochs = take_partitions(session, unfenced, runtime.identity)
        runtime.leases.fenced(epochs)
        for partition in unfenced:
            log.info("took partition %s (epoch %s)", partition, epochs.get(partition))

    def tick(self, consumer) -> None:  # type: ignore[no-untyped-def]
        runtime = get_runtime()
        leases = runtime.leases
        try:
            live = leases.heartbeat()
            for partition in leases.renew():
                log.warning("lost the lease of partition %s", partition)
            for partition in leases.surplus(live):
                leases.release(partition)
                log.info("handed partition %s back for rebalancing", partition)
            leases.acquire_free(live)
            self.fence(runtime)
            # Takeover catch-up and the periodic sweep are the same thing: apply whatever is
            # queued, whether or not a wake-up message for it survived.
            drain(runtime)
            self.purge_expired_keys(runtime)
            self.purge_old_events(runtime)
        except (RedisError, SQLAlchemyError) as exc:
            # Retried on the next tick; a lease that cannot be renewed simply expires.
            log.warning("partition ownership tick failed: %s", exc)
