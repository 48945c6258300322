"""The batch submitter CLI against the running stack: bad lines stop it, good files complete,
and a stopped or refused run leaves a record that the same command resumes from."""

from __future__ import annotations

import csv
import errno
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from click.testing import Result
from flask.testing import FlaskCliRunner

from shared.config.settings import PROJECT_ROOT, load_settings
from tests.conftest import ADMIN_SECRET, Api
from tests.stack import RedisServer, Stack, free_port, logs, wait_until
from web import create_app


def key_env(client: Api) -> dict[str, str]:
    """The client's API key for the submitter (ATM_API_KEY), when its stack needs one."""
    return {"ATM_API_KEY": client.secret or ""}


@pytest.fixture
def runner(tmp_path: Path) -> FlaskCliRunner:
    app = create_app(load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}))
    return app.test_cli_runner()


def test_bad_lines_are_reported_by_number_and_nothing_is_submitted(
    runner: FlaskCliRunner, client: Api, new_account, tmp_path: Path
) -> None:
    number = new_account("10.00")
    path = tmp_path / "ops.csv"
    path.write_text(
        f"account_number,type,amount\n{number},deposit,5\n{number},refund,5\n\n"
        f"{number},withdraw,0.001\n{number},deposit\n"
    )
    result = runner.invoke(
        args=["batch", "submit", str(path), "--url", client.base_url], env=key_env(client)
    )
    assert result.exit_code == 1
    assert f"{path}:3 invalid_operation" in result.output
    assert f"{path}:5 invalid_amount" in result.output
    assert f"{path}:6 invalid_line" in result.output
    assert "nothing was submitted" in result.output
    assert client.balance(number) == 10.0


def test_a_file_is_submitted_in_batches_and_results_are_written(
    runner: FlaskCliRunner, client: Api, new_account, tmp_path: Path
) -> None:
    numbers = [new_account("20.00") for _ in range(3)]
    path = tmp_path / "ops.jsonl"
    lines = [
        {"account_number": numbers[i % 3], "type": "withdraw", "amount": "7.50"} for i in range(9)
    ] + [{"account_number": "404404", "type": "deposit", "amount": 1}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "results.csv"
    result = runner.invoke(
        args=[
            "batch",
            "submit",
            str(path),
            "--url",
            client.base_url,
            "--batch-size",
            "4",
            "--results",
            str(out),
            "--api-key",
            client.secret or "",
        ]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert [int(row["line"]) for row in rows] == list(range(1, 11))
    assert [row["status"] for row in rows[:6]] == ["succeeded"] * 6
    assert [row["error_type"] for row in rows[6:]] == ["insufficient_funds"] * 3 + [
        "account_not_found"
    ]
    assert all(client.balance(n) == 5.0 for n in numbers)


def test_references_and_metadata_in_a_json_lines_file_reach_the_ledger(
    runner: FlaskCliRunner, client: Api, new_account, tmp_path: Path
) -> None:
    number = new_account("0")
    path = tmp_path / "payroll.jsonl"
    line = {
        "account_number": number,
        "type": "deposit",
        "amount": "12.34",
        "reference": "payroll-2026-11",
        "metadata": {"employee": "E-17", "hours": 37.5},
    }
    path.write_text(json.dumps(line) + "\n")
    result = runner.invoke(
        args=["batch", "submit", str(path), "--url", client.base_url], env=key_env(client)
    )
    assert result.exit_code == 0, result.output
    entry = client.history(number)[0]
    assert entry["reference"] == "payroll-2026-11"
    assert entry["metadata"] == {"employee": "E-17", "hours": 37.5}


def test_an_unreachable_api_is_one_line_and_exit_2(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ops.csv"
    path.write_text("10001,deposit,1\n")
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(args=["batch", "submit", str(path), "--url", url])
    assert result.exit_code == 2, result.output
    assert f"cannot reach the API at {url}" in result.output
    assert "Traceback" not in result.output


def test_the_url_comes_from_atm_url_and_fail_on_error_exits_3(
    runner: FlaskCliRunner, client: Api, new_account, tmp_path: Path
) -> None:
    number = new_account("1.00")
    path = tmp_path / "ops.csv"
    path.write_text(f"{number},withdraw,5\n{number},deposit,1\n")
    env = {"ATM_URL": client.base_url, **key_env(client)}
    result = runner.invoke(args=["batch", "submit", str(path), "--fail-on-error"], env=env)
    assert result.exit_code == 3, result.output  # the withdrawal failed: insufficient funds
    assert client.balance(number) == 2.0
    result = runner.invoke(args=["batch", "submit", str(path)], env=env)
    assert result.exit_code == 0, result.output


def deposits_file(path: Path, numbers: list[str], lines: int) -> dict[str, list[int]]:
    """A CSV of deposits, line i (from 1) of i cents on numbers[i % len]; the cents each
    account should receive, one entry per line."""
    expected: dict[str, list[int]] = {number: [] for number in numbers}
    rows = []
    for line in range(1, lines + 1):
        number = numbers[line % len(numbers)]
        rows.append(f"{number},deposit,{line // 100}.{line % 100:02d}")
        expected[number].append(line)
    path.write_text("\n".join(rows) + "\n")
    return expected


def deposited_cents(client: Api, number: str) -> list[int]:
    """Every deposit in the account's ledger, in cents, in the order they were applied."""
    entries: list[dict] = []
    params: dict[str, object] = {"limit": 500}
    while True:
        response = client.get(f"/accounts/{number}/transactions", params=params)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        entries.extend(data["transactions"])
        if not data["next_before"]:
            break
        params["before"] = data["next_before"]
    return sorted(round(e["amount"] * 100) for e in entries if e["type"] == "deposit")


@pytest.fixture
def stoppable(tmp_path: Path, redis_server: RedisServer) -> Iterator[Stack]:
    """A stack of its own (Redis database 14), as its web will be killed."""
    stack = Stack(tmp_path / "stack", redis_server.url.replace("/0", "/14"))
    stack.redis.flushdb()
    try:
        stack.start_service("worker")
        yield stack
    except Exception:
        print(logs(stack.directory))
        raise
    finally:
        stack.stop()


def test_a_service_stopped_mid_file_then_the_same_command_applies_every_line_once(
    stoppable: Stack, tmp_path: Path
) -> None:
    client = Api(stoppable.base_url)
    numbers = [client.open_account("0") for _ in range(4)]
    path = tmp_path / "deposits.csv"
    expected = deposits_file(path, numbers, 1200)
    record = tmp_path / "deposits.csv.progress.json"
    port = int(stoppable.base_url.rsplit(":", 1)[1])
    command = [sys.executable, "-m", "flask", "--app", "web", "batch", "submit", str(path)]
    command += ["--url", stoppable.base_url, "--batch-size", "10"]
    env = {**stoppable.env, "FLASK_SKIP_DOTENV": "1"}  # never a developer's .env

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    submitter = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )

    def accepted_batches() -> int:
        try:
            return len(json.loads(record.read_text())["accepted"])
        except (OSError, ValueError):
            return 0

    wait_until(lambda: accepted_batches() >= 3, 60, "three accepted batches", interval=0.005)
    assert stoppable.web is not None
    os.killpg(stoppable.web.pid, signal.SIGKILL)  # gunicorn and its workers, at once
    stoppable.web.wait(10)
    out, err = (text.decode() for text in submitter.communicate(timeout=60))
    assert submitter.returncode == 4, out + err
    assert "cannot reach the API" in err and "Running the same command again" in err
    first_ids = {line.rsplit(" ", 1)[1] for line in out.splitlines() if "accepted lines" in line}
    assert len(first_ids) >= 3
    assert f"accepted: {accepted_batches() * 10} of 1200 operation(s)" in err
    assert set(first_ids) <= {b["batch_id"] for b in json.loads(record.read_text())["accepted"]}

    stoppable.start_web(port=port)
    stoppable.wait_healthy()
    again = run()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "accepted before; sending the other" in again.stderr
    for number in numbers:
        assert deposited_cents(client, number) == expected[number]
        assert round(client.balance(number) * 100) == sum(expected[number])
    saved = json.loads(record.read_text())
    assert saved["in_doubt"] == []
    assert sum(b["operations"] for b in saved["accepted"]) == 1200


def test_a_rerun_resumes_with_another_batch_size_and_key_and_again_sends_twice(
    runner: FlaskCliRunner, keyed_stack: Stack, tmp_path: Path
) -> None:
    admin = Api(keyed_stack.base_url, ADMIN_SECRET)
    first, second = admin.open_account("0"), admin.open_account("0")
    created = admin.post(
        "/api-keys", json={"name": "first only", "scopes": ["operate"], "accounts": [first]}
    )
    limited = created.json()["data"]["secret"]
    path = tmp_path / "ops.csv"
    numbers = [first] * 4 + [second] * 4 + [first] * 2
    path.write_text("".join(f"{n},deposit,{i}\n" for i, n in enumerate(numbers, 1)))

    def submit(*args: str) -> Result:
        return runner.invoke(
            args=["batch", "submit", str(path), "--url", keyed_stack.base_url, *args]
        )

    # The limited key may not touch the second account: lines 5-8 are refused.
    result = submit("--batch-size", "4", "--api-key", limited)
    assert result.exit_code == 4, result.output
    assert "accepted lines 1-4 (4 operations): batch " in result.output
    assert "may not" in result.output and "--api-key" in result.output
    assert "accepted: 4 of 10 operation(s), lines 1-4" in result.output
    assert "not sent: 6 operation(s), lines 5-10" in result.output
    # Accepted is not yet applied: the run stopped before following lines 1-4.
    wait_until(lambda: admin.balance(first) == 10.0, 30, "lines 1-4 applied")
    assert admin.balance(second) == 0.0

    # Another key and batch size: only lines 5-10 go, in batches of 3.
    result = submit("--batch-size", "3", "--api-key", ADMIN_SECRET)
    assert result.exit_code == 0, result.output
    assert "4 of 10 operation(s) accepted before; sending the other 6" in result.output
    sent = [line for line in result.output.splitlines() if line.startswith("accepted lines")]
    assert [line.split(" (")[0] for line in sent] == ["accepted lines 5-7", "accepted lines 8-10"]
    assert (admin.balance(first), admin.balance(second)) == (29.0, 26.0)

    # Done: the same command sends nothing; --again sends the whole file a second time.
    result = submit("--api-key", ADMIN_SECRET)
    assert result.exit_code == 0, result.output
    assert "accepted lines" not in result.output
    assert (admin.balance(first), admin.balance(second)) == (29.0, 26.0)
    result = submit("--api-key", ADMIN_SECRET, "--again")
    assert result.exit_code == 0, result.output
    assert "accepted lines 1-10 (10 operations)" in result.output
    assert "replayed" not in result.output
    assert (admin.balance(first), admin.balance(second)) == (58.0, 52.0)


def test_without_its_record_a_rerun_is_replayed_not_applied(
    runner: FlaskCliRunner, client: Api, new_account, tmp_path: Path
) -> None:
    number = new_account("0")
    path = tmp_path / "ops.csv"
    path.write_text("".join(f"{number},deposit,{i}\n" for i in range(1, 6)))
    args = ["batch", "submit", str(path), "--url", client.base_url, "--batch-size", "2"]
    assert runner.invoke(args=args, env=key_env(client)).exit_code == 0
    first = sorted(
        json.loads((tmp_path / "ops.csv.progress.json").read_text())["accepted"], key=str
    )
    (tmp_path / "ops.csv.progress.json").unlink()
    result = runner.invoke(args=args, env=key_env(client))
    assert result.exit_code == 0, result.output
    assert result.output.count("(replayed: the API had accepted them before)") == 3
    again = sorted(
        json.loads((tmp_path / "ops.csv.progress.json").read_text())["accepted"], key=str
    )
    assert [b["batch_id"] for b in again] == [b["batch_id"] for b in first]
    assert client.balance(number) == 15.0


def test_a_changed_file_is_refused_and_again_sends_it(
    runner: FlaskCliRunner, open_client: Api, tmp_path: Path
) -> None:
    number = open_client.open_account("0")
    path = tmp_path / "ops.csv"
    path.write_text(f"{number},deposit,1\n")
    args = ["batch", "submit", str(path), "--url", open_client.base_url]
    assert runner.invoke(args=args).exit_code == 0
    path.write_text(f"{number},deposit,1\n{number},deposit,2\n")
    result = runner.invoke(args=args)
    assert result.exit_code == 1, result.output
    assert "has changed since" in result.output and "--again" in result.output
    assert open_client.balance(number) == 1.0
    result = runner.invoke(args=[*args, "--again"])
    assert result.exit_code == 0, result.output
    assert open_client.balance(number) == 4.0


def test_an_again_that_sent_nothing_leaves_the_finished_record_as_it_was(
    runner: FlaskCliRunner, open_client: Api, tmp_path: Path
) -> None:
    number = open_client.open_account("0")
    path = tmp_path / "ops.csv"
    path.write_text(f"{number},deposit,1\n{number},deposit,2\n")
    args = ["batch", "submit", str(path), "--url", open_client.base_url]
    assert runner.invoke(args=args).exit_code == 0
    record = (tmp_path / "ops.csv.progress.json").read_text()
    nowhere = f"http://127.0.0.1:{free_port()}"
    for again in (
        ["--again", "--url", nowhere],
        ["--again", "--url", nowhere, "--batch-size", "1"],
    ):
        result = runner.invoke(args=["batch", "submit", str(path), *again])
        assert result.exit_code == 2, result.output
        assert (tmp_path / "ops.csv.progress.json").read_text() == record
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert open_client.balance(number) == 3.0  # the finished file was not sent again


def test_a_refused_key_names_the_option_and_its_variable(
    runner: FlaskCliRunner, keyed_stack: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "ops.csv"
    path.write_text("10001,deposit,1\n")
    args = ["batch", "submit", str(path), "--url", keyed_stack.base_url]
    for extra, says in (
        ([], "needs an API key"),
        (["--api-key", "atm_nope"], "refused the API key"),
    ):
        result = runner.invoke(args=[*args, *extra])
        assert result.exit_code == 1, result.output
        assert says in result.output and "--api-key" in result.output
        assert "ATM_API_KEY" in result.output and '"success"' not in result.output
        assert "nothing of" in result.output


Fake = tuple[int, str, bytes]  # an answer of the proxy's own: status, content type, body


class Proxy(ThreadingHTTPServer):
    """Forwards requests to `upstream`, counting them by method. It closes the connection
    instead of answering the `lose`-th POST (which the API has received and acted on),
    answers with `fake[(method, count)]` in place of the API's answer, and holds the
    `hold`-th POST, before forwarding it, until `release` is set."""

    def __init__(
        self, upstream: str, lose: int = 0, fake: dict[tuple[str, int], Fake] | None = None
    ) -> None:
        self.upstream, self.lose, self.fake = upstream, lose, fake or {}
        self.counts: Counter[str] = Counter()
        self.hold, self.held, self.release = 0, threading.Event(), threading.Event()
        super().__init__(("127.0.0.1", 0), ForwardingHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class ForwardingHandler(BaseHTTPRequestHandler):
    server: Proxy

    def forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        self.server.counts[self.command] += 1
        count = self.server.counts[self.command]
        if self.command == "POST" and count == self.server.hold:
            self.server.held.set()
            self.server.release.wait(60)
        answer = requests.request(
            self.command, self.server.upstream + self.path, data=body, headers=headers
        )
        if self.command == "POST" and count == self.server.lose:
            self.close_connection = True
            return
        fake = self.server.fake.get((self.command, count))
        if fake is not None:
            status, content_type, content = fake
            self.send_response(status)
            self.send_header("Content-Type", content_type)
        else:
            status, content = answer.status_code, answer.content
            self.send_response(status)
            for name, value in answer.headers.items():
                if name.lower() not in {"connection", "transfer-encoding", "content-length"}:
                    self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = forward

    def log_message(self, *args: object) -> None:
        pass


def test_a_batch_whose_answer_was_lost_is_replayed_by_the_next_run(
    runner: FlaskCliRunner, open_client: Api, tmp_path: Path
) -> None:
    number = open_client.open_account("0")
    path = tmp_path / "ops.csv"
    path.write_text("".join(f"{number},deposit,{i}\n" for i in range(1, 8)))
    proxy = Proxy(open_client.base_url, lose=2)
    args = ["batch", "submit", str(path), "--url", proxy.url, "--batch-size"]
    try:
        result = runner.invoke(args=[*args, "2"])
        assert result.exit_code == 4, result.output
        assert "accepted: 2 of 7 operation(s), lines 1-2" in result.output
        assert "unknown: lines 3-4 were sent but no answer came" in result.output
        assert "not sent: 3 operation(s), lines 5-7" in result.output
        # lines 1-4: the API did take lines 3-4
        wait_until(lambda: open_client.balance(number) == 10.0, 30, "lines 1-4 applied")

        # Answered now, in batches of 3: lines 3-4 are replayed, then 5-7 sent.
        proxy.lose = 0
        result = runner.invoke(args=[*args, "3"])
    finally:
        proxy.shutdown()
    assert result.exit_code == 0, result.output
    assert "accepted lines 3-4 (2 operations): batch " in result.output
    assert "(replayed: the API had accepted them before)" in result.output
    assert "accepted lines 5-7 (3 operations)" in result.output
    assert open_client.balance(number) == 28.0  # 1 + 2 + ... + 7, each once


def test_an_interrupted_again_is_finished_by_the_same_command_not_sent_a_third_time(
    runner: FlaskCliRunner, open_client: Api, tmp_path: Path
) -> None:
    number = open_client.open_account("0")
    path = tmp_path / "ops.csv"
    path.write_text("".join(f"{number},deposit,{i}\n" for i in range(1, 8)))  # 28.00 in all
    proxy = Proxy(open_client.base_url)
    args = ["batch", "submit", str(path), "--batch-size", "2", "--url", proxy.url, "--again"]
    try:
        assert runner.invoke(args=args[:-1]).exit_code == 0
        assert open_client.balance(number) == 28.0

        # The second submission stops after its second batch, applied but unanswered.
        proxy.lose = proxy.counts["POST"] + 2
        result = runner.invoke(args=args)
        assert result.exit_code == 4, result.output
        assert "unknown: lines 3-4 were sent but no answer came" in result.output
        assert "Running the same command again" in result.output
        wait_until(lambda: open_client.balance(number) == 38.0, 30, "lines 1-4 a second time")

        # The same command finishes that submission: lines 3-4 replayed, 5-7 sent.
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        assert open_client.balance(number) == 56.0  # every line exactly twice
        assert "is finished first" in result.output
        assert "accepted lines 3-4 (2 operations): batch " in result.output
        assert "(replayed: the API had accepted them before)" in result.output
        assert "accepted lines 1-2" not in result.output

        # Finished: --again is a new submission again.
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        assert open_client.balance(number) == 84.0
    finally:
        proxy.shutdown()


def test_a_record_of_another_url_is_refused_unless_again_or_another_record(
    runner: FlaskCliRunner, open_client: Api, tmp_path: Path
) -> None:
    number = open_client.open_account("0")
    path = tmp_path / "ops.csv"
    path.write_text(f"{number},deposit,1\n{number},deposit,2\n")
    assert (
        runner.invoke(args=["batch", "submit", str(path), "--url", open_client.base_url]).exit_code
        == 0
    )
    proxy = Proxy(open_client.base_url)  # another address: as good as another API
    args = ["batch", "submit", str(path), "--url", proxy.url]
    try:
        result = runner.invoke(args=args)
        assert result.exit_code == 1, result.output
        assert open_client.base_url in result.output and proxy.url in result.output
        assert "--again" in result.output and "--progress" in result.output
        assert "nothing was sent" in result.output
        assert sum(proxy.counts.values()) == 0

        # A record of its own: a first submission there (the API replays it: same keys).
        other = tmp_path / "other.progress.json"
        result = runner.invoke(args=[*args, "--progress", str(other)])
        assert result.exit_code == 0, result.output
        assert json.loads(other.read_text())["url"] == proxy.url
        assert open_client.balance(number) == 3.0

        # --again: a new submission to the new address, recorded for it.
        result = runner.invoke(args=[*args, "--again"])
        assert result.exit_code == 0, result.output
        assert open_client.balance(number) == 6.0
        record = json.loads((tmp_path / "ops.csv.progress.json").read_text())
        assert record["url"] == proxy.url
        assert runner.invoke(args=args).exit_code == 0
    finally:
        proxy.shutdown()
    assert open_client.balance(number) == 6.0


def test_a_batch_in_doubt_is_not_sent_again_near_the_end_of_the_idempotency_ttl(
    open_client: Api, tmp_path: Path
) -> None:
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "ATM_IDEMPOTENCY_TTL": "600"}
    runner = create_app(load_settings(settings)).test_cli_runner()
    number = open_client.open_account("0")
    path = tmp_path / "ops.csv"
    path.write_text("".join(f"{number},deposit,{i}\n" for i in range(1, 8)))
    record = tmp_path / "ops.csv.progress.json"
    proxy = Proxy(open_client.base_url, lose=2)
    args = ["batch", "submit", str(path), "--url", proxy.url, "--batch-size", "2"]

    def sent_ago(seconds: float) -> None:
        body = json.loads(record.read_text())
        body["in_doubt"][0]["sent_at"] = time.time() - seconds
        record.write_text(json.dumps(body))

    try:
        assert runner.invoke(args=args).exit_code == 4
        proxy.lose = 0
        # 400 s of 600: within the TTL, but not within its margin (300 s for 600).
        sent_ago(400)
        posts = proxy.counts["POST"]
        result = runner.invoke(args=args)
        assert result.exit_code == 4, result.output
        assert proxy.counts["POST"] == posts  # nothing sent
        assert "ATM_IDEMPOTENCY_TTL (here 600 s" in result.output
        assert "GET /batches/{batch_id}" in result.output
        assert "in GET /batches;" not in result.output
        assert "unknown: lines 3-4" in result.output
        assert "makes sending them again safe" not in result.output

        sent_ago(200)
        result = runner.invoke(args=args)
    finally:
        proxy.shutdown()
    assert result.exit_code == 0, result.output
    assert "(replayed: the API had accepted them before)" in result.output
    assert open_client.balance(number) == 28.0


GATEWAY_PAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@pytest.mark.parametrize(
    ("fake", "says", "left"),
    [
        ({("POST", 1): (202, "text/html", GATEWAY_PAGE)}, "202", "accepted: none of 7"),
        ({("POST", 2): (202, "text/html", GATEWAY_PAGE)}, "202", "unknown: lines 3-4"),
        ({("POST", 2): (502, "text/html", GATEWAY_PAGE)}, "502", "unknown: lines 3-4"),
        # Every line accepted, then not followed: --again now would send them all twice.
        ({("GET", 1): (200, "text/html", GATEWAY_PAGE)}, "reading batch", "command without"),
        ({("GET", 1): (200, "application/json", b'{"data": []}')}, "reading", "command without"),
    ],
    ids=["first-202-html", "202-html", "502-html", "200-html", "200-other-json"],
)
def test_an_answer_not_in_the_api_s_json_stops_with_the_report_and_exit_4(
    runner: FlaskCliRunner,
    open_client: Api,
    tmp_path: Path,
    fake: dict[tuple[str, int], Fake],
    says: str,
    left: str,
) -> None:
    number = open_client.open_account("0")
    path = tmp_path / "ops.csv"
    path.write_text("".join(f"{number},deposit,{i}\n" for i in range(1, 8)))
    proxy = Proxy(open_client.base_url, fake=fake)
    args = ["batch", "submit", str(path), "--url", proxy.url, "--batch-size", "2"]
    try:
        result = runner.invoke(args=args)
        assert result.exit_code == 4, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert says in result.output and left in result.output
        assert "cannot reach the API" not in result.output
        proxy.fake = {}
        result = runner.invoke(args=args)
    finally:
        proxy.shutdown()
    assert result.exit_code == 0, result.output
    assert open_client.balance(number) == 28.0


@pytest.mark.parametrize(("failing_save", "accepted"), [(3, "2 of 7"), (4, "4 of 7")])
def test_a_record_that_cannot_be_written_stops_with_the_report_and_exit_4(
    runner: FlaskCliRunner,
    open_client: Api,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failing_save: int,
    accepted: str,
) -> None:
    """The third save records lines 3-4 as in doubt before they are sent; the fourth, their
    acceptance."""
    number = open_client.open_account("0")
    path = tmp_path / "ops.csv"
    path.write_text("".join(f"{number},deposit,{i}\n" for i in range(1, 8)))
    args = ["batch", "submit", str(path), "--url", open_client.base_url, "--batch-size", "2"]
    real_write = os.replace
    calls = Counter[str]()

    def full_disk(source: str, target: str) -> None:
        calls["replace"] += 1
        if calls["replace"] == failing_save:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(source, target)

    monkeypatch.setattr("web.cli.batch.progress.os.replace", full_disk)
    result = runner.invoke(args=args)
    monkeypatch.undo()
    assert result.exit_code == 4, result.output
    assert "cannot write the progress record" in result.output
    assert "No space left on device" in result.output
    assert f"accepted: {accepted} operation(s)" in result.output
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert open_client.balance(number) == 28.0


def test_sigterm_stops_as_ctrl_c_does_with_the_report(open_client: Api, tmp_path: Path) -> None:
    number = open_client.open_account("0")
    path = tmp_path / "ops.csv"
    path.write_text("".join(f"{number},deposit,{i}\n" for i in range(1, 8)))
    proxy = Proxy(open_client.base_url)
    proxy.hold = 2  # lines 3-4 wait in the proxy: sent, no answer yet
    command = [sys.executable, "-m", "flask", "--app", "web", "batch", "submit", str(path)]
    command += ["--url", proxy.url, "--batch-size", "2"]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    submitter = start()
    try:
        assert proxy.held.wait(60), "the second batch never came"
        submitter.send_signal(signal.SIGTERM)
        out, err = (text.decode() for text in submitter.communicate(timeout=60))
        assert submitter.returncode == 4, out + err
        assert "terminated (SIGTERM)" in err
        assert "accepted: 2 of 7 operation(s), lines 1-2" in err
        assert "unknown: lines 3-4 were sent but no answer came" in err
        assert "Traceback" not in err

        proxy.release.set()  # lines 3-4 reach the API after all
        wait_until(lambda: open_client.balance(number) == 10.0, 30, "lines 1-4 applied")
        again = start()
        out, err = (text.decode() for text in again.communicate(timeout=60))
    finally:
        proxy.release.set()
        proxy.shutdown()
    assert again.returncode == 0, out + err
    assert "(replayed: the API had accepted them before)" in out
    assert open_client.balance(number) == 28.0


def test_a_second_submitter_on_the_same_record_is_refused(
    runner: FlaskCliRunner, open_client: Api, tmp_path: Path
) -> None:
    number = open_client.open_account("0")
    path = tmp_path / "ops.csv"
    path.write_text(f"{number},deposit,1\n")
    args = ["batch", "submit", str(path), "--url", open_client.base_url]
    with (tmp_path / "ops.csv.progress.json.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a submitter running now holds it
        result = runner.invoke(args=args)
    assert result.exit_code == 1, result.output
    assert "another submitter is using" in result.output
    assert "nothing was sent" in result.output
    assert open_client.balance(number) == 0.0
    assert runner.invoke(args=args).exit_code == 0
    assert open_client.balance(number) == 1.0


def test_the_content_recorded_is_the_content_sent_though_the_file_changes(
    runner: FlaskCliRunner, open_client: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = open_client.open_account("0")
    path = tmp_path / "ops.csv"
    path.write_text(f"{number},deposit,1\n")
    sent = path.read_bytes()
    real_read_bytes, real_read_text = Path.read_bytes, Path.read_text

    def then_rewritten(read):  # type: ignore[no-untyped-def]
        def reading(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
            content = read(self, *args, **kwargs)
            if self == path:  # another writer, just after this read
                real_write_text(path, f"{number},deposit,5\n")
            return content

        return reading

    real_write_text = Path.write_text
    monkeypatch.setattr(Path, "read_bytes", then_rewritten(real_read_bytes))
    monkeypatch.setattr(Path, "read_text", then_rewritten(real_read_text))
    args = ["batch", "submit", str(path), "--url", open_client.base_url]
    result = runner.invoke(args=args)
    monkeypatch.undo()
    assert result.exit_code == 0, result.output
    assert open_client.balance(number) == 1.0
    record = json.loads((tmp_path / "ops.csv.progress.json").read_text())
    assert record["content_sha256"] == hashlib.sha256(sent).hexdigest()
    # So the file as it is now, never sent, is not taken for the one sent.
    result = runner.invoke(args=args)
    assert result.exit_code == 1, result.output
    assert "has changed since" in result.output
