"""The batch load of bench/side_by_side.sh: 100,000 operations as batches of 10,000.

    .venv/bin/python bench/batch_load.py http://127.0.0.1:5000 accounts.txt

Random withdrawals and deposits over the accounts listed in the file (one number a line),
the same operations for every system (a fixed seed). Timed from the first POST /batches
until every batch reports `completed`, as bench/batch_throughput.py does; prints one RESULT
line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from batch_throughput import operations_for, run_batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("accounts", type=Path)
    parser.add_argument("--operations", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    accounts = args.accounts.read_text().split()
    operations = operations_for(accounts, args.operations, args.seed)
    result = run_batches(args.base_url, operations, args.batch_size)
    print(
        f"RESULT ops/s={result['per_second']:.0f} accept_s={result['accept_seconds']:.2f} "
        f"total_s={result['seconds']:.2f} succeeded={result['succeeded']} "
        f"failed={result['failed']}"
    )


if __name__ == "__main__":
    main()
