"""Waking a partition's worker: its doorbell rung, and a wake-up pushed on the owner's
queue when the ring set the flag (shared.messaging, shared.wake_ups)."""

from __future__ import annotations

from collections.abc import Iterable

import redis

from shared import messaging
from shared.wake_ups import WakeUpMessages


class PartitionDispatcher:
    """Rings doorbells and pushes wake-ups by task name, so the web never imports worker
    code. The messages go to the Redis the doorbells are in: it is also Celery's broker."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self.messages = WakeUpMessages()

    def wake(self, partitions: Iterable[int]) -> list[int]:
        """One partition of each owner a wake-up was pushed to (the others' owners were
        already rung, or nobody holds them)."""
        return messaging.ring_doorbells(self.redis, partitions, self.messages.message)
