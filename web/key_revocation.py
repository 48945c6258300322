"""Revoking a key from the admin CLI: which Redis it tells, and which web processes heard.

A web process registers in Redis at every flush (web/auth.py), naming the database it
serves. A revocation told to a Redis that no web process of this database uses reaches
none of them, so the CLI looks there first instead of trusting an empty list.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import redis

from web.auth import ACKNOWLEDGED_KEY, FLUSHERS_KEY, REVOCATIONS_KEY, STALE_SECONDS

# How long the CLI looks for a live web process of its database: a process whose event
# loop is busy (a large batch being parsed) may miss a flush or two.
LOOK_SECONDS = 2.0


@dataclass(frozen=True)
class WebProcesses:
    """The web processes that flushed lately in one Redis, by the database they serve."""

    ours: list[str]  # "host:pid" of each process of this database
    others: Counter[str]  # another database's label: how many of its processes


def live_web_processes(
    client: redis.Redis, database: str, look_seconds: float = LOOK_SECONDS
) -> WebProcesses:
    """The live web processes in this Redis; looks for up to `look_seconds` until one of
    `database` shows. Raises RedisError when Redis cannot be asked."""
    deadline = time.monotonic() + look_seconds
    while True:
        members = client.zrangebyscore(FLUSHERS_KEY, time.time() - STALE_SECONDS, "+inf")
        ours, others = [], Counter[str]()
        for member in members:
            process, _, label = member.decode().partition(" ")
            if label == database:
                ours.append(process)
            else:
                others[label or "(not named: an earlier release)"] += 1
        if ours or time.monotonic() >= deadline:
            return WebProcesses(ours, others)
        time.sleep(0.05)


def unacknowledged(client: redis.Redis) -> list[str]:
    """The live web processes that have not applied the latest revocation."""
    generation = int(client.get(REVOCATIONS_KEY) or 0)
    live = client.zrangebyscore(FLUSHERS_KEY, time.time() - STALE_SECONDS, "+inf")
    applied = client.hmget(ACKNOWLEDGED_KEY, live) if live else []
    return [
        member.decode().partition(" ")[0]
        for member, value in zip(live, applied, strict=True)
        if int(value or -1) < generation
    ]
