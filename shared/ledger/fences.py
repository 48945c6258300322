"""Partition fences: ownership that the database enforces, not only Redis's timing.

A worker applies a partition while it holds the partition's Redis lease. A lease can be
lost while its holder is stalled (a pause, a long garbage collection, a network cut) and
taken by another worker, and the stalled one may wake up in the middle of a drain. The
partition row lock makes two appliers take turns, which keeps each account's order and
exactly-once; the fence also stops the one that lost the partition:

- Taking a partition raises its row's `epoch` by one in a write transaction of its own
  (`take_partitions`). On PostgreSQL that UPDATE waits for the row lock that an apply
  transaction of the previous owner holds; on SQLite for the database's write lock. So the
  new owner's epoch exists only after the old owner's last transaction for the partition
  has committed or rolled back.
- Every apply transaction of a worker locks the rows of the partitions it has work in and
  reads their epochs in the same statement (shared.ledger.applying), before it reads any
  of that work (a partition with none is neither locked nor read, nor checked): a partition
  whose epoch is no longer the one the worker took is refused (`PartitionsMoved`), the
  transaction rolls back having written nothing, and the worker gives the partition up.
  The epoch cannot change between that read and the commit: the row stays locked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shared.store.models import Partition

_partitions = Partition.__table__


class PartitionsMoved(Exception):
    """Partitions another worker has taken since this one did: nothing of theirs may be
    applied by this one any more."""

    def __init__(self, partitions: Sequence[int]) -> None:
        super().__init__(f"partitions taken by another worker: {list(partitions)}")
        self.partitions = list(partitions)


def take_partitions(session: Session, partitions: Iterable[int], owner: str) -> dict[int, int]:
    """Raise the epoch of each partition and name `owner` in it, in the caller's write
    transaction; returns each partition's new epoch, which the owner's applies carry."""
    wanted = sorted(set(partitions))
    if not wanted:
        return {}
    session.execute(_TAKE, {"ids": wanted, "owner": owner})
    return {partition: epoch for partition, epoch in session.execute(_EPOCHS, {"ids": wanted})}


def moved(epochs: Iterable[tuple[int, int]], fences: Mapping[int, int]) -> list[int]:
    """The partitions whose epoch, as read, is not the one the fence holds."""
    return sorted(partition for partition, epoch in epochs if fences.get(partition) != epoch)


_IDS = bindparam("ids", expanding=True)
_TAKE = (
    update(_partitions)
    .where(_partitions.c.id.in_(_IDS))
    .values(epoch=_partitions.c.epoch + 1, owner=bindparam("owner"))
)
_EPOCHS = select(_partitions.c.id, _partitions.c.epoch).where(_partitions.c.id.in_(_IDS))
