"""The Celery application of the workers: broker settings, the ownership step, the tasks."""

from __future__ import annotations

import logging
import os
import socket
import sys

from celery import Celery, signals

from shared.collector import settle_after_start
from shared.config.settings import get_settings
from shared.logs import format_as_json
from shared.redis_address import celery_broker
from worker.partitions.ownership import PartitionOwnershipStep

CONTROL_QUEUE = "atm.control"


def make_celery() -> Celery:
    settings = get_settings()
    broker, sentinel_options = celery_broker(settings.redis_url)
    app = Celery("atm", broker=broker, include=["worker.tasks"])
    app.conf.update(
        task_default_queue=CONTROL_QUEUE,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # A message is only a wake-up: the queued job row is the work. Early ack is safe
        # because whoever owns the partition drains all of it on takeover and every tick.
        task_acks_late=False,
        # For the same reason the transport's ack emulation (an `unacked` hash written and
        # cleared around every message, to restore messages of a crashed consumer) buys
        # nothing here and costs two Redis round trips per wake-up. With Sentinel, the
        # master's name goes with them (shared.redis_address).
        broker_transport_options={"ack_emulation": False, **sentinel_options},
        worker_prefetch_multiplier=4,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )
    app.steps["consumer"].add(PartitionOwnershipStep)
    return app


celery_app = make_celery()


def run_worker(queue: str, name: str) -> None:
    """Run this process as a Celery worker of `queue`, with the command line's extra options.

    The solo pool does the work on the consumer's own thread: one process, one applier (or
    sender). The node name carries the pid, so several workers on one host stay
    distinguishable. --quiet: no start-up banner, so that every line written is a JSON log
    line.
    """
    celery_app.worker_main(
        [
            "--quiet",
            "worker",
            "--pool=solo",
            f"--queues={queue}",
            f"--hostname={name}-{os.getpid()}@{socket.gethostname()}",
            "--without-gossip",
            "--without-mingle",
            f"--loglevel={get_settings().log_level}",
            *sys.argv[1:],
        ]
    )


@signals.after_setup_logger.connect
def _quiet_per_message_logs(logger: logging.Logger, **_: object) -> None:
    """Logs as JSON lines; one line per wake-up is noise at thousands a second (ownership
    changes and applied jobs stay logged)."""
    format_as_json(logger)
    for name in ("celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(name).setLevel(logging.WARNING)


@signals.after_setup_task_logger.connect
def _task_logs_as_json(logger: logging.Logger, **_: object) -> None:
    format_as_json(logger)


@signals.worker_shutting_down.connect
def _stop_draining(**_: object) -> None:
    """SIGTERM: finish the transaction in hand, then stop; leases are released on shutdown."""
    from worker.runtime import get_runtime

    get_runtime().stopping.set()


@signals.worker_process_init.connect
def _fresh_connections_after_fork(**_: object) -> None:
    """A forked pool child must not reuse the parent's database or Redis connections."""
    from worker.runtime import get_runtime

    get_runtime.cache_clear()


@signals.worker_ready.connect
def _freeze_startup_objects(**_: object) -> None:
    """Keep the objects built at start out of garbage collection, and collect less often.

    Applying a chunk allocates tens of thousands of short-lived objects, which triggered
    full collections; each walked every module, class and Celery object too, stalling the
    applier for tens of milliseconds (see shared.collector).
    """
    settle_after_start()
