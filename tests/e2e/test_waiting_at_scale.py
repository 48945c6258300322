"""Waiting costs no thread: hundreds of waiting clients and stalled sockets while reads answer."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import BODY_TIMEOUT, HEADER_TIMEOUT, Api
from tests.raw_http import connect, get, post_json, read_all, send_request, status_and_body
from tests.stack import RedisServer, Stack, logs, wait_until

LONG_POLLS = 300
SYNC_WAITERS = 100
# More than the old serving model's whole capacity (2 processes x 32 threads).
STALLED = 200


@pytest.fixture
def paused_stack(tmp_path: Path, redis_server: RedisServer) -> Iterator[Stack]:
    """Web processes with no worker yet: accepted operations stay queued until one starts."""
    running = Stack(tmp_path, redis_server.url.replace("/0", "/2"))
    running.redis.flushdb()
    try:
        yield running
    except Exception:
        print(logs(tmp_path))
        raise
    finally:
        running.stop()


def timed_balance_reads(api: Api, number: str, count: int) -> list[float]:
    """Latencies of `count` balance reads, each of which must answer 200 within 2 s."""
    latencies = []
    for _ in range(count):
        started = time.monotonic()
        # a new connection each time, as a fresh client would (with the api's key, if any)
        response = api.clone().http.get(api.url(f"/accounts/{number}/balance"), timeout=2)
        latencies.append(time.monotonic() - started)
        assert response.status_code == 200, response.text
    return latencies


def how_the_read_ended(sock: socket.socket) -> str:
    """Whether the server closed the connection or reset it, or the read timed out."""
    try:
        sock.settimeout(0.5)
        return "closed by the server" if sock.recv(1) == b"" else "data after all"
    except OSError as error:
        return f"{error.__class__.__name__}: {error}"


# About one run in eight, one long-poll of the 300 got no answer at all: the 300 reach a
# fresh web process together, its database threads made their first connections at once,
# and one waited for good in SQLAlchemy's first-connection lock, a gevent lock there (a
# process dump showed it). A web process now connects once before its threads do
# (web/serving/services.py, first_connection); 24 runs in a row then passed. The rerun of exactly
# that failure stays until CI has confirmed it; twice in a row still fails.
@pytest.mark.flaky(reruns=1, only_rerun=[r"long-poll \d+ got no answer"])
def test_hundreds_of_waiting_clients_while_reads_answer_then_all_get_their_outcome(
    paused_stack: Stack,
) -> None:
    api = Api(paused_stack.start_web(ATM_SYNC_WAIT_SECONDS="30"))
    number = api.open_account("1000.00")
    job = api.post(
        f"/accounts/{number}/withdraw", json={"amount": 1}, headers={"Prefer": "respond-async"}
    ).json()["data"]["job_id"]

    polls = [
        send_request(api.base_url, get(f"/jobs/{job}", {"Prefer": "wait=30"}), timeout=40)
        for _ in range(LONG_POLLS)
    ]
    withdrawals = [
        send_request(
            api.base_url, post_json(f"/accounts/{number}/withdraw", {"amount": 1}), timeout=40
        )
        for _ in range(SYNC_WAITERS)
    ]
    time.sleep(1)  # let every one of them be read and start waiting
    timed_balance_reads(api, number, 50)

    paused_stack.start_worker("worker")
    for index, sock in enumerate(polls):
        started = time.monotonic()
        raw = read_all(sock)
        # An empty answer has been seen twice in full CI runs: keep how the read ended, after
        # how long, and what the stack said.
        assert raw, (
            f"long-poll {index} got no answer: {how_the_read_ended(sock)} after "
            f"{time.monotonic() - started:.1f} s\n{logs(paused_stack.directory)[-20000:]}"
        )
        status, body = status_and_body(raw)
        sock.close()
        assert status == 200, body
        assert body["data"]["status"] == "succeeded"
    balances = []
    for sock in withdrawals:
        status, body = status_and_body(read_all(sock))
        sock.close()
        assert status == 200, body
        balances.append(body["data"]["new_balance"])
    assert sorted(balances) == [1000 - 1 - n for n in range(SYNC_WAITERS, 0, -1)]
    assert api.balance(number) == 1000 - 1 - SYNC_WAITERS


def test_past_the_waiter_cap_a_synchronous_request_is_answered_202_at_once(
    paused_stack: Stack,
) -> None:
    api = Api(
        paused_stack.start_web(WEB_CONCURRENCY="1", ATM_MAX_WAITERS="3", ATM_SYNC_WAIT_SECONDS="1")
    )
    number = api.open_account("10.00")
    job = api.post(
        f"/accounts/{number}/withdraw", json={"amount": 1}, headers={"Prefer": "respond-async"}
    ).json()["data"]["job_id"]
    polls = [
        send_request(api.base_url, get(f"/jobs/{job}", {"Prefer": "wait=3"})) for _ in range(3)
    ]
    time.sleep(0.5)

    started = time.monotonic()
    full = api.post(f"/accounts/{number}/withdraw", json={"amount": 1})
    assert full.status_code == 202, full.text
    assert time.monotonic() - started < 0.8  # did not wait its second
    poll = api.get(f"/jobs/{job}", headers={"Prefer": "wait=5"})
    assert poll.status_code == 200 and poll.json()["data"]["status"] == "queued"

    for sock in polls:  # their waits run out and free their places
        status, body = status_and_body(read_all(sock))
        sock.close()
        assert status == 200 and body["data"]["status"] == "queued"
    started = time.monotonic()
    waited = api.post(f"/accounts/{number}/withdraw", json={"amount": 1})
    assert waited.status_code == 202, waited.text
    assert time.monotonic() - started >= 0.9  # it waited its whole second this time


def test_stalled_and_trickling_clients_are_cut_off_while_reads_answer(
    client: Api, new_account
) -> None:
    number = new_account("10.00")
    head_only = b"GET /health HTTP/1.1\r\nHost: test\r\n"  # the headers never end
    stalled = [connect(client.base_url) for _ in range(STALLED)]
    for sock in stalled:
        sock.sendall(head_only)
    no_body = [
        send_request(
            client.base_url,
            f"POST /accounts/{number}/deposit HTTP/1.1\r\nHost: test\r\n"
            "Content-Type: application/json\r\nContent-Length: 20\r\n\r\n".encode(),
        )
        for _ in range(50)
    ]
    tricklers = [connect(client.base_url) for _ in range(20)]
    stop = threading.Event()

    def trickle() -> None:
        request = b"GET /accounts/10001/balance HTTP/1.1\r\nHost: test\r\nX-Pad: " + b"a" * 1000
        for byte in request:
            if stop.wait(0.2):
                return
            for sock in tricklers:
                with contextlib.suppress(OSError):
                    sock.send(bytes([byte]))

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        started = time.monotonic()
        timed_balance_reads(client, number, 50)
        for sock in no_body:
            status, body = status_and_body(read_all(sock))
            assert status == 408, body
            assert body["error"]["type"] == "request_timeout"
        assert time.monotonic() - started < BODY_TIMEOUT + 3
        for sock in [*stalled, *tricklers]:
            sock.settimeout(HEADER_TIMEOUT + 3)
            assert closed_by_server(sock), "a stalled connection was still open"
    finally:
        stop.set()
        for sock in [*stalled, *no_body, *tricklers]:
            sock.close()
    assert client.balance(number) == 10.0


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed the connection (EOF or reset) within the timeout."""
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_client_that_sends_nothing_at_all_is_cut_off(client: Api) -> None:
    sock = connect(client.base_url)
    sock.settimeout(HEADER_TIMEOUT + 3)
    started = time.monotonic()
    assert closed_by_server(sock)
    assert time.monotonic() - started >= HEADER_TIMEOUT - 0.5
    sock.close()
    wait_until(lambda: requests.get(client.url("/health"), timeout=2).ok, 5, "health")


def test_a_long_poll_on_a_batch_operation_ends_when_it_is_applied(
    paused_stack: Stack,
) -> None:
    """An operation of a batch has no row of its own; a reader waiting on it is woken by
    the notice of the transaction that applies it, not by the end of its wait."""
    api = Api(paused_stack.start_web())
    number = api.open_account("10.00")
    operations = [{"account_number": number, "type": "deposit", "amount": 1}] * 3
    batch = api.post("/batches", json={"operations": operations}).json()["data"]
    job_id = api.get(f"/batches/{batch['batch_id']}/results").json()["data"]["results"][2]["job_id"]
    polls = [send_request(api.base_url, get(f"/jobs/{job_id}", {"Prefer": "wait=30"}))]
    time.sleep(0.5)
    started = time.monotonic()
    paused_stack.start_worker("late")
    status, body = status_and_body(read_all(polls[0]))
    polls[0].close()
    assert status == 200 and body["data"]["status"] == "succeeded", body
    assert time.monotonic() - started < 15  # woken by its notice, not the 30 s wait
