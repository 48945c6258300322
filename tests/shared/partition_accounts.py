"""Account numbers chosen by partition, for tests that need work in given partitions."""

from __future__ import annotations

from shared.partitioning import partition_of


def one_account_per_partition(count: int, first: int = 100) -> list[str]:
    """An account number in each of `count` partitions, in partition order: the least from
    `first` up."""
    found: dict[int, str] = {}
    number = first
    while len(found) < count:
        found.setdefault(partition_of(str(number), count), str(number))
        number += 1
    return [found[p] for p in range(count)]
