"""Sending webhook events: claim what is due, POST it signed, record what came of it.

Runs in the sender process (`python -m worker.sender`), never in a partition worker, so a
receiver that hangs or fails for hours costs the appliers nothing. Each round claims, in
one write transaction, the oldest outbox rows (new events, up to about CLAIM_SIZE) and up
to CLAIM_SIZE deliveries due for a retry, moving their claim past the time a round can
take so that a second sender does not take them too; sends them all on a pool of threads;
and in one more transaction writes a delivery row for each new event, updates the retried
ones and deletes the outbox rows. A sender that dies mid-round leaves its claims to run
out: those events are sent again (at least once, never lost).
"""

from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError

from shared.events.outbox import WEBHOOKS_DOORBELL
from shared.ledger.applying import has_pending
from shared.store.models import utcnow
from worker.runtime import WorkerRuntime
from worker.webhooks.claims import claim, prepare, record
from worker.webhooks.http import sender

log = logging.getLogger(__name__)

CLAIM_SIZE = 500
# While the appliers have work, a round of sending is followed by a pause this many times
# as long as the round: the sender then works a third of the time.
BUSY_PAUSE = 2.0


def deliver_due(runtime: WorkerRuntime) -> int:
    """Send every event and retry that is due, round after round; returns how many were
    delivered.

    The doorbell is cleared first, so an event recorded after the first claim rings again.
    """
    try:
        runtime.redis.delete(WEBHOOKS_DOORBELL)
    except RedisError as exc:
        log.warning("could not clear the webhook doorbell: %s", exc)
    delivered = 0
    while not runtime.stopping.is_set():
        started = time.monotonic()
        with runtime.database.writing() as session:
            work = claim(session, utcnow(), CLAIM_SIZE)
        if not work.event_rows and not work.retries:
            break
        results = sender(runtime.settings).send(runtime, work.due) if work.due else []
        recording = prepare(work, results, runtime.settings)
        with runtime.database.writing() as session:
            record(session, recording)
        delivered += sum(result.delivered for result in results)
        if appliers_busy(runtime):
            runtime.stopping.wait((time.monotonic() - started) * BUSY_PAUSE)
    return delivered


def appliers_busy(runtime: WorkerRuntime) -> bool:
    """Whether jobs are waiting to be applied: then the sender pauses between rounds, so
    that on a machine it shares with the appliers it takes a small part of the CPU and of
    the database's write lock from the money's path, and catches up once they are idle."""
    with runtime.database.look.begin() as session:
        return has_pending(session, range(runtime.settings.partitions))
