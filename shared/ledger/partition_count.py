"""The number of partitions, fixed per database: the partition rows it was made with.

An account's partition is CRC-32 of its number modulo the count, and every queued job,
batch part and hold carries its partition. A process started with another count would put
an account's new work in another partition than its queued work, where another owner
applies it, out of acceptance order; and work in a partition beyond the count would never
be applied. So the rows made when the database was created are the count's record: a
process without ATM_PARTITIONS takes the database's count (a new database gets the
setting's default), and one whose ATM_PARTITIONS differs refuses to start.
`change_partition_count` changes it while nothing waits in any partition, with every
process stopped.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shared.store.models import IS_ACTIVE, IS_QUEUED, Hold, Job, Partition


class PartitionCountDiffers(RuntimeError):
    """This process's ATM_PARTITIONS is not the database's count."""

    def __init__(self, stored: int, wanted: int) -> None:
        super().__init__(
            f"ATM_PARTITIONS is {wanted}, but this database has {stored} partitions: an "
            f"account's partition depends on the count, so a database keeps the one it was "
            f"made with. Start every process with ATM_PARTITIONS={stored}, or, with every "
            f"process stopped and nothing queued, change the database's count with "
            f"`flask --app web partitions {wanted}`."
        )
        self.stored, self.wanted = stored, wanted


class PartitionsBusy(RuntimeError):
    """The count cannot change while work waits in a partition."""


def stored_partition_count(session: Session) -> int | None:
    """How many partition rows the database has (None: none yet, a new database)."""
    return session.scalar(select(func.count()).select_from(Partition)) or None


def check_partition_count(session: Session, count: int) -> set[int]:
    """Raise PartitionCountDiffers unless the database's partitions are 0 … count-1, or it
    has none yet; the partitions it has."""
    ids = set(session.scalars(select(Partition.id)))
    if ids and ids != set(range(count)):
        raise PartitionCountDiffers(len(ids), count)
    return ids


def settled_partition_count(session: Session, count: int, *, given: bool) -> int:
    """The count this process works with: the database's. A new database gets `count`
    partition rows. An existing one must have `count` of them if ATM_PARTITIONS was `given`
    (else PartitionCountDiffers); if not, its own count is taken, whatever the default."""
    if not given:
        count = stored_partition_count(session) or count
    if not check_partition_count(session, count):
        session.add_all(Partition(id=partition) for partition in range(count))
        session.flush()
    return count


def change_partition_count(session: Session, count: int) -> int:
    """Give the database `count` partitions (in the caller's write transaction); how many
    it had. Refused while any job is queued or any hold is active: each of them names a
    partition of the old count.

    The partitions kept keep their fences; a new one starts above every epoch any
    partition has had, so no fence a worker of before still holds matches it.
    """
    queued = session.scalar(select(Job.id).where(IS_QUEUED).limit(1))
    active = session.scalar(select(Hold.hold_id).where(IS_ACTIVE).limit(1))
    if queued is not None or active is not None:
        raise PartitionsBusy(
            "jobs are queued or holds are active; the partition count can change only "
            "when nothing waits in any partition"
        )
    epochs = {row.id: row.epoch for row in session.execute(select(Partition.id, Partition.epoch))}
    above = max(epochs.values(), default=0) + 1
    session.execute(delete(Partition).where(Partition.id >= count))
    session.add_all(Partition(id=p, epoch=above) for p in range(count) if p not in epochs)
    return len(epochs)
