"""Draining a partition: apply its queued jobs in chunks while the lease is held, then notify."""

from __future__ import annotations

import logging

from shared import messaging
from shared.applying import apply_pending
from worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)


def drain(runtime: WorkerRuntime, partition: int) -> int:
    """Apply everything queued for `partition`; return how many jobs were applied.

    The doorbell is cleared before the first read, so a job recorded after that read rings
    again. The lease is confirmed before every chunk: a worker that lost its partition
    stops, and the partition lock in the database covers the moment in between.
    """
    messaging.clear_doorbell(runtime.redis, partition)
    applied = 0
    chunk = runtime.settings.apply_chunk
    while runtime.leases.confirm(partition):
        with runtime.database.write.begin() as session:
            outcomes = apply_pending(session, partition, chunk, runtime.identity)
        messaging.publish_outcomes(runtime.redis, outcomes)
        applied += len(outcomes)
        if len(outcomes) < chunk:
            break
    return applied
