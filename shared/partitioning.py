"""Account → partition mapping, the lease keys of partitions and the queues of their owners."""

from __future__ import annotations

import zlib

DRAIN_TASK = "worker.tasks.drain_partition"


def partition_of(account_number: str, partitions: int) -> int:
    """A stable partition index for an account (CRC-32, the same in every process)."""
    return zlib.crc32(account_number.encode("ascii")) % partitions


def lease_key(partition: int) -> str:
    """The Redis key of the partition's lease; its value is the owning worker's identity."""
    return f"atm:lease:{partition}"


OWNER_QUEUE_PREFIX = "atm.worker."


def owner_queue(identity: str) -> str:
    """The Celery queue of one worker (its `host:pid`): the wake-ups of every partition it
    holds come to it, so it consumes one queue however many partitions it holds."""
    return f"{OWNER_QUEUE_PREFIX}{identity}"
