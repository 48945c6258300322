"""Many clients at once on one account: no overdraft, ledger = balance, acceptance order kept."""

from __future__ import annotations

import itertools
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from tests.conftest import Api


def test_200_concurrent_withdrawals_never_overdraw(client: Api, new_account) -> None:
    number = new_account("5000.00")
    url = client.url(f"/accounts/{number}/withdraw")

    def withdraw(_: int) -> tuple[int, str]:
        with client.clone().http as http:
            response = http.post(url, json={"amount": 100.0}, timeout=60)
            return response.status_code, response.json().get("error", {}).get("type", "")

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(withdraw, range(200)))

    assert Counter(results) == {(200, ""): 50, (400, "insufficient_funds"): 150}
    assert client.balance(number) == 0.0
    history = client.history(number)
    opening = [t for t in history if t["type"] == "opening"]
    withdrawals = [t for t in history if t["type"] == "withdraw"]
    assert len(opening) == 1 and len(withdrawals) == 50
    total = Decimal(str(opening[0]["amount"])) - sum(Decimal(str(t["amount"])) for t in withdrawals)
    assert total == 0
    # Each entry's balance_after follows from the one before it: applied one at a time.
    ordered = sorted(history, key=lambda t: t["transaction_id"])
    for before, after in itertools.pairwise(ordered):
        assert Decimal(str(after["balance_after"])) == Decimal(str(before["balance_after"])) - 100


def test_async_burst_is_applied_in_submission_order(client: Api, new_account) -> None:
    """Deposit 10 then withdraw 10 on a balance of 5: every withdrawal succeeds only in order."""
    number = new_account("5.00")
    job_ids = []
    for _ in range(60):
        for operation in ("deposit", "withdraw"):
            response = client.post(
                f"/accounts/{number}/{operation}",
                json={"amount": 10},
                headers={"Prefer": "respond-async"},
            )
            assert response.status_code == 202, response.text
            job_ids.append(response.json()["data"]["job_id"])
    jobs = [
        client.get(f"/jobs/{job_id}", headers={"Prefer": "wait=20"}).json()["data"]
        for job_id in job_ids
    ]
    assert [job["status"] for job in jobs] == ["succeeded"] * len(job_ids)
    assert [job["result"]["new_balance"] for job in jobs] == [15.0, 5.0] * 60
    assert client.balance(number) == 5.0
