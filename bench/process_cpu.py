"""CPU seconds used so far by each kind of process of a running stack, from /proc.

    .venv/bin/python bench/process_cpu.py REDIS_PORT

Prints one line, `web=… worker=… sender=… postgres=… redis=…` (user + system time of every
live process of that kind: gunicorn's, `python -m worker`'s, the webhook sender's, every
PostgreSQL server process on this machine, the redis-server on REDIS_PORT). bench/scaling.sh
reads it before and after a load; the difference over the operations is each kind's CPU per
operation. Processes that end between the two readings take their time with them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def kind(pid: str, redis_port: str) -> str | None:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    if "gunicorn" in command:
        return "web"
    if "-m worker.sender" in command:
        return "sender"
    if "-m worker" in command:
        return "worker"
    if name == "postgres":
        return "postgres"
    if name == "redis-server" and f":{redis_port}" in command:
        return "redis"
    return None


def main() -> None:
    redis_port = sys.argv[1]
    totals = dict.fromkeys(("web", "worker", "sender", "postgres", "redis"), 0.0)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        found = kind(pid, redis_port)
        if found is None:
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        totals[found] += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    print(" ".join(f"{name}={seconds:.2f}" for name, seconds in totals.items()))


if __name__ == "__main__":
    main()
