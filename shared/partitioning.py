"""Account → partition mapping and the names of each partition's queue and Redis keys."""

from __future__ import annotations

import zlib

DRAIN_TASK = "worker.tasks.drain_partition"


def partition_of(account_number: str, partitions: int) -> int:
    """A stable partition index for an account (CRC-32, the same in every process)."""
    return zlib.crc32(account_number.encode("ascii")) % partitions


def lease_key(partition: int) -> str:
    """The Redis key of the partition's lease; its value is the owning worker's identity."""
    return f"atm:lease:{partition}"


def queue_name(partition: int) -> str:
    """The Celery queue whose single consumer applies this partition's operations."""
    return f"atm.partition.{partition}"
