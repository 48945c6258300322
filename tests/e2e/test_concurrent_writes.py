"""Many requests that each take the database's write lock at once (account openings) all
answer: the web's database threads hand the lock on without losing a wake-up."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.conftest import Api


def test_concurrent_account_openings_all_answer(client: Api) -> None:
    def open_some(_: int) -> list[str]:
        api = client.clone()  # connections of its own
        return [api.open_account("1.00") for _ in range(40)]

    with ThreadPoolExecutor(max_workers=24) as pool:
        opened = [n for numbers in pool.map(open_some, range(24)) for n in numbers]
    assert len(set(opened)) == 24 * 40
    assert client.balance(opened[-1]) == 1.0
