"""Waiting capacity: thousands of clients waiting at once while reads must stay fast.

    .venv/bin/python bench/waiting_capacity.py --clients 10000
    .venv/bin/python bench/waiting_capacity.py --slow 1000
    .venv/bin/python bench/waiting_capacity.py --url http://127.0.0.1:5000 \
        $(pgrep -f 'python -m worker' | sed 's/^/--worker-pid /')

By default it runs its own stack (a private redis-server, a temporary SQLite file, gunicorn
as the Procfile starts it, one worker); with --url it drives a running instance instead and
pauses the worker processes named by --worker-pid. Either way the workers are paused
(SIGSTOP) so that nothing waiting can finish. Waiting mode opens N connections, half of
them long-polling `GET /jobs/{id}` (`Prefer: wait`) on a queued job and half synchronous
withdrawals, then times balance reads on another connection while all N wait, resumes
the workers (SIGCONT) and counts how many waiting clients got their final answer. Slow
mode opens N sockets that stall in their headers or trickle a byte a second, and times
reads the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import percentile

from tests.stack import RedisServer, Stack

HOST = "127.0.0.1"


async def http(port: int, request: bytes, timeout: float) -> tuple[int, dict]:
    """One request on its own connection; (status, JSON body), or (0, {}) on failure."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
        writer.write(request)
        raw = await asyncio.wait_for(reader.read(), timeout)
        writer.close()
    except (OSError, TimeoutError):
        return 0, {}
    head, _, body = raw.partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ", 2)[1]), json.loads(body)
    except (IndexError, ValueError):
        return 0, {}


def get(path: str, headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n{headers}\r\n".encode()


def post(path: str, body: dict, headers: str = "") -> bytes:
    payload = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n{headers}\r\n"
    ).encode() + payload


async def time_reads(port: int, number: str, seconds: float) -> list[float]:
    """Balance reads one after another for `seconds`; each one's latency (inf if failed)."""
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        status, _ = await http(port, get(f"/accounts/{number}/balance"), 10)
        latencies.append(time.monotonic() - started if status == 200 else float("inf"))
    return latencies


def web_rss_mib(master: int) -> float:
    """Resident memory of the gunicorn worker processes (children of the master)."""
    total = 0
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


async def waiting(
    port: int, workers: list[int], clients: int, read_seconds: float, web_master: int | None
) -> None:
    base = f"http://{HOST}:{port}"
    numbers = [
        requests.post(f"{base}/accounts", json={"initial_balance": 1_000_000}, timeout=30).json()[
            "data"
        ]["account_number"]
        for _ in range(100)
    ]
    idle = statistics.median(await time_reads(port, numbers[0], 2))
    pause(workers, signal.SIGSTOP)
    job = requests.post(
        f"{base}/accounts/{numbers[0]}/deposit",
        json={"amount": 1},
        headers={"Prefer": "respond-async"},
        timeout=30,
    ).json()["data"]["job_id"]
    wait = "Prefer: wait=120\r\n"
    requests_ = [
        get(f"/jobs/{job}", wait)
        if i % 2 == 0
        else post(f"/accounts/{numbers[i % 100]}/withdraw", {"amount": "0.01"}, wait)
        for i in range(clients)
    ]
    started = time.monotonic()
    tasks = []
    for start in range(0, clients, 500):  # open them in waves, as a crowd arrives
        tasks += [asyncio.create_task(http(port, r, 300)) for r in requests_[start : start + 500]]
        await asyncio.sleep(0.05)
    await asyncio.sleep(3)  # every request read and waiting
    opened = time.monotonic() - started
    rss = web_rss_mib(web_master) if web_master else None
    reads = await time_reads(port, numbers[1], read_seconds)
    early = sum(task.done() for task in tasks)
    pause(workers, signal.SIGCONT)
    resumed = time.monotonic()
    results = await asyncio.gather(*tasks)
    answered = time.monotonic() - resumed
    final = sum(
        1
        for status, body in results
        if status == 200 and body.get("data", {}).get("status", "succeeded") == "succeeded"
    )
    print(f"clients waiting:        {clients} (opened in {opened:.1f} s)")
    print(f"answered before resume: {early}")
    print(f"read latency, idle:     p50 {idle * 1000:.1f} ms")
    print(
        f"read latency, waiting:  p50 {percentile(reads, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(reads, 0.99) * 1000:.1f} ms over {len(reads)} reads"
    )
    if rss is not None:
        print(f"web workers' RSS:       {rss:.0f} MiB while waiting")
    print(f"final answers:          {final} of {clients}, {answered:.1f} s after resuming")


def pause(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        os.kill(pid, sig)


async def slow(port: int, sockets: int, read_seconds: float, number: str) -> None:
    """Half stall in their headers; half trickle a header byte a second."""
    opened: list[asyncio.StreamWriter] = []
    readers: list[asyncio.StreamReader] = []
    for _ in range(sockets):
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(b"POST /accounts/10001/deposit HTTP/1.1\r\nHost: b\r\n")
        opened.append(writer)
        readers.append(reader)
    stop = asyncio.Event()

    async def trickle() -> None:
        while not stop.is_set():
            for writer in opened[::2]:
                if not writer.is_closing():
                    writer.write(b"X")
            await asyncio.sleep(1)

    trickler = asyncio.create_task(trickle())
    reads = await time_reads(port, number, read_seconds)
    stop.set()
    await trickler
    closed = 0
    for reader in readers:
        try:
            await asyncio.wait_for(reader.read(), 0.01)  # returns only once closed
            closed += 1
        except (ConnectionResetError, BrokenPipeError):  # closed; a later trickle was refused
            closed += 1
        except TimeoutError:
            pass
    print(f"slow sockets:           {sockets} (half stalled, half trickling)")
    print(
        f"read latency:           p50 {percentile(reads, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(reads, 0.99) * 1000:.1f} ms over {len(reads)} reads"
    )
    print(f"cut off by the server:  {closed} of {sockets} after {read_seconds:.0f} s")
    for writer in opened:
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000, help="waiting clients")
    parser.add_argument("--slow", type=int, default=0, help="slow sockets instead of waiters")
    parser.add_argument("--read-seconds", type=float, default=10)
    parser.add_argument("--url", help="a running instance (default: start a private one)")
    parser.add_argument(
        "--worker-pid", type=int, action="append", default=[], help="its workers, to pause"
    )
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.url:
        global HOST
        address = urlparse(args.url)
        HOST = address.hostname or HOST
        if not args.slow and not args.worker_pid:
            parser.error("--url needs the instance's workers (--worker-pid) to pause them")
        run(address.port or 80, args, args.worker_pid, None)
        return
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        redis_server = RedisServer(directory / "redis")
        stack = Stack(
            directory,
            redis_server.url,
            ATM_MAX_WAIT_SECONDS="120",
            ATM_PARTITIONS="8",
            ATM_LEASE_SECONDS="10",
        )
        try:
            worker = stack.start_worker("worker")
            stack.start_web(WEB_CONCURRENCY=os.environ.get("WEB_CONCURRENCY", "2"))
            stack.wait_healthy()
            port = int(stack.base_url.rsplit(":", 1)[1])
            run(port, args, [worker.pid], stack.web.pid)  # type: ignore[union-attr]
        finally:
            for process in stack.workers.values():
                process.send_signal(signal.SIGCONT)
            stack.stop()
            redis_server.stop()


def run(port: int, args: argparse.Namespace, workers: list[int], web_master: int | None) -> None:
    try:
        if args.slow:
            asyncio.run(slow(port, args.slow, args.read_seconds, "10001"))
        else:
            asyncio.run(waiting(port, workers, args.clients, args.read_seconds, web_master))
    finally:
        pause(workers, signal.SIGCONT)


if __name__ == "__main__":
    main()
