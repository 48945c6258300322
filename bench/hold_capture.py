"""Hold → capture cycles against a running instance, beside synchronous withdrawals.

    BASE_URL=http://127.0.0.1:5000 python bench/hold_capture.py

Starts nothing itself. Opens its own accounts, then 32 clients each place a hold and
capture it (two synchronous requests, each waiting for the worker) as fast as they can,
and in the same run 32 clients make synchronous withdrawals (rounds alternate which goes
first). Prints both rates and their ratio (target: cycles per second ≥ half the
withdrawals per second).
"""

from __future__ import annotations

import argparse
import json
import os

from common import open_accounts
from sync_requests import Client, post, report, run_clients


def hold_and_capture(connection: Client, number: str) -> bool:
    """One cycle: an authorisation of 1.00, then its capture; True if both answered 200."""
    status, body = post(connection, f"/accounts/{number}/holds", b'{"amount": "1.00"}')
    if status != 200:
        return False
    hold_id = json.loads(body)["data"]["hold_id"]
    return post(connection, f"/holds/{hold_id}/capture", b"")[0] == 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("BASE_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=4000)
    parser.add_argument("--withdrawals", type=int, default=8000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    accounts = open_accounts(args.base_url, args.accounts)
    run_clients(args.base_url, accounts, args.clients, 500)  # warm up connections and pools
    for round_number in range(1, args.rounds + 1):
        # Alternate which goes first: the tables grow as the run goes on, which favours
        # whatever runs earlier.
        results = {}
        for name in ["withdrawals", "cycles"][:: 1 if round_number % 2 else -1]:
            if name == "withdrawals":
                results[name] = run_clients(args.base_url, accounts, args.clients, args.withdrawals)
            else:
                results[name] = run_clients(
                    args.base_url, accounts, args.clients, args.cycles, work=hold_and_capture
                )
            report(f"round {round_number}: {name}", results[name])
        withdrawals, cycles = results["withdrawals"], results["cycles"]
        ratio = cycles["per_second"] / withdrawals["per_second"]
        print(f"round {round_number}: cycles per second / withdrawals per second = {ratio:.2f}")


if __name__ == "__main__":
    main()
