"""What ATM_AUTH=required costs the synchronous path: the same load against two running
instances, one open and one with keys, alternating in one run.

    python bench/auth_overhead.py --open-url http://127.0.0.1:5601 \\
        --keyed-url http://127.0.0.1:5602 --api-key <an admin key of the second>

Starts nothing itself. Each round runs 32 clients of synchronous withdrawals over 1,000
accounts against one instance, then the other (the order alternates), and prints the
ratio of requests per second, keyed to open (target: at least 0.9).
"""

from __future__ import annotations

import argparse
import os

from common import open_accounts
from sync_requests import report, run_clients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open-url", required=True)
    parser.add_argument("--keyed-url", required=True)
    parser.add_argument("--api-key", default=os.environ.get("ATM_API_KEY"), required=False)
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    targets = {
        "open": (args.open_url, None),
        "keyed": (args.keyed_url, args.api_key),
    }
    accounts = {name: open_accounts(url, 1000, api_key=key) for name, (url, key) in targets.items()}
    for name, (url, key) in targets.items():
        run_clients(url, accounts[name], 32, 500, api_key=key)  # warm up
    for round_number in range(1, args.rounds + 1):
        rates = {}
        for name in ["open", "keyed"][:: 1 if round_number % 2 else -1]:
            url, key = targets[name]
            result = run_clients(url, accounts[name], 32, args.requests, api_key=key)
            report(f"round {round_number}: {name}", result)
            rates[name] = result["per_second"]
        print(f"round {round_number}: keyed / open = {rates['keyed'] / rates['open']:.2f}")


if __name__ == "__main__":
    main()
