"""The batch submitter CLI against the running stack: bad lines stop it, good files complete."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner

from shared.settings import load_settings
from tests.conftest import Api
from tests.stack import free_port
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
