"""ATM_AUTH=required: keys, scopes, account-limited keys, revocation in every web process,
idempotency per key, the CLI, and the refusal to start open on a public address."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shared.config.settings import SettingsError, load_settings
from tests.conftest import Api
from tests.e2e.test_batches import wait_completed
from tests.stack import PROJECT_ROOT, RedisServer, Stack

BOOTSTRAP = "bootstrap-admin-secret-for-the-tests-0123456789"


class KeyedApi(Api):
    """An Api that sends one key with every request."""

    def __init__(self, base_url: str, secret: str | None) -> None:
        super().__init__(base_url)
        if secret is not None:
            self.http.headers["Authorization"] = f"Bearer {secret}"


@pytest.fixture(scope="module")
def auth_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("auth-stack")
    stack = Stack(
        directory,
        redis_server.url.replace("/0", "/7"),
        ATM_AUTH="required",
        ATM_BOOTSTRAP_ADMIN_KEY=BOOTSTRAP,
    )
    stack.redis.flushdb()
    try:
        stack.start_service("worker")
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def admin(auth_stack: Stack) -> KeyedApi:
    return KeyedApi(auth_stack.base_url, BOOTSTRAP)


def new_key(admin: KeyedApi, scopes: list[str], accounts: list[str] | None = None) -> dict:
    body: dict = {"name": f"{'+'.join(scopes)} key", "scopes": scopes}
    if accounts is not None:
        body["accounts"] = accounts
    response = admin.post("/api-keys", json=body)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["secret"].startswith(data["prefix"]) and len(data["secret"]) > 40
    return data


def test_no_key_or_a_bad_key_is_401_but_health_and_the_document_are_open(
    auth_stack: Stack,
) -> None:
    anonymous = KeyedApi(auth_stack.base_url, None)
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200
    for client in (anonymous, KeyedApi(auth_stack.base_url, "atm_not-a-real-secret")):
        response = client.get("/accounts/10001/balance")
        assert response.status_code == 401, response.text
        assert response.json()["error"]["type"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert anonymous.get("/metrics").status_code == 401
    assert anonymous.post("/accounts/10001/withdraw", json={"amount": 1}).status_code == 401
    assert anonymous.get("/no-such-path").status_code == 404


def test_each_scope_allows_what_it_should(auth_stack: Stack, admin: KeyedApi) -> None:
    reader = KeyedApi(auth_stack.base_url, new_key(admin, ["read"])["secret"])
    operator = KeyedApi(auth_stack.base_url, new_key(admin, ["operate"])["secret"])
    number = admin.open_account("50.00")
    assert reader.get(f"/accounts/{number}/balance").status_code == 200
    assert reader.get("/metrics").status_code == 200
    forbidden = reader.post(f"/accounts/{number}/withdraw", json={"amount": 1})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["type"] == "forbidden"
    assert operator.post(f"/accounts/{number}/withdraw", json={"amount": 1}).status_code == 200
    assert (
        operator.post(
            "/transfers", json={"from_account": number, "to_account": "10001", "amount": 1}
        ).status_code
        == 200
    )
    for response in (
        operator.post("/accounts", json={"initial_balance": 1}),
        operator.patch(f"/accounts/{number}", json={"status": "frozen"}),
        operator.get("/api-keys"),
        operator.post("/api-keys", json={"name": "x", "scopes": ["admin"]}),
        operator.get("/webhooks"),
        operator.post("/webhooks", json={"url": "http://93.184.216.34/", "events": ["job.failed"]}),
        reader.get("/webhooks"),
    ):
        assert response.status_code == 403, response.text
    assert admin.patch(f"/accounts/{number}", json={"daily_withdrawal_limit": 5}).status_code == 200
    listed = admin.get("/api-keys").json()["data"]["api_keys"]
    assert all("secret" not in key and "secret_hash" not in key for key in listed)


def test_an_account_limited_key_uses_only_its_accounts(auth_stack: Stack, admin: KeyedApi) -> None:
    mine, other = admin.open_account("100.00"), admin.open_account("100.00")
    limited_key = new_key(admin, ["operate"], accounts=[mine])
    limited = KeyedApi(auth_stack.base_url, limited_key["secret"])

    withdrawal = limited.post(f"/accounts/{mine}/withdraw", json={"amount": 1})
    assert withdrawal.status_code == 200
    job = limited.get(f"/jobs/{withdrawal.json()['data']['job_id']}").json()["data"]
    assert job["submitted_by"] == limited_key["key_id"]
    # a transfer's destination may be any account; the source must be its own
    assert (
        limited.post(
            "/transfers", json={"from_account": mine, "to_account": other, "amount": 2}
        ).status_code
        == 200
    )
    hold = limited.post(f"/accounts/{mine}/holds", json={"amount": 3}).json()["data"]
    assert limited.get(f"/holds/{hold['hold_id']}").status_code == 200
    assert limited.post(f"/holds/{hold['hold_id']}/capture").status_code == 200

    others_hold = admin.post(f"/accounts/{other}/holds", json={"amount": 1}).json()["data"]
    others_job = admin.post(f"/accounts/{other}/deposit", json={"amount": 1}).json()["data"]
    others_batch = admin.post(
        "/batches", json={"operations": [{"account_number": other, "type": "deposit", "amount": 1}]}
    ).json()["data"]
    for response in (
        limited.get(f"/accounts/{other}/balance"),
        limited.get(f"/accounts/{other}"),
        limited.get(f"/accounts/{other}/transactions"),
        limited.post(f"/accounts/{other}/withdraw", json={"amount": 1}),
        limited.post(f"/accounts/{other}/holds", json={"amount": 1}),
        limited.post("/transfers", json={"from_account": other, "to_account": mine, "amount": 1}),
        limited.post(
            "/batches",
            json={
                "operations": [
                    {"account_number": mine, "type": "deposit", "amount": 1},
                    {"account_number": other, "type": "withdraw", "amount": 1},
                ]
            },
        ),
        limited.get("/metrics"),
        limited.get("/console/data"),
    ):
        assert response.status_code == 403, (response.request.url, response.text)
    # Another account's job, hold or batch: as if there were none (see the tests below).
    for response in (
        limited.get(f"/holds/{others_hold['hold_id']}"),
        limited.post(f"/holds/{others_hold['hold_id']}/void"),
        limited.get(f"/jobs/{others_job['job_id']}"),
        limited.post(f"/jobs/{others_job['job_id']}/reverse"),
        limited.get(others_batch["status_url"]),
        limited.get(f"{others_batch['status_url']}/results"),
    ):
        assert response.status_code == 404, (response.request.url, response.text)
    own_batch = limited.post(
        "/batches", json={"operations": [{"account_number": mine, "type": "deposit", "amount": 1}]}
    ).json()["data"]
    assert limited.get(own_batch["status_url"]).status_code == 200
    wait_completed(admin, others_batch["batch_id"])  # applied asynchronously
    # 100, 2 transferred in, the admin's deposit and batch of 1 each: nothing else
    assert admin.balance(other) == 104.0


UNKNOWN_ID = "00000000-0000-7000-8000-000000000000"


def answer_without(response: requests.Response, identifier: str) -> tuple[int, dict]:
    """The status and body of an answer, with the id it names blanked out."""
    return response.status_code, json.loads(response.text.replace(identifier, "<id>"))


def test_what_is_beyond_a_limited_keys_reach_is_answered_as_unknown(
    auth_stack: Stack, admin: KeyedApi
) -> None:
    mine, other = admin.open_account("100.00"), admin.open_account("100.00")
    limited = KeyedApi(auth_stack.base_url, new_key(admin, ["operate"], accounts=[mine])["secret"])
    deposit = admin.post(f"/accounts/{other}/deposit", json={"amount": 1}).json()["data"]
    hold = admin.post(f"/accounts/{other}/holds", json={"amount": 1}).json()["data"]
    batch = admin.post(
        "/batches", json={"operations": [{"account_number": other, "type": "deposit", "amount": 1}]}
    ).json()["data"]
    others = {"job": deposit["job_id"], "hold": hold["hold_id"], "batch": batch["batch_id"]}
    for method, path, kind in [
        ("GET", "/jobs/{}", "job"),
        ("POST", "/jobs/{}/reverse", "job"),
        ("GET", "/holds/{}", "hold"),
        ("POST", "/holds/{}/capture", "hold"),
        ("POST", "/holds/{}/void", "hold"),
        ("GET", "/batches/{}", "batch"),
        ("GET", "/batches/{}/results", "batch"),
    ]:
        existing = others[kind]
        beyond = limited.http.request(method, limited.url(path.format(existing)), timeout=30)
        unknown = limited.http.request(method, limited.url(path.format(UNKNOWN_ID)), timeout=30)
        to_admin = admin.http.request(method, admin.url(path.format(UNKNOWN_ID)), timeout=30)
        status, body = answer_without(beyond, existing)
        assert status == 404 and body["error"]["type"] == f"{kind}_not_found", (path, body)
        assert (status, body) == answer_without(unknown, UNKNOWN_ID), path
        assert (status, body) == answer_without(to_admin, UNKNOWN_ID), path
    assert admin.get(f"/holds/{others['hold']}").json()["data"]["status"] == "active"
    wait_completed(admin, batch["batch_id"])  # applied asynchronously
    assert admin.balance(other) == 102.0  # the deposit and the batch; nothing reversed


def test_a_transfers_job_is_within_reach_of_either_account(
    auth_stack: Stack, admin: KeyedApi
) -> None:
    source, destination = admin.open_account("10.00"), admin.open_account("10.00")
    transfer = admin.post(
        "/transfers", json={"from_account": source, "to_account": destination, "amount": 1}
    ).json()["data"]["job_id"]
    for accounts, status in [([source], 200), ([destination], 200), (["10003"], 404)]:
        reader = KeyedApi(auth_stack.base_url, new_key(admin, ["read"], accounts)["secret"])
        assert reader.get(f"/jobs/{transfer}").status_code == status, accounts


def test_a_limited_key_cannot_wait_on_what_is_beyond_its_reach(
    auth_stack: Stack, admin: KeyedApi
) -> None:
    """Refused before the long-poll, not after it: with no worker, the job stays queued."""
    other = admin.open_account("10.00")
    limited = KeyedApi(
        auth_stack.base_url, new_key(admin, ["read"], [admin.open_account("1.00")])["secret"]
    )
    auth_stack.kill_worker("worker", signal.SIGTERM)
    try:
        job = admin.post(
            f"/accounts/{other}/deposit", json={"amount": 1}, headers={"Prefer": "respond-async"}
        ).json()["data"]["job_id"]
        batch = admin.post(
            "/batches",
            json={"operations": [{"account_number": other, "type": "deposit", "amount": 1}]},
        ).json()["data"]["batch_id"]
        for path, pending in [(f"/jobs/{job}", "queued"), (f"/batches/{batch}", "pending")]:
            started = time.monotonic()
            response = limited.get(path, headers={"Prefer": "wait=5"})
            assert response.status_code == 404, response.text
            assert time.monotonic() - started < 2
            assert admin.get(path).json()["data"]["status"] == pending
    finally:
        auth_stack.start_worker("worker")
        auth_stack.wait_healthy()


def test_idempotency_keys_belong_to_their_api_key(auth_stack: Stack, admin: KeyedApi) -> None:
    number = admin.open_account("10.00")
    first = KeyedApi(auth_stack.base_url, new_key(admin, ["operate"])["secret"])
    second = KeyedApi(auth_stack.base_url, new_key(admin, ["operate"])["secret"])
    headers = {"Idempotency-Key": "same-key-for-both"}
    one = first.post(f"/accounts/{number}/withdraw", json={"amount": 1}, headers=headers)
    two = second.post(f"/accounts/{number}/withdraw", json={"amount": 1}, headers=headers)
    again = first.post(f"/accounts/{number}/withdraw", json={"amount": 1}, headers=headers)
    assert one.json()["data"]["job_id"] != two.json()["data"]["job_id"]
    assert again.json()["data"]["job_id"] == one.json()["data"]["job_id"]
    assert admin.balance(number) == 8.0


def test_a_revoked_key_is_refused_at_once_by_every_web_process(
    auth_stack: Stack, admin: KeyedApi
) -> None:
    key = new_key(admin, ["read"])

    def statuses() -> set[int]:
        # new connections, so that both gunicorn processes answer some of them
        seen = set()
        for _ in range(30):
            with requests.Session() as http:
                response = http.get(
                    f"{auth_stack.base_url}/accounts/10001/balance",
                    headers={"Authorization": f"Bearer {key['secret']}", "Connection": "close"},
                    timeout=10,
                )
                seen.add(response.status_code)
        return seen

    assert statuses() == {200}  # every process now remembers the key
    revoked = admin.http.delete(f"{auth_stack.base_url}/api-keys/{key['key_id']}", timeout=10)
    assert revoked.status_code == 200 and revoked.json()["data"] == {
        "key_id": key["key_id"],
        "revoked": True,
    }
    assert statuses() == {401}
    assert admin.http.delete(f"{auth_stack.base_url}/api-keys/nope", timeout=10).status_code == 404


def test_the_cli_creates_lists_and_revokes_keys(auth_stack: Stack) -> None:
    def flask(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "web", "keys", *args],
            cwd=PROJECT_ROOT,
            env=auth_stack.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    created = dict(
        line.split(": ", 1)
        for line in flask("create", "--name", "from the cli", "--scope", "read").splitlines()
    )
    client = KeyedApi(auth_stack.base_url, created["secret"])
    assert client.get("/accounts/10001/balance").status_code == 200
    assert created["key_id"] in flask("list")
    flask("revoke", created["key_id"])
    assert client.get("/accounts/10001/balance").status_code == 401


def test_auth_off_is_refused_on_a_public_address(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ATM_AUTH=off"):
        load_settings({"HOST": "0.0.0.0"})
    assert load_settings({"HOST": "0.0.0.0", "ATM_ALLOW_INSECURE": "true"}).host == "0.0.0.0"
    assert load_settings({"HOST": "0.0.0.0", "ATM_AUTH": "required"}).auth_required
    assert not load_settings({"HOST": "::1"}).auth_required
    with pytest.raises(SettingsError, match="ATM_BOOTSTRAP_ADMIN_KEY"):
        load_settings({"ATM_BOOTSTRAP_ADMIN_KEY": "too-short"})
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "web:create_app()"],
        cwd=PROJECT_ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "HOST": "0.0.0.0",
            "PORT": "5999",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'atm.db'}",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ATM_AUTH=off would let anyone" in result.stderr + result.stdout


def test_the_rate_limit_is_per_key_and_shared_by_the_web_processes(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    stack = Stack(
        tmp_path,
        redis_server.url.replace("/0", "/8"),
        ATM_AUTH="required",
        ATM_BOOTSTRAP_ADMIN_KEY=BOOTSTRAP,
        ATM_RATE_LIMIT="20",
    )
    stack.redis.flushdb()
    try:
        stack.start_web()
        first, second = (
            KeyedApi(
                stack.base_url, new_key(KeyedApi(stack.base_url, BOOTSTRAP), ["read"])["secret"]
            )
            for _ in range(2)
        )
        answered = []
        for _ in range(60):  # new connections: both gunicorn processes count
            response = requests.get(
                f"{stack.base_url}/openapi.json", timeout=10
            )  # public: never counted
            assert "RateLimit-Limit" not in response.headers
            response = first.http.get(
                f"{stack.base_url}/accounts/10001/balance",
                headers={"Connection": "close"},
                timeout=10,
            )
            answered.append(response)
        limited = [r for r in answered if r.status_code == 429]
        assert limited, "60 requests in well under 3 s never passed a limit of 20 a second"
        assert len(limited) < 60
        body = limited[0].json()
        assert body["error"]["type"] == "rate_limited" and body["code"] == 429
        assert int(limited[0].headers["Retry-After"]) >= 0
        ok = next(r for r in answered if r.status_code == 200)
        assert ok.headers["RateLimit-Limit"] == "20"
        assert int(ok.headers["RateLimit-Remaining"]) < 20
        assert int(ok.headers["RateLimit-Reset"]) > 0
        # One count for both processes: no window admits much more than the limit (two
        # counts of their own would admit up to twice as many). Each process learns the
        # other's count within a flush interval, so a window may admit a few more.
        admitted: dict[str, int] = {}
        for response in answered:
            if response.status_code == 200:
                window = response.headers["RateLimit-Reset"]
                admitted[window] = admitted.get(window, 0) + 1
        assert all(count <= 20 + 4 for count in admitted.values()), admitted
        # another key has its own count
        assert second.get("/accounts/10001/balance").status_code == 200
    finally:
        stack.stop()


def test_without_redis_keys_are_read_from_the_database_and_revocation_waits(
    tmp_path: Path,
) -> None:
    """Redis down: a live key still works (read from the database each time, nothing
    remembered), and a revocation is refused (503) rather than left unseen by processes
    that remember the key; with Redis back, the revocation goes through."""
    own_redis = RedisServer(tmp_path / "redis")
    stack = Stack(
        tmp_path / "stack", own_redis.url, ATM_AUTH="required", ATM_BOOTSTRAP_ADMIN_KEY=BOOTSTRAP
    )
    try:
        stack.start_web()
        admin = KeyedApi(stack.base_url, BOOTSTRAP)
        key = new_key(admin, ["read"])
        reader = KeyedApi(stack.base_url, key["secret"])
        assert reader.get("/accounts/10001/balance").status_code == 200
        own_redis.stop()
        assert reader.get("/accounts/10001/balance").status_code == 200
        assert KeyedApi(stack.base_url, "atm_wrong").get("/accounts/10001").status_code == 401
        refused = admin.http.delete(f"{stack.base_url}/api-keys/{key['key_id']}", timeout=30)
        assert refused.status_code == 503, refused.text
        assert reader.get("/accounts/10001/balance").status_code == 200  # nothing revoked
        own_redis.start()
        revoked = admin.http.delete(f"{stack.base_url}/api-keys/{key['key_id']}", timeout=30)
        assert revoked.status_code == 200, revoked.text
        assert reader.get("/accounts/10001/balance").status_code == 401
    finally:
        stack.stop()
        own_redis.stop()
