"""What the benchmarks share: opening the accounts they work on, reading percentiles, the
database an in-process benchmark runs on."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests


def open_accounts(
    base_url: str, count: int, balance: int = 1_000_000, api_key: str | None = None
) -> list[str]:
    """Open `count` fresh accounts (16 at a time) and return their numbers (with an admin
    key when the API needs one)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    prefix = "9" + str(secrets.randbelow(10**6)).zfill(6)

    def open_one(index: int) -> str:
        number = f"{prefix}{index:07d}"
        with requests.Session() as http:
            response = http.post(
                f"{base_url}/accounts",
                json={"account_number": number, "initial_balance": balance},
                headers=headers,
                timeout=60,
            )
        if response.status_code != 201:
            raise SystemExit(f"could not open account {number}: {response.text}")
        return number

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(open_one, range(count)))


def percentile(samples: list[float], fraction: float) -> float:
    """The sample at `fraction` of the sorted samples (the nearest rank below it)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def on_database(url: str | None, run: Callable[[], None]) -> None:
    """Run `run` with DATABASE_URL set to `url` (an empty PostgreSQL database), or to a
    fresh SQLite file in a temporary directory, removed afterwards. The settings are read
    once, so `run` imports the project's modules itself."""
    if url:
        os.environ["DATABASE_URL"] = url
        run()
        return
    with tempfile.TemporaryDirectory() as directory:
        os.environ["DATABASE_URL"] = f"sqlite:///{directory}/atm.db"
        run()
