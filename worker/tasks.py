"""Thin Celery tasks: the wake-up for a partition."""

from __future__ import annotations

from shared import messaging
from shared.partitioning import DRAIN_TASK, queue_name
from worker.app import celery_app
from worker.draining import drain
from worker.runtime import get_runtime


@celery_app.task(name=DRAIN_TASK)
def drain_partition(partition: int) -> int:
    """Apply the partition's queued jobs, or pass the wake-up on if this worker lost it."""
    runtime = get_runtime()
    if partition not in runtime.leases.held or not runtime.leases.confirm(partition):
        messaging.ring_doorbell(runtime.redis, partition, _send_again, force=True)
        return 0
    return drain(runtime, partition)


def _send_again(partition: int) -> None:
    celery_app.send_task(DRAIN_TASK, args=[partition], queue=queue_name(partition))
