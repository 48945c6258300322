"""References and metadata travel with an operation into its job and ledger entry; history
filters by type and reference."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import Api


def test_reference_and_metadata_are_kept_on_the_job_and_the_ledger(
    client: Api, new_account
) -> None:
    number = new_account("50.00")
    metadata = {"atm": "ATM-0042", "attempt": 2, "rate": 0.1, "tags": ["cash", None]}
    response = client.post(
        f"/accounts/{number}/withdraw",
        json={"amount": 20, "reference": "cash-7781", "metadata": metadata},
    )
    assert response.status_code == 200, response.text
    job_id = response.json()["data"]["job_id"]
    job = client.get(f"/jobs/{job_id}").json()["data"]
    assert (job["reference"], job["metadata"]) == ("cash-7781", metadata)
    newest, opening = client.history(number)
    assert newest["job_id"] == job_id
    assert (newest["reference"], newest["metadata"]) == ("cash-7781", metadata)
    assert opening["type"] == "opening" and opening["job_id"] is None
    assert "reference" not in opening and "metadata" not in opening


def test_an_operation_without_them_shows_null_on_the_job(client: Api, new_account) -> None:
    number = new_account("5.00")
    job_id = client.post(f"/accounts/{number}/deposit", json={"amount": 1}).json()["data"]["job_id"]
    job = client.get(f"/jobs/{job_id}").json()["data"]
    assert job["reference"] is None and job["metadata"] is None
    assert "reference" not in client.history(number)[0]


@pytest.mark.parametrize(
    ("extra", "error_type"),
    [
        ({"reference": ""}, "invalid_reference"),
        ({"reference": "x" * 129}, "invalid_reference"),
        ({"reference": "caf\u00e9"}, "invalid_reference"),
        ({"reference": "line\nbreak"}, "invalid_reference"),
        ({"reference": 42}, "invalid_reference"),
        ({"metadata": ["not", "an", "object"]}, "invalid_metadata"),
        ({"metadata": "text"}, "invalid_metadata"),
        ({"metadata": {"blob": "x" * 4090}}, "invalid_metadata"),
    ],
)
def test_bad_references_and_metadata_are_refused_and_record_nothing(
    client: Api, new_account, extra: dict, error_type: str
) -> None:
    number = new_account("5.00")
    response = client.post(f"/accounts/{number}/deposit", json={"amount": 1, **extra})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == error_type
    assert [entry["type"] for entry in client.history(number)] == ["opening"]


def test_metadata_of_exactly_4096_bytes_is_accepted(client: Api, new_account) -> None:
    number = new_account("5.00")
    metadata = {"blob": "x" * (4096 - len('{"blob":""}'))}
    response = client.post(f"/accounts/{number}/deposit", json={"amount": 1, "metadata": metadata})
    assert response.status_code == 200, response.text


def test_a_number_json_cannot_carry_in_metadata_is_refused(client: Api, new_account) -> None:
    number = new_account("5.00")
    response = client.post_json_text(
        f"/accounts/{number}/deposit", '{"amount": 1, "metadata": {"n": 1e999}}'
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_metadata"


# A lone surrogate: escaped in a value or a key (valid JSON syntax, but no text), or as the
# raw bytes UTF-8 would give it (ED A0 80: not UTF-8 at all, so not a JSON text).
SURROGATES = [
    (rb'"metadata": {"a": "\ud800"}', "invalid_metadata"),
    (rb'"metadata": {"\udfff": 1}', "invalid_metadata"),
    (rb'"reference": "\ud800"', "invalid_reference"),
    (b'"metadata": {"a": "\xed\xa0\x80"}', "invalid_json"),
    (b'"reference": "\xed\xa0\x80"', "invalid_json"),
]
SURROGATE_BODIES = {
    "deposit": ("/accounts/{n}/deposit", b'{"amount": 1, %s}'),
    "withdraw": ("/accounts/{n}/withdraw", b'{"amount": 1, %s}'),
    "hold": ("/accounts/{n}/holds", b'{"amount": 1, %s}'),
    "transfer": ("/transfers", b'{"from_account": "{n}", "to_account": "10001", "amount": 1, %s}'),
    "batch": (
        "/batches",
        b'{"operations": [{"account_number": "{n}", "type": "deposit", "amount": 1, %s}]}',
    ),
}


@pytest.mark.parametrize("operation", list(SURROGATE_BODIES))
@pytest.mark.parametrize(("field", "error_type"), SURROGATES)
def test_a_lone_surrogate_is_refused_as_the_field_it_is_in(
    client: Api, new_account, operation: str, field: bytes, error_type: str
) -> None:
    number = new_account("5.00")
    path, template = SURROGATE_BODIES[operation]
    body = (template % field).replace(b"{n}", number.encode())
    response = client.post(
        path.format(n=number), data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    if operation == "batch" and error_type != "invalid_json":
        assert error["type"] == "invalid_batch"
        assert [detail["type"] for detail in error["details"]] == [error_type]
    else:
        assert error["type"] == error_type
    assert [entry["type"] for entry in client.history(number)] == ["opening"]


def test_history_filters_by_type_and_reference(client: Api, new_account) -> None:
    number = new_account("100.00")
    for kind, reference in [
        ("deposit", "a"),
        ("withdraw", "b"),
        ("withdraw", "a"),
        ("deposit", None),
    ]:
        body = {"amount": 1, **({"reference": reference} if reference else {})}
        assert client.post(f"/accounts/{number}/{kind}", json=body).status_code == 200

    def listed(query: str) -> list[tuple[str, str | None]]:
        response = client.get(f"/accounts/{number}/transactions?{query}")
        assert response.status_code == 200, response.text
        entries = response.json()["data"]["transactions"]
        return [(entry["type"], entry.get("reference")) for entry in entries]

    assert listed("type=withdraw") == [("withdraw", "a"), ("withdraw", "b")]
    assert listed("reference=a") == [("withdraw", "a"), ("deposit", "a")]
    assert listed("type=deposit&reference=a") == [("deposit", "a")]
    assert listed("type=opening") == [("opening", None)]
    assert listed("type=transfer_in") == []
    first = client.get(f"/accounts/{number}/transactions?reference=a&limit=1").json()["data"]
    rest = client.get(
        f"/accounts/{number}/transactions?reference=a&before={first['next_before']}"
    ).json()["data"]
    assert [e["type"] for e in first["transactions"] + rest["transactions"]] == [
        "withdraw",
        "deposit",
    ]


def test_history_entries_say_which_way_they_moved_money(client: Api, new_account) -> None:
    number, other = new_account("100.00"), new_account("0")

    def succeeded(response: requests.Response) -> dict:
        assert response.status_code == 200, response.text
        return response.json()["data"]

    deposit = succeeded(client.post(f"/accounts/{number}/deposit", json={"amount": 10}))
    withdrawal = succeeded(client.post(f"/accounts/{number}/withdraw", json={"amount": 5}))
    transfer = succeeded(
        client.post("/transfers", json={"from_account": number, "to_account": other, "amount": 20})
    )
    hold = succeeded(client.post(f"/accounts/{number}/holds", json={"amount": 3}))
    succeeded(client.post(f"/holds/{hold['hold_id']}/capture"))
    for job in (deposit, withdrawal, transfer):
        succeeded(client.post(f"/jobs/{job['job_id']}/reverse"))
    expected = {
        number: [
            ("opening", "credit"),
            ("deposit", "credit"),
            ("withdraw", "debit"),
            ("transfer_out", "debit"),
            ("capture", "debit"),
            ("reversal", "debit"),  # of the deposit
            ("reversal", "credit"),  # of the withdrawal
            ("reversal", "credit"),  # of the transfer, on its source
        ],
        other: [("transfer_in", "credit"), ("reversal", "debit")],
    }
    for account, directions in expected.items():
        entries = client.history(account)[::-1]  # oldest first
        assert [(entry["type"], entry["direction"]) for entry in entries] == directions
        balance = 0.0
        for entry in entries:  # and each one moved its balance that way
            balance += entry["amount"] if entry["direction"] == "credit" else -entry["amount"]
            assert balance == entry["balance_after"], entry


@pytest.mark.parametrize("query", ["type=refund", "type=", "reference=", "reference=%0A"])
def test_unknown_history_filters_are_400(client: Api, new_account, query: str) -> None:
    number = new_account("1.00")
    response = client.get(f"/accounts/{number}/transactions?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_parameter"


def test_batch_operations_carry_references_and_bad_ones_are_listed(
    client: Api, new_account
) -> None:
    number = new_account("10.00")
    bad = client.post(
        "/batches",
        json={
            "operations": [
                {"account_number": number, "type": "deposit", "amount": 1, "reference": ""},
                {"account_number": number, "type": "deposit", "amount": 1, "metadata": []},
            ]
        },
    )
    assert bad.status_code == 400
    assert [d["type"] for d in bad.json()["error"]["details"]] == [
        "invalid_reference",
        "invalid_metadata",
    ]
    batch_id = client.post(
        "/batches",
        json={
            "operations": [
                {
                    "account_number": number,
                    "type": "deposit",
                    "amount": 1,
                    "reference": "payroll-11",
                    "metadata": {"line": 1},
                }
            ]
        },
    ).json()["data"]["batch_id"]
    status = client.get(f"/batches/{batch_id}", headers={"Prefer": "wait=10"}).json()["data"]
    assert status["status"] == "completed"
    entry = client.history(number)[0]
    assert (entry["reference"], entry["metadata"]) == ("payroll-11", {"line": 1})
