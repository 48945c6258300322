"""Waking a partition's worker: a Celery message on the partition's queue, one per doorbell."""

from __future__ import annotations

from collections.abc import Iterable

import redis
from celery import Celery

from shared import messaging
from shared.partitioning import DRAIN_TASK, queue_name
from shared.settings import Settings


class PartitionDispatcher:
    """Sends wake-ups by task name, so the web process never imports worker code."""

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self.redis = client
        self.celery = Celery("atm-web", broker=settings.redis_url)
        self.celery.conf.update(
            task_serializer="json",
            accept_content=["json"],
            broker_pool_limit=64,
            broker_connection_retry=False,
            broker_connection_max_retries=0,
        )

    def wake(self, partitions: Iterable[int]) -> None:
        messaging.ring_doorbells(self.redis, partitions, self._send)

    def _send(self, partitions: list[int]) -> None:
        """One message per partition, all sent in one Redis round trip (kombu's publish
        batch): a group of requests often spans several partitions."""
        with self.celery.producer_or_acquire() as producer, producer.batch():
            for partition in partitions:
                self.celery.send_task(
                    DRAIN_TASK, args=[partition], queue=queue_name(partition), producer=producer
                )
