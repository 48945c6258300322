"""Start the webhook sender: `python -m worker.sender` (what the Procfile and compose run).

A Celery worker of its own queue (atm.webhooks) and nothing else: it owns no partition,
so a receiver that hangs costs the appliers nothing. It runs at a lower CPU priority
than the appliers, whose work is the money; events wait a little under load instead.
"""

from __future__ import annotations

import logging
import os

from celery import bootsteps
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from shared import messaging
from shared.events.outbox import WEBHOOKS_QUEUE
from shared.logs import use_json_logs
from shared.messaging import SENDERS_KEY
from worker.app import celery_app, run_worker
from worker.partitions.ownership import PartitionOwnershipStep
from worker.runtime import get_runtime
from worker.webhooks.delivery import deliver_due

log = logging.getLogger(__name__)
NICENESS = 10


class DeliverySweepStep(bootsteps.StartStopStep):
    """Every ATM_WEBHOOK_SWEEP_SECONDS, send what is due: retries whose time has come, and
    events whose wake-up was lost (Redis restarted empty, a sender killed mid-round)."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent, **kwargs)
        self.timer_entry = None

    def start(self, consumer) -> None:  # type: ignore[no-untyped-def]
        self.tick()
        interval = get_runtime().settings.webhook_sweep_seconds
        self.timer_entry = consumer.timer.call_repeatedly(interval, self.tick)

    def stop(self, consumer) -> None:  # type: ignore[no-untyped-def]
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    def tick(self) -> None:
        runtime = get_runtime()
        try:
            # Alive, for `python -m worker.health sender`, if it ticked lately.
            ttl = max(30.0, 3 * runtime.settings.webhook_sweep_seconds)
            messaging.register_worker(runtime.redis, runtime.identity, ttl, SENDERS_KEY)
            deliver_due(runtime)
        except (RedisError, SQLAlchemyError) as exc:
            log.warning("webhook sweep failed: %s", exc)  # tried again on the next tick


def main() -> None:
    use_json_logs()
    os.nice(NICENESS)
    consumer_steps = celery_app.steps["consumer"]
    consumer_steps.discard(PartitionOwnershipStep)
    consumer_steps.add(DeliverySweepStep)
    run_worker(WEBHOOKS_QUEUE, "sender")


if __name__ == "__main__":
    main()
