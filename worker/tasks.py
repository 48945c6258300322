"""Thin Celery tasks: the wake-up of a partition worker, and the one of the webhook sender."""

from __future__ import annotations

from shared import messaging
from shared.events.outbox import DELIVER_TASK
from shared.partitioning import DRAIN_TASK
from worker.app import celery_app
from worker.partitions.draining import drain
from worker.runtime import get_runtime
from worker.webhooks.delivery import deliver_due


@celery_app.task(name=DRAIN_TASK)
def drain_partition(*_: object) -> int:
    """Apply the queued jobs of every partition this worker owns.

    A wake-up names no partition (a release before this one's named one, and is taken
    the same way): it came on this worker's own queue, and the drain applies all the
    worker's partitions. One for a partition this worker has since lost needs no passing
    on: whoever took the partition drained it after taking its fence. A stale wake-up
    (its flag already cleared by a drain that then looked) costs one Redis read: under
    load a drain has often applied a wake-up's jobs before the wake-up arrives.
    """
    runtime = get_runtime()
    if not messaging.doorbell_rung(runtime.redis, runtime.identity):
        return 0
    return drain(runtime, look_first=False)


@celery_app.task(name=DELIVER_TASK)
def deliver_webhooks() -> int:
    """Send the webhook deliveries that are due (consumed by the sender process only)."""
    return deliver_due(get_runtime())
