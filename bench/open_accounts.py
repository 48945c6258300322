"""Open accounts for bench/side_by_side.sh and write their numbers to a file, one a line.

    .venv/bin/python bench/open_accounts.py http://127.0.0.1:5000 10000 accounts.txt

Each account starts with 1,000,000.00, so no load of the harness runs one dry. The wrk
script and bench/batch_load.py read the file: the loads over 1,000 accounts use its first
1,000 lines, the load on one account its first line.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import open_accounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("count", type=int)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    numbers = open_accounts(args.base_url, args.count)
    elapsed = time.perf_counter() - started
    args.output.write_text("".join(f"{number}\n" for number in numbers))
    print(f"opened {len(numbers)} accounts at {args.base_url} in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
