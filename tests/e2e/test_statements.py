"""An account's balance at a moment and its statements (JSON and CSV), over HTTP."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import Api
from tests.e2e.test_validation_errors import assert_error


def moment(text: str, shift: timedelta = timedelta(0)) -> str:
    """A created_at the API returned, moved by `shift`, written as the API writes them."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00")) + shift
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def history(client: Api, number: str) -> list[dict]:
    """The account's entries, oldest first."""
    response = client.get(f"/accounts/{number}/transactions")
    assert response.status_code == 200, response.text
    return response.json()["data"]["transactions"][::-1]


def balance_at(client: Api, number: str, at: str) -> float:
    response = client.get(f"/accounts/{number}/balance", params={"at": at})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == {"account_number", "balance", "at"} and data["account_number"] == number
    return data["balance"]


def test_the_balance_at_each_entry_and_just_before_it(client: Api, new_account) -> None:
    number = new_account("100.00")
    for path, amount in (("withdraw", "30.00"), ("deposit", "5.50"), ("withdraw", "0.25")):
        response = client.post(f"/accounts/{number}/{path}", json={"amount": amount})
        assert response.status_code == 200, response.text
    entries = history(client, number)
    assert [entry["balance_after"] for entry in entries] == [100.0, 70.0, 75.5, 75.25]
    earlier = 0.0
    for entry in entries:
        if entry["created_at"] != entries[0]["created_at"] or entry is entries[0]:
            assert (
                balance_at(client, number, moment(entry["created_at"], -timedelta(microseconds=1)))
                == earlier
            )
        assert balance_at(client, number, entry["created_at"]) == entry["balance_after"]
        earlier = entry["balance_after"]
    offset = moment(entries[1]["created_at"]).replace("Z", "+00:00")
    assert balance_at(client, number, offset) == 70.0  # an offset other than Z
    shifted = datetime.fromisoformat(offset).astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert balance_at(client, number, shifted.isoformat()) == 70.0
    # Without `at` (or with it empty), the balance as before.
    for params in ({}, {"at": ""}):
        now = client.get(f"/accounts/{number}/balance", params=params).json()["data"]
        assert now == {"account_number": number, "balance": 75.25, "available_balance": 75.25}


def test_a_statement_adds_up_and_reads_as_csv(client: Api, new_account) -> None:
    number, other = new_account("50.00"), new_account("10.00")
    operations = [
        (f"/accounts/{number}/deposit", {"amount": "20.00", "reference": 'pay, "June"'}),
        (f"/accounts/{number}/withdraw", {"amount": "5.05"}),
        ("/transfers", {"from_account": other, "to_account": number, "amount": "1.00"}),
        ("/transfers", {"from_account": number, "to_account": other, "amount": "2.00"}),
    ]
    for path, body in operations:
        response = client.post(path, json=body)
        assert response.status_code == 200, response.text
    entries = history(client, number)
    start, end = entries[0]["created_at"], entries[-1]["created_at"]  # (from, to]
    response = client.get(f"/accounts/{number}/statement", params={"from": start, "to": end})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["account_number"], data["count"]) == (number, 4)
    assert data["entries"] == entries[1:]  # the opening entry is at `from`, not after it
    assert (data["opening_balance"], data["closing_balance"]) == (50.0, 63.95)
    assert (data["credits"], data["debits"]) == (21.0, 7.05)
    assert (data["from"], data["to"]) == (start, end)
    as_csv = client.get(
        f"/accounts/{number}/statement",
        params={"from": start, "to": end},
        headers={"Accept": "text/csv"},
    )
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    assert as_csv.text.endswith("\r\n") and '"pay, ""June"""' in as_csv.text
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == [
        "transaction_id",
        "created_at",
        "type",
        "amount",
        "balance_after",
        "job_id",
        "reference",
    ]
    assert [row[:5] for row in rows[1:]] == [
        [
            str(e["transaction_id"]),
            e["created_at"],
            e["type"],
            f"{e['amount']:.2f}",
            f"{e['balance_after']:.2f}",
        ]
        for e in entries[1:]
    ]
    assert [row[6] for row in rows[1:]] == ['pay, "June"', "", "", ""]
    assert all(row[5] for row in rows[1:])


@pytest.mark.parametrize(
    "path, params, named",
    [
        ("balance", {"at": "yesterday"}, "at"),
        ("balance", {"at": "2026-01-01T00:00:00"}, "at"),  # no offset
        ("balance", {"at": "2026-02-30T00:00:00Z"}, "at"),
        ("balance", {"at": "2026-01-01T00:00:00.1234567Z"}, "at"),
        ("balance", {"at": "2999-01-01T00:00:00Z"}, "at"),  # later than now
        ("balance", {"at": "0001-01-01T00:00:00+01:00"}, "at"),  # in UTC, before year 1
        ("balance", {"at": "2026-01-01T00:00:00 01:00"}, "%2B"),  # a + the URL turned to " "
        ("statement", {"from": "9999-12-31T23:59:59-01:00", "to": "2026-01-01T00:00:00Z"}, "from"),
        ("statement", {"to": "2026-01-01T00:00:00Z"}, "from"),
        ("statement", {"from": "2026-01-01T00:00:00Z"}, "to"),
        ("statement", {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
        ("statement", {"from": "2026-01-01T00:00:00Z", "to": "2999-01-01T00:00:00Z"}, "to"),
    ],
)
def test_bad_moments_are_refused_naming_the_parameter(
    client: Api, new_account, path: str, params: dict, named: str
) -> None:
    number = new_account("1.00")
    for accept in ("application/json", "text/csv"):  # errors stay JSON
        response = client.get(
            f"/accounts/{number}/{path}", params=params, headers={"Accept": accept}
        )
        body = assert_error(response, 400, "invalid_parameter")
        assert named in body["error"]["message"]


def test_an_unknown_account_has_no_past(client: Api) -> None:
    for path, params in (
        ("balance", {"at": "2026-01-01T00:00:00Z"}),
        ("statement", {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}),
    ):
        assert_error(
            client.get(f"/accounts/4242424242424242/{path}", params=params),
            404,
            "account_not_found",
        )
