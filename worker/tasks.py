"""Thin Celery tasks: the wake-up for a partition, and the one for the webhook sender."""

from __future__ import annotations

import logging

from shared import messaging
from shared.events.outbox import DELIVER_TASK
from shared.partitioning import DRAIN_TASK
from worker.app import celery_app
from worker.partitions.draining import drain, wake_again
from worker.runtime import get_runtime
from worker.webhooks.delivery import deliver_due

log = logging.getLogger(__name__)


@celery_app.task(name=DRAIN_TASK)
def drain_partition(partition: int) -> int:
    """Apply the queued jobs of every partition this worker owns, or pass the wake-up on.

    A stale wake-up (its flag already cleared by a drain that then looked) costs one Redis
    read: a drain applies every partition of its worker, so under load it has often
    applied a wake-up's jobs before the wake-up arrives.
    """
    runtime = get_runtime()
    if not runtime.leases.holds(partition):
        log.info("passing on a wake-up for partition %s, which this worker does not own", partition)
        wake_again(runtime, [partition])
        return 0
    if not messaging.doorbell_rung(runtime.redis, runtime.identity):
        return 0
    return drain(runtime, look_first=False)


@celery_app.task(name=DELIVER_TASK)
def deliver_webhooks() -> int:
    """Send the webhook deliveries that are due (consumed by the sender process only)."""
    return deliver_due(get_runtime())
