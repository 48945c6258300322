"""Batch throughput with and without a job.succeeded webhook, and the events delivered per second.

    # a running instance that may send to this machine:
    ATM_WEBHOOK_ALLOW_PRIVATE=true make run
    BASE_URL=http://127.0.0.1:5000 python bench/webhook_throughput.py --rounds 2

Starts its own receiver: a small asyncio HTTP server in a child process (at the sender's
lower CPU priority, standing in for a receiver on another machine) that answers 200 at
once and counts distinct event ids. Each round submits 100,000 withdrawals and deposits
over 10,000 accounts as batches of 10,000, first with no subscription, then with one
(the order alternating by round), and times each from the first POST until every batch
reports `completed`. With the subscription it then waits until every job's event has
arrived and reports the events delivered per second, from the first to the last.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
from pathlib import Path

import requests
from batch_throughput import operations_for, run_batches
from common import open_accounts

NICENESS = 10  # as the sender's


def receive(port: multiprocessing.Value, stats: multiprocessing.Array) -> None:
    """Answer every POST 200 and count distinct event ids; stats = [count, first, last,
    duplicates]."""
    os.nice(NICENESS)
    seen: set[bytes] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                event_id = body[13:49]  # {"event_id":"<36 characters>"
                now = time.time()
                with stats.get_lock():
                    if event_id in seen:
                        stats[3] += 1
                    else:
                        seen.add(event_id)
                        stats[0] += 1
                        if stats[1] == 0:
                            stats[1] = now
                        stats[2] = now
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port.value = server.sockets[0].getsockname()[1]
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def cpu_by_role(receiver_pid: int) -> dict[str, float]:
    """CPU seconds used so far by this machine's web, worker and sender processes and the
    receiver, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {"web": 0.0, "worker": 0.0, "sender": 0.0, "receiver": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == receiver_pid:
            role = "receiver"
        elif cmdline.startswith(("/bin/sh", "sh ")):
            continue
        elif "worker.sender" in cmdline:
            role = "sender"
        elif "-m worker" in cmdline:
            role = "worker"
        elif "gunicorn" in cmdline:
            role = "web"
        else:
            continue
        used[role] += (int(fields[11]) + int(fields[12])) / ticks
    return used


def timed(base_url: str, operations: list[dict], batch_size: int, receiver_pid: int) -> dict:
    """run_batches, with the CPU seconds each role used meanwhile."""
    before = cpu_by_role(receiver_pid)
    result = run_batches(base_url, operations, batch_size)
    after = cpu_by_role(receiver_pid)
    result["cpu"] = {role: after[role] - before[role] for role in after}
    return result


def describe_cpu(result: dict) -> str:
    seconds = result["seconds"]
    return ", ".join(f"{role} {used / seconds:.2f}" for role, used in result["cpu"].items())


def reset(stats: multiprocessing.Array) -> None:
    with stats.get_lock():
        for index in range(len(stats)):
            stats[index] = 0


def subscribe(base_url: str, url: str) -> str:
    response = requests.post(
        f"{base_url}/webhooks", json={"url": url, "events": ["job.succeeded"]}, timeout=30
    )
    if response.status_code != 201:
        raise SystemExit(
            f"cannot subscribe {url}: {response.text}\n(start the service with "
            "ATM_WEBHOOK_ALLOW_PRIVATE=true: the receiver is on this machine)"
        )
    return response.json()["data"]["webhook_id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("BASE_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--operations", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--delivery-timeout", type=float, default=600)
    args = parser.parse_args()

    existing = requests.get(f"{args.base_url}/webhooks", timeout=30).json()["data"]["webhooks"]
    if existing:
        raise SystemExit(f"{len(existing)} webhook(s) exist already: delete them first")
    port = multiprocessing.Value("i", 0)
    stats = multiprocessing.Array("d", 4)
    receiver = multiprocessing.Process(target=receive, args=(port, stats), daemon=True)
    receiver.start()
    while port.value == 0:
        time.sleep(0.05)
    receiver_url = f"http://127.0.0.1:{port.value}/events"
    accounts = open_accounts(args.base_url, args.accounts)
    print(f"opened {len(accounts)} accounts; receiver on {receiver_url}")
    ratios = []
    for round_number in range(args.rounds):
        operations = operations_for(accounts, args.operations, round_number)
        results = {}
        order = ("without", "with") if round_number % 2 == 0 else ("with", "without")
        for mode in order:
            if mode == "without":
                results[mode] = timed(args.base_url, operations, args.batch_size, receiver.pid)
                continue
            reset(stats)
            webhook_id = subscribe(args.base_url, receiver_url)
            try:
                results[mode] = timed(args.base_url, operations, args.batch_size, receiver.pid)
                expected = results[mode]["succeeded"]
                deadline = time.time() + args.delivery_timeout
                while stats[0] < expected and time.time() < deadline:
                    time.sleep(0.2)
            finally:
                requests.delete(f"{args.base_url}/webhooks/{webhook_id}", timeout=30)
            count, first, last, duplicates = stats[0], stats[1], stats[2], stats[3]
            rate = count / (last - first) if last > first else 0.0
            print(
                f"round {round_number + 1}: {int(count)} of {expected} events received, "
                f"{int(duplicates)} duplicates, {rate:,.0f} events/s from the first to the "
                f"last; the last {last - first:.1f} s after the first"
            )
        without, with_ = results["without"]["per_second"], results["with"]["per_second"]
        ratios.append(with_ / without)
        for mode in ("without", "with"):
            print(f"  cores used while the batches ran, {mode}: {describe_cpu(results[mode])}")
        print(
            f"round {round_number + 1}: batches {without:,.0f} ops/s without a subscription, "
            f"{with_:,.0f} with one: {with_ / without:.2f}"
        )
    print("with / without, by round: " + ", ".join(f"{r:.2f}" for r in ratios))
    receiver.terminate()


if __name__ == "__main__":
    main()
