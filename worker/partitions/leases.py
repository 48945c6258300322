"""Partition ownership through Redis leases: one owner per partition, shared out fairly."""

from __future__ import annotations

import contextlib
import math
import time
import zlib
from collections.abc import Mapping
from types import MappingProxyType

import redis
from redis.exceptions import LockError

from shared import messaging
from shared.config.settings import Settings
from shared.partitioning import lease_key


class PartitionLeases:
    """The leases this process holds, checked with Redis: a lease is taken as held only
    until half its TTL after its last renewal.

    A lease is a redis-py Lock with a TTL of ATM_LEASE_SECONDS, renewed by `renew()`. If the
    process stalls or dies, the lease expires and another worker takes the partition.
    """

    def __init__(self, client: redis.Redis, identity: str, settings: Settings) -> None:
        self.client = client
        self.identity = identity
        self.settings = settings
        self.held: dict[int, redis.lock.Lock] = {}
        # Until when (monotonic clock) each lease is surely still ours: renewed at t with a
        # TTL of L, nobody else can take it before t + L; half of that leaves a wide margin.
        self.sure_until: dict[int, float] = {}
        # Leases found lost (by any check) that the ownership step must still hear of.
        self.lost: set[int] = set()
        # Each held partition's epoch as this worker took it in the database: its fence
        # (shared.ledger.fences). A partition held in Redis but not yet fenced is not applied.
        self.epochs: dict[int, int] = {}
        # applicable()'s last answer and until when it stands (the earliest sure_until of
        # its partitions): a drain asks before every chunk, and a worker may hold hundreds.
        self.applicable_until: tuple[float, list[int]] | None = None
        # Start the search for free partitions at a per-worker offset, so workers starting
        # together do not all contend for partition 0 first.
        everyone = list(range(settings.partitions))
        start = zlib.crc32(identity.encode()) % settings.partitions
        self.preference = everyone[start:] + everyone[:start]

    def heartbeat(self) -> int:
        """Announce this worker as alive and return how many workers are."""
        return messaging.register_worker(self.client, self.identity, self.settings.lease_seconds)

    def renew(self) -> list[int]:
        """Extend every held lease, all in one pipeline (a worker may hold hundreds); return
        the partitions lost since the last call, whether found now or by a check between."""
        held = list(self.held.items())
        if held:
            started = time.monotonic()
            pipe = self.client.pipeline(transaction=False)
            timeout = int(self.settings.lease_seconds * 1000)
            for _, lock in held:
                # What Lock.reacquire runs, queued on the pipeline instead of sent alone.
                lock.lua_reacquire(keys=[lock.name], args=[lock.local.token, timeout], client=pipe)
            for (partition, _), extended in zip(held, pipe.execute(), strict=True):
                if extended:
                    self.sure_until[partition] = started + self.settings.lease_seconds / 2
                else:
                    self.forget(partition)
        lost, self.lost = sorted(self.lost), set()
        return lost

    def confirm(self, partition: int) -> bool:
        """True if this process still holds the partition (and its lease is extended)."""
        lock = self.held.get(partition)
        if lock is None:
            return False
        started = time.monotonic()
        try:
            lock.reacquire()
        except LockError:
            self.forget(partition)
            return False
        self.sure_until[partition] = started + self.settings.lease_seconds / 2
        return True

    def holds(self, partition: int) -> bool:
        """Like confirm(), without a Redis round trip while the last renewal is recent."""
        if partition in self.held and time.monotonic() < self.sure_until.get(partition, 0):
            return True
        return self.confirm(partition)

    def owned(self) -> list[int]:
        """The partitions this process holds right now, in order."""
        return [partition for partition in sorted(self.held) if self.holds(partition)]

    def applicable(self) -> list[int]:
        """The partitions this process holds and has fenced: the ones it may apply, in
        order. The same list while every one of them is surely still held (not to be
        changed by the caller)."""
        known = self.applicable_until
        if known is not None and time.monotonic() < known[0]:
            return known[1]
        partitions = [partition for partition in self.owned() if partition in self.epochs]
        until = min((self.sure_until[p] for p in partitions), default=0.0)
        self.applicable_until = (until, partitions)
        return partitions

    def unfenced(self) -> list[int]:
        """Partitions held in Redis whose epoch this worker has not taken yet."""
        return sorted(partition for partition in self.held if partition not in self.epochs)

    def fenced(self, epochs: dict[int, int]) -> None:
        """Record the epochs taken for held partitions (shared.ledger.fences)."""
        self.epochs.update({p: epoch for p, epoch in epochs.items() if p in self.held})
        self.applicable_until = None

    def fences(self) -> Mapping[int, int]:
        """Each fenced partition's epoch as this worker took it; an apply checks those of
        the partitions it locks (a view: no copy of hundreds per chunk)."""
        return MappingProxyType(self.epochs)

    def forget(self, partition: int) -> None:
        """Give up a partition found lost (its lease, or its fence, taken by another):
        the ownership step hears of it at its next tick."""
        lock = self.held.pop(partition, None)
        self.sure_until.pop(partition, None)
        self.epochs.pop(partition, None)
        self.applicable_until = None
        self.lost.add(partition)
        if lock is not None:
            with contextlib.suppress(LockError, redis.RedisError):
                lock.release()  # refused if the lease is already another's, as it should be

    def fair_share(self, live_workers: int) -> int:
        return math.ceil(self.settings.partitions / max(live_workers, 1))

    def surplus(self, live_workers: int) -> list[int]:
        """Partitions held beyond a fair share, to hand to workers that have fewer."""
        extra = len(self.held) - self.fair_share(live_workers)
        return sorted(self.held, reverse=True)[: max(extra, 0)]

    def acquire_free(self, live_workers: int) -> list[int]:
        """Take free partitions up to a fair share; return the ones taken. One read finds
        the free ones first: a worker short of its share, among workers that hold all the
        partitions until they hand back their surplus, tries none of theirs."""
        taken: list[int] = []
        share = self.fair_share(live_workers)
        if len(self.held) >= share:
            return taken
        candidates = [partition for partition in self.preference if partition not in self.held]
        holders = messaging.lease_holders(self.client, candidates)
        for partition, holder in zip(candidates, holders, strict=True):
            if len(self.held) >= share:
                break
            if holder is not None:
                continue
            lock = self.client.lock(
                lease_key(partition), timeout=self.settings.lease_seconds, thread_local=False
            )
            started = time.monotonic()
            if lock.acquire(blocking=False, token=self.identity):
                self.held[partition] = lock
                self.sure_until[partition] = started + self.settings.lease_seconds / 2
                taken.append(partition)
        return taken

    def release(self, partition: int) -> None:
        lock = self.held.pop(partition, None)
        self.sure_until.pop(partition, None)
        self.epochs.pop(partition, None)
        self.applicable_until = None
        if lock is not None:
            with contextlib.suppress(LockError):
                lock.release()

    def release_all(self) -> None:
        for partition in list(self.held):
            self.release(partition)
        messaging.unregister_worker(self.client, self.identity)
