"""What one worker process holds: settings, database, Redis client, identity, its leases."""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from functools import cache

import redis

from shared import messaging
from shared.config.settings import Settings, get_settings
from shared.store.db import Database, init_database
from shared.wake_ups import WakeUpMessages
from worker.partitions.leases import PartitionLeases


@dataclass
class WorkerRuntime:
    settings: Settings
    database: Database
    redis: redis.Redis
    identity: str
    leases: PartitionLeases
    wake_ups: WakeUpMessages = field(default_factory=WakeUpMessages)
    # Set when a warm shutdown begins: draining stops after the transaction in hand.
    stopping: threading.Event = field(default_factory=threading.Event)


@cache
def get_runtime() -> WorkerRuntime:
    """Built on first use inside the process that applies work (never before a fork)."""
    database = Database(get_settings())
    # The database's partition count, whatever the default (ATM_PARTITIONS unset).
    settings = database.settings = database.settings.with_partitions(init_database(database))
    client = messaging.connect(settings.redis_url)
    identity = f"{socket.gethostname()}:{os.getpid()}"
    leases = PartitionLeases(client, identity, settings)
    return WorkerRuntime(settings, database, client, identity, leases)
