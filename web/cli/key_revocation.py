"""Revoking a key from the admin CLI: which Redis it tells, and which web processes heard.

A web process registers in Redis at every flush (web/http/key_directory.py), naming the
database it serves. A revocation told to a Redis that no web process of this database uses
reaches none of them, so the CLI looks there first instead of trusting an empty list.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from web.http.key_directory import REVOCATIONS_KEY, KeyDirectory

# How long the CLI looks for a live web process of its database: a process whose event
# loop is busy (a large batch being parsed) may miss a flush or two.
LOOK_SECONDS = 2.0


@dataclass(frozen=True)
class WebProcesses:
    """The web processes that flushed lately in one Redis, by the database they serve."""

    ours: list[str]  # "host:pid" of each process of this database
    others: Counter[str]  # another database's label: how many of its processes


def live_web_processes(
    directory: KeyDirectory, database: str, look_seconds: float = LOOK_SECONDS
) -> WebProcesses:
    """The live web processes in the directory's Redis; looks for up to `look_seconds` until
    one of `database` shows. Raises RedisError when Redis cannot be asked."""
    deadline = time.monotonic() + look_seconds
    while True:
        ours, others = [], Counter[str]()
        for registration in directory.live_processes():
            if registration.database == database:
                ours.append(registration.process)
            else:
                others[registration.database or "(not named: an earlier release)"] += 1
        if ours or time.monotonic() >= deadline:
            return WebProcesses(ours, others)
        time.sleep(0.05)


def unacknowledged(directory: KeyDirectory) -> list[str]:
    """The live web processes that have not applied the latest revocation."""
    generation = int(directory.redis.get(REVOCATIONS_KEY) or 0)
    return [p.process for p in directory.live_processes() if p.applied < generation]
