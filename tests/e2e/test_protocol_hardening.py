"""No client input gives a 500: extreme numbers, deep nesting, odd integers, broken framing."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BODY_TIMEOUT, Api
from tests.raw_http import chunked, exchange, read_all, send_request, status_and_body

MIB = 1024 * 1024


def post_head(path: str, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\n{extra}"
    ).encode()


@pytest.mark.parametrize(
    "amount_text", ["1e99999999999999999999", "1e-99999999999999999999", "-1e99999999999999999999"]
)
def test_numbers_no_decimal_can_hold_are_invalid_json(
    client: Api, new_account, amount_text: str
) -> None:
    number = new_account("10.00")
    response = client.post_json_text(f"/accounts/{number}/withdraw", f'{{"amount": {amount_text}}}')
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_json"
    assert client.balance(number) == 10.0


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
def test_nesting_deeper_than_64_is_invalid_json(client: Api, new_account, depth: int) -> None:
    number = new_account("10.00")
    nested = "[" * (depth - 1) + "]" * (depth - 1)
    response = client.post_json_text(
        f"/accounts/{number}/deposit", f'{{"amount": 1, "note": {nested}}}'
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_json"
    assert client.balance(number) == 10.0


def test_nesting_of_exactly_64_levels_is_accepted(client: Api, new_account) -> None:
    number = new_account("10.00")
    nested = "[" * 63 + "]" * 63  # the body object is level 1
    response = client.post_json_text(
        f"/accounts/{number}/deposit", f'{{"amount": 1, "note": {nested}}}'
    )
    assert response.status_code == 200, response.text
    assert client.balance(number) == 11.0


@pytest.mark.parametrize(
    "query",
    [
        "before=9223372036854775808",
        "before=99999999999999999999999999999999999999",
        "limit=\u0661",  # ARABIC-INDIC DIGIT ONE
        "limit=1_0",
        "limit=%201%20",
        "limit=+5",
        "limit=-1",
        "before=0x10",
    ],
)
def test_history_integers_must_be_plain_digits_in_range(
    client: Api, new_account, query: str
) -> None:
    number = new_account("1.00")
    response = client.get(f"/accounts/{number}/transactions?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_parameter"


def test_the_largest_integers_are_accepted(client: Api, new_account) -> None:
    number = new_account("1.00")
    response = client.get(f"/accounts/{number}/transactions?before=9223372036854775807&limit=007")
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]["transactions"]) == 1
    batch = client.post(
        "/batches",
        json={"operations": [{"account_number": number, "type": "deposit", "amount": 1}]},
    ).json()["data"]["batch_id"]
    page = client.get(f"/batches/{batch}/results?offset=9223372036854775807")
    assert page.status_code == 200, page.text
    assert page.json()["data"]["results"] == []
    over = client.get(f"/batches/{batch}/results?offset=9223372036854775808")
    assert over.status_code == 400
    assert over.json()["error"]["type"] == "invalid_parameter"


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e3", "", "abc", "NaN"])
def test_unusable_wait_preferences_are_ignored(client: Api, new_account, value: str) -> None:
    number = new_account("5.00")
    job = client.post(
        f"/accounts/{number}/withdraw", json={"amount": 1}, headers={"Prefer": "respond-async"}
    ).json()["data"]["job_id"]
    response = client.get(f"/jobs/{job}", headers={"Prefer": f"wait={value}"})
    assert response.status_code == 200, response.text
    assert "Preference-Applied" not in response.headers


def test_a_chunked_body_is_read_whole(stack, open_client: Api) -> None:
    number = open_client.open_account("10.00")
    payload = b'{"amount": "2.50"}'
    raw = exchange(
        stack.base_url,
        post_head(f"/accounts/{number}/deposit", "Transfer-Encoding: chunked\r\n\r\n")
        + chunked(payload, chunk=5),
    )
    status, body = status_and_body(raw)
    assert status == 200, body
    assert body["data"]["new_balance"] == 12.5


@pytest.mark.parametrize("chunk", [64 * 1024, 4 * MIB])  # the second: one chunk, all of it
def test_a_chunked_body_over_the_limit_is_413_and_moves_nothing(
    stack, open_client: Api, chunk: int
) -> None:
    number = open_client.open_account("10.00")
    # Valid JSON within the first 2 MiB, garbage after it: cut at the limit it would parse.
    payload = b'{"amount":1}' + b" " * (3 * MIB) + b"garbage"
    raw = exchange(
        stack.base_url,
        post_head(f"/accounts/{number}/withdraw", "Transfer-Encoding: chunked\r\n\r\n")
        + chunked(payload, chunk=chunk),
    )
    status, body = status_and_body(raw)
    assert status == 413, body
    assert body["error"]["type"] == "payload_too_large"
    assert open_client.balance(number) == 10.0
    assert [entry["type"] for entry in open_client.history(number)] == ["opening"]


@pytest.mark.parametrize(
    "size_lines",
    [
        b"ffffffffffffffffffffffff\r\n{",  # far beyond any limit, in the first chunk
        b'5\r\n{"a":\r\n200000\r\n ',  # 2 MiB in the second chunk: the sum is over
    ],
)
def test_a_chunk_declared_over_the_limit_is_413_at_once(
    stack, open_client: Api, size_lines: bytes
) -> None:
    """Refused when its size line is read, not after the body deadline (BODY_TIMEOUT)."""
    number = open_client.open_account("10.00")
    started = time.monotonic()
    with send_request(
        stack.base_url,
        post_head(f"/accounts/{number}/withdraw", "Transfer-Encoding: chunked\r\n\r\n")
        + size_lines,
    ) as sock:
        raw = read_all(sock)  # the client sends nothing more, and waits for an answer
    elapsed = time.monotonic() - started
    status, body = status_and_body(raw)
    assert status == 413, body
    assert body["error"]["type"] == "payload_too_large"
    assert elapsed < BODY_TIMEOUT - 1, elapsed
    assert open_client.balance(number) == 10.0


@pytest.mark.parametrize(
    "framing",
    [b"zz\r\n{}\r\n0\r\n\r\n", b'5\r\n{"a":1}garbage\r\n0\r\n\r\n', b"-1\r\n\r\n"],
)
def test_malformed_chunked_encoding_is_400(stack, open_client: Api, framing) -> None:
    number = open_client.open_account("10.00")
    raw = exchange(
        stack.base_url,
        post_head(f"/accounts/{number}/withdraw", "Transfer-Encoding: chunked\r\n\r\n") + framing,
    )
    status, body = status_and_body(raw)
    assert status == 400, body
    assert body["success"] is False and body["code"] == 400
    assert open_client.balance(number) == 10.0


# Property-based: whatever the client sends in these places, the answer is never a 500, and
# is a success exactly when the input is one the contract accepts.
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(raw=st.text(max_size=30) | st.integers(min_value=-(2**70), max_value=2**70).map(str))
def test_any_limit_value_is_200_or_400(client: Api, raw: str) -> None:
    response = client.get("/accounts/10001/transactions", params={"limit": raw})
    plain = raw.isascii() and raw.isdigit()
    valid = raw == "" or (plain and 1 <= int(raw) <= 2**63 - 1)
    assert response.status_code == (200 if valid else 400), (raw, response.text)


@FUZZ
@given(
    number=st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,25})?", fullmatch=True)
)
def test_any_json_number_as_amount_is_never_a_500(client: Api, number: str) -> None:
    # No such account: nothing can move.
    response = client.post_json_text(
        "/accounts/00000000000000000000/deposit", f'{{"amount": {number}}}'
    )
    assert response.status_code in (400, 404), (number, response.text)
    expected = {"invalid_json", "invalid_amount", "account_not_found"}
    assert response.json()["error"]["type"] in expected


@FUZZ
@given(depth=st.integers(min_value=1, max_value=5000), bracket=st.sampled_from("[{"))
def test_any_nesting_depth_is_accepted_up_to_64(client: Api, depth: int, bracket: str) -> None:
    inner = (
        ("[" * (depth - 1) + "]" * (depth - 1))
        if bracket == "["
        else ('{"a":' * (depth - 1) + "1" + "}" * (depth - 1))
    )
    response = client.post_json_text(
        "/accounts/00000000000000000000/deposit", f'{{"amount": 1, "note": {inner or 0}}}'
    )
    expected = "account_not_found" if depth <= 64 else "invalid_json"
    assert response.json()["error"]["type"] == expected, depth
