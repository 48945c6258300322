"""Synchronous request latency and throughput against a running instance.

    BASE_URL=http://127.0.0.1:5000 python bench/sync_requests.py

Starts nothing itself. Opens its own accounts (so it never touches the sample ones), then
measures: one client in sequence (p50/p99 latency), and 32 concurrent clients, first with
withdrawals spread over 1,000 accounts, then with all of them on one account.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from common import open_accounts, percentile


class Client(http.client.HTTPConnection):
    """A keep-alive connection that sends the API key, when one is given, with each request."""

    def __init__(self, host: str, port: int, api_key: str | None) -> None:
        super().__init__(host, port, timeout=60)
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"


Work = Callable[[Client, str], bool]


def withdraw_a_cent(connection: Client, number: str) -> bool:
    """One synchronous withdrawal; True if it answered 200."""
    return post(connection, f"/accounts/{number}/withdraw", b'{"amount": "0.01"}')[0] == 200


def post(connection: Client, path: str, body: bytes) -> tuple[int, bytes]:
    connection.request("POST", path, body=body, headers=connection.headers)
    response = connection.getresponse()
    return response.status, response.read()


def run_clients(
    base_url: str,
    accounts: list[str],
    clients: int,
    requests_total: int,
    work: Work = withdraw_a_cent,
    api_key: str | None = None,
) -> dict:
    """`clients` threads doing `work` `requests_total` times in all, over `accounts`."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    counter = iter(range(requests_total))

    target = urlsplit(base_url)

    def client() -> None:
        # http.client with keep-alive: a lean client leaves the CPU to the server under test.
        nonlocal failures
        connection = Client(target.hostname or "127.0.0.1", target.port or 80, api_key)
        try:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                number = accounts[index % len(accounts)]
                started = time.perf_counter()
                ok = work(connection, number)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if not ok:
                        failures += 1
        finally:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "non_200": failures,
        "seconds": wall,
        "per_second": len(latencies) / wall,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
    }


def report(name: str, result: dict) -> None:
    print(
        f"{name:<34} {result['requests']:>6} req  {result['per_second']:>8.1f} req/s  "
        f"p50 {result['p50_ms']:>7.2f} ms  p99 {result['p99_ms']:>7.2f} ms  "
        f"non-200 {result['non_200']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("BASE_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--single", type=int, default=1000, help="requests by the single client")
    parser.add_argument("--concurrent", type=int, default=8000, help="requests by 32 clients")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--api-key", default=os.environ.get("ATM_API_KEY"))
    args = parser.parse_args()
    key = args.api_key

    accounts = open_accounts(args.base_url, args.accounts, api_key=key)
    run_clients(args.base_url, accounts, args.clients, 500, api_key=key)  # warm up
    report("1 client, spread", run_clients(args.base_url, accounts, 1, args.single, api_key=key))
    report(
        f"{args.clients} clients, {args.accounts} accounts",
        run_clients(args.base_url, accounts, args.clients, args.concurrent, api_key=key),
    )
    report(
        f"{args.clients} clients, one account",
        run_clients(args.base_url, accounts[:1], args.clients, args.concurrent, api_key=key),
    )


if __name__ == "__main__":
    main()
