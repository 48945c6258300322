"""`python -m worker.health [sender]`: exit 0 if a partition worker (or a webhook sender) on
this host is alive, for container checks.

A worker announces itself in Redis on every lease tick (its identity is host:pid), so
"alive" means it renewed its registration within the lease time, not merely that the
process exists: a worker stuck in a transaction or cut off from Redis reports unhealthy.
"""

from __future__ import annotations

import socket
import sys
import time

from redis.exceptions import RedisError

from shared import messaging
from shared.config.settings import get_settings


def main(kind: str = "worker") -> int:
    prefix = f"{socket.gethostname()}:"
    key = messaging.SENDERS_KEY if kind == "sender" else messaging.WORKERS_KEY
    try:
        client = messaging.connect(get_settings().redis_url)
        alive = client.zrangebyscore(key, time.time(), "+inf")
    except RedisError as exc:
        print(f"unhealthy: Redis does not answer ({exc})")
        return 1
    if any(identity.decode().startswith(prefix) for identity in alive):
        return 0
    print(f"unhealthy: no live {kind} registered for host {socket.gethostname()}")
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
