"""GET /accounts, GET /batches and GET /jobs: pages, cursors, and who sees what."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import ADMIN_SECRET, Api
from tests.e2e.test_batches import wait_completed
from tests.e2e.test_validation_errors import assert_error
from tests.stack import Stack


def page(client: Api, path: str, **params: object) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_accounts_are_listed_in_the_byte_order_of_their_numbers(client: Api) -> None:
    # Numbers above every other test's, so these are the last: the others' start with 1,
    # or are assigned (12 digits, any of which may be 9s, and a shorter string of 9s sorts
    # before a longer one).
    prefix = "9" * 26 + "".join(secrets.choice("0123456789") for _ in range(6))
    for suffix in ("0", "3", "10", "2", "1"):
        opened = client.post("/accounts", json={"account_number": prefix + suffix})
        assert opened.status_code == 201, opened.text
    first = page(client, "/accounts", after=prefix + "0", limit=2)
    assert [view["account_number"] for view in first["accounts"]] == [prefix + "1", prefix + "10"]
    assert first["next_after"] == prefix + "10"
    assert set(first["accounts"][0]) == {
        "account_number",
        "balance",
        "available_balance",
        "status",
        "daily_withdrawal_limit",
        "overdraft_limit",
        "created_at",
    }
    rest = page(client, "/accounts", after=first["next_after"], limit=3)
    assert [view["account_number"] for view in rest["accounts"]] == [prefix + "2", prefix + "3"]
    assert rest["next_after"] is None  # nothing follows
    start = page(client, "/accounts", limit=1)
    assert (
        len(start["accounts"]) == 1
        and start["next_after"] == start["accounts"][0]["account_number"]
    )


@pytest.mark.parametrize(
    "path, params",
    [
        ("/accounts", {"after": "12ab"}),
        ("/accounts", {"after": "4242424242424242424"}),  # no such account
        ("/accounts", {"limit": "0"}),
        ("/batches", {"before": "not-a-batch"}),
        ("/batches", {"before": "01a242f4-d290-73d7-a419-89b117680000"}),  # no such batch
        ("/batches", {"limit": "x"}),
        ("/jobs", {"before": "not-a-job"}),
        ("/jobs", {"before": "01a242f4-d290-73d7-a419-89b117680000"}),  # no such job
        ("/jobs", {"account": "12ab"}),
        ("/jobs", {"account": "4242424242424242424"}),  # no such account
        ("/jobs", {"status": "done"}),
        ("/jobs", {"type": "batch_part"}),
        ("/jobs", {"limit": "0"}),
    ],
)
def test_a_bad_cursor_or_limit_is_refused(client: Api, path: str, params: dict) -> None:
    assert_error(client.get(path, params=params), 400, "invalid_parameter")


def test_batches_are_listed_newest_first(client: Api, new_account) -> None:
    number = new_account("100.00")
    ids = []
    for _ in range(3):
        body = {"operations": [{"account_number": number, "type": "deposit", "amount": "1.00"}]}
        response = client.post("/batches", json=body)
        assert response.status_code == 202, response.text
        ids.append(response.json()["data"]["batch_id"])
    wait_completed(client, ids[-1])
    newest = page(client, "/batches", limit=2)
    assert [view["batch_id"] for view in newest["batches"]] == ids[::-1][:2]
    assert newest["next_before"] == ids[1]
    assert newest["batches"][0] == client.get(f"/batches/{ids[-1]}").json()["data"]
    following = page(client, "/batches", limit=1, before=newest["next_before"])
    assert [view["batch_id"] for view in following["batches"]] == [ids[0]]


def test_a_key_that_is_not_admin_lists_only_its_own_batches_and_no_accounts(
    keyed_stack: Stack,
) -> None:
    admin = Api(keyed_stack.base_url, ADMIN_SECRET)
    number = admin.open_account("50.00")
    first, second = (admin.limited_client(name, [number]) for name in ("first", "second"))
    operation = {"account_number": number, "type": "deposit", "amount": "1.00"}
    mine = first.post("/batches", json={"operations": [operation]}).json()["data"]["batch_id"]
    theirs = second.post("/batches", json={"operations": [operation]}).json()["data"]["batch_id"]
    listed = page(first, "/batches", limit=500)
    assert [view["batch_id"] for view in listed["batches"]] == [mine]
    assert listed["next_before"] is None
    assert_error(first.get("/batches", params={"before": theirs}), 400, "invalid_parameter")
    everything = [view["batch_id"] for view in page(admin, "/batches", limit=3)["batches"]]
    assert everything[:2] == [theirs, mine]
    assert_error(first.get("/accounts"), 403, "forbidden")


def all_jobs(client: Api, **params: object) -> list[dict]:
    """Every page of GET /jobs with these filters, followed to the end."""
    listed: list[dict] = []
    while True:
        data = page(client, "/jobs", **params)
        listed.extend(data["jobs"])
        if data["next_before"] is None:
            return listed
        params["before"] = data["next_before"]


def test_jobs_are_listed_newest_first_with_batch_operations_among_them(
    client: Api, new_account
) -> None:
    number, other = new_account("100.00"), new_account("0.00")
    first = client.post(f"/accounts/{number}/deposit", json={"amount": "1.00"}).json()["data"]
    operations = [
        {"account_number": number, "type": "withdraw", "amount": "2.00"},
        {"account_number": number, "type": "transfer", "amount": "3.00", "to_account": other},
        {"account_number": number, "type": "withdraw", "amount": "1000.00"},  # refused
    ]
    batch = client.post("/batches", json={"operations": operations}).json()["data"]
    wait_completed(client, batch["batch_id"])
    refused = client.post(f"/accounts/{number}/withdraw", json={"amount": "500.00"})
    assert refused.status_code == 400
    results = client.get(f"/batches/{batch['batch_id']}/results").json()["data"]["results"]
    expected = [
        refused.json()["error"]["job_id"],
        *[result["job_id"] for result in reversed(results)],
        first["job_id"],
    ]
    listed = all_jobs(client, account=number, limit=2)
    assert [job["job_id"] for job in listed] == expected
    for job in listed:  # as GET /jobs/{id} shows each
        assert job == client.get(f"/jobs/{job['job_id']}").json()["data"]
    assert [job["job_id"] for job in all_jobs(client, account=other)] == [expected[2]]
    failed = all_jobs(client, account=number, status="failed")
    assert [job["job_id"] for job in failed] == [expected[0], expected[1]]
    transfers = all_jobs(client, account=number, type="transfer", limit=500)
    assert [job["job_id"] for job in transfers] == [expected[2]]
    newest = page(client, "/jobs", limit=1)["jobs"]
    assert len(newest) == 1 and newest[0]["created_at"] >= listed[0]["created_at"]


def test_a_key_limited_to_accounts_lists_its_accounts_jobs_or_its_own(
    keyed_stack: Stack,
) -> None:
    admin = Api(keyed_stack.base_url, ADMIN_SECRET)
    number, elsewhere = admin.open_account("50.00"), admin.open_account("50.00")
    teller = admin.limited_client("teller", [number])
    by_admin = admin.post(f"/accounts/{number}/deposit", json={"amount": "1.00"})
    by_teller = teller.post(f"/accounts/{number}/deposit", json={"amount": "2.00"})
    theirs = admin.post(f"/accounts/{elsewhere}/deposit", json={"amount": "3.00"})
    ids = [r.json()["data"]["job_id"] for r in (by_admin, by_teller, theirs)]
    on_account = [job["job_id"] for job in all_jobs(teller, account=number)]
    assert on_account == [ids[1], ids[0]]
    assert [job["job_id"] for job in all_jobs(teller)] == [ids[1]]  # the jobs it submitted
    assert_error(teller.get("/jobs", params={"account": elsewhere}), 403, "forbidden")
    assert_error(teller.get("/jobs", params={"before": ids[2]}), 400, "invalid_parameter")
    assert [job["job_id"] for job in all_jobs(admin, account=elsewhere)] == [ids[2]]
