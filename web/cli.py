"""Command-line tools on the Flask CLI: `init-db` and `batch submit` (flask --app web ...)."""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import click
import requests
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.api_keys import (
    SCOPES,
    create_key,
    key_view,
    list_keys,
    parse_accounts,
    parse_name,
    parse_scopes,
    revoke_key,
)
from shared.audit import run_audit
from shared.db import init_database
from shared.errors import DomainError
from web.api_keys import revoke_everywhere
from web.batch_files import FileOperation, read_operations
from web.services import current_services

console = Console(stderr=True)
# The submitter's exit statuses, as the README lists them.
EXIT_BAD_INPUT = 1  # bad lines (nothing submitted), or the API refused a batch
EXIT_UNREACHABLE = 2  # the API could not be reached
EXIT_OPERATIONS_FAILED = 3  # with --fail-on-error: some operations failed


def default_api_url() -> str:
    """ATM_URL, else the local API on PORT (as `make run` starts it)."""
    return os.environ.get("ATM_URL") or f"http://127.0.0.1:{os.environ.get('PORT', '5000')}"


def register_commands(app: Flask) -> None:
    app.cli.add_command(init_db)
    app.cli.add_command(audit)
    app.cli.add_command(batch)
    app.cli.add_command(keys)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the tables, and the sample accounts on an empty database."""
    init_database(current_services().database)
    click.echo("database ready")


@click.command("audit")
@click.option(
    "--stale-after",
    type=float,
    default=None,
    help="Seconds a job may stay queued (default: ATM_RECOVERY_SECONDS).",
)
@with_appcontext
def audit(stale_after: float | None) -> None:
    """Check every balance against its ledger, every job's entries against its type, holds
    and limits against the accounts, and that no accepted job is stuck; exit 1 on any
    finding."""
    services = current_services()
    threshold = services.settings.recovery_seconds if stale_after is None else stale_after
    with services.database.read.begin() as session:
        report = run_audit(session, threshold)
    for finding in report.findings:
        click.echo(f"FINDING: {finding}")
    verdict = "clean" if report.clean else f"{len(report.findings)} finding(s)"
    click.echo(
        f"audit: {report.accounts} accounts, {report.ledger_entries} ledger entries, "
        f"{report.jobs} jobs, {report.holds} holds: {verdict}"
    )
    sys.exit(0 if report.clean else 1)


@click.group(cls=AppGroup)
def keys() -> None:
    """Create, list and revoke API keys (the same as POST/GET/DELETE /api-keys)."""


@keys.command("create")
@click.option("--name", required=True, help="What the key is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(SCOPES),
    help="read, operate or admin; repeat for several.",
)
@click.option("--account", "accounts", multiple=True, help="Limit the key to these accounts.")
@with_appcontext
def create_api_key(name: str, scopes: tuple[str, ...], accounts: tuple[str, ...]) -> None:
    """Create a key and print its secret, which is shown only this once."""
    try:
        chosen = parse_accounts(list(accounts) or None)
        parse_name(name)
    except DomainError as error:
        raise click.BadParameter(error.message) from error
    with current_services().database.writing() as session:
        created = create_key(session, name, parse_scopes(list(scopes)), chosen)
        view = key_view(created.record)
    click.echo(f"key_id: {view['key_id']}")
    click.echo(f"scopes: {' '.join(view['scopes'])}")  # type: ignore[arg-type]
    if chosen is not None:
        click.echo(f"accounts: {' '.join(chosen)}")
    click.echo(f"secret: {created.secret}")
    console.print("[yellow]Keep the secret now: it is stored only as a hash.[/yellow]")


@keys.command("list")
@with_appcontext
def list_api_keys() -> None:
    """Every key: id, prefix, name, scopes, accounts, and whether it is revoked."""
    with current_services().database.read.begin() as session:
        views = [key_view(key) for key in list_keys(session)]
    for view in views:
        state = "revoked" if view["revoked"] else "live"
        accounts = view["accounts"] or "any account"
        click.echo(
            f"{view['key_id']}  {view['prefix']}…  {state:<7}  {' '.join(view['scopes'])}  "  # type: ignore[arg-type]
            f"{view['name']}  ({accounts})"
        )


@keys.command("revoke")
@click.argument("key_id")
@with_appcontext
def revoke_api_key(key_id: str) -> None:
    """Revoke a key; every web process refuses it from its next request on."""
    services = current_services()

    def revoke() -> None:
        with services.database.writing() as session:
            revoke_key(session, key_id)

    try:
        revoke_everywhere(key_id, revoke)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"revoked {key_id}")


@click.group(cls=AppGroup)
def batch() -> None:
    """Submit operation files to a running API."""


@batch.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--url",
    default=default_api_url,
    show_default="ATM_URL, else http://127.0.0.1:$PORT",
    help="The API.",
)
@click.option("--batch-size", default=10_000, show_default=True, type=click.IntRange(1))
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write each operation's result here (.csv or .jsonl).",
)
@click.option(
    "--fail-on-error",
    is_flag=True,
    help=f"Exit {EXIT_OPERATIONS_FAILED} if any operation failed (insufficient funds, ...).",
)
@click.option(
    "--api-key",
    envvar="ATM_API_KEY",
    show_envvar=True,
    help="The secret of an API key with the operate scope (when the API needs keys).",
)
def submit(
    file: Path,
    url: str,
    batch_size: int,
    results: Path | None,
    fail_on_error: bool,
    api_key: str | None,
) -> None:
    """Validate FILE (CSV or JSON Lines of account_number,type,amount), submit it in
    batches, wait for every operation, and print a summary.

    Exit status: 0 when every operation was submitted and applied (whatever its outcome,
    unless --fail-on-error), 1 for bad lines (nothing is submitted) or a refused batch,
    2 when the API cannot be reached, 3 with --fail-on-error when any operation failed.
    """
    try:
        rows = _submit_all(file, url, batch_size, results, api_key)
    except requests.RequestException as exc:
        reason = exc.__class__.__name__
        console.print(f"[red]cannot reach the API at {url}[/red] ({reason}); is it running?")
        sys.exit(EXIT_UNREACHABLE)
    if fail_on_error and any(row["status"] != "succeeded" for row in rows):
        sys.exit(EXIT_OPERATIONS_FAILED)


def _submit_all(
    file: Path, url: str, batch_size: int, results: Path | None, api_key: str | None
) -> list[dict]:
    settings = current_services().settings
    operations, errors = read_operations(file, settings.max_amount_cents)
    if errors:
        for error in errors[:50]:
            line = f"[red]{file}:{error.line}[/red] {error.type}: {error.message}"
            console.print(line, soft_wrap=True)  # one line per error, for grep and editors
        more = " (first 50 shown)" if len(errors) > 50 else ""
        console.print(f"{len(errors)} bad line(s){more}; nothing was submitted.")
        sys.exit(EXIT_BAD_INPUT)
    if not operations:
        console.print("no operations in the file; nothing was submitted.")
        sys.exit(EXIT_BAD_INPUT)
    http = requests.Session()
    if api_key:
        http.headers["Authorization"] = f"Bearer {api_key}"
    started = time.perf_counter()
    chunks = [operations[i : i + batch_size] for i in range(0, len(operations), batch_size)]
    batch_ids = [_post_batch(http, url, chunk) for chunk in chunks]
    _follow(http, url, batch_ids, len(operations))
    elapsed = time.perf_counter() - started
    rows = [row for batch_id in batch_ids for row in _results(http, url, batch_id)]
    _summarize(rows, elapsed)
    if results is not None:
        _write_results(results, operations, rows)
        console.print(f"results written to {results}")
    return rows


def _post_batch(http: requests.Session, url: str, chunk: list[FileOperation]) -> str:
    response = http.post(
        f"{url}/batches", json={"operations": [op.to_json() for op in chunk]}, timeout=300
    )
    if response.status_code != 202:
        console.print(f"[red]batch refused ({response.status_code}):[/red] {response.text[:2000]}")
        sys.exit(EXIT_BAD_INPUT)
    return response.json()["data"]["batch_id"]


def _follow(http: requests.Session, url: str, batch_ids: list[str], total: int) -> None:
    columns = (TextColumn("applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("applying", total=total)
        done_before = 0
        for batch_id in batch_ids:
            while True:
                data = http.get(
                    f"{url}/batches/{batch_id}", headers={"Prefer": "wait=2"}, timeout=60
                ).json()["data"]
                progress.update(task, completed=done_before + data["succeeded"] + data["failed"])
                if data["status"] == "completed":
                    done_before += data["total"]
                    break


def _results(http: requests.Session, url: str, batch_id: str) -> list[dict]:
    rows: list[dict] = []
    offset, page = 0, 10_000
    while True:
        data = http.get(
            f"{url}/batches/{batch_id}/results",
            params={"offset": offset, "limit": page},
            timeout=120,
        ).json()["data"]
        rows.extend(data["results"])
        offset += page
        if offset >= data["total"]:
            return rows


def _summarize(rows: list[dict], elapsed: float) -> None:
    succeeded = sum(1 for row in rows if row["status"] == "succeeded")
    failures = Counter(row["error"]["type"] for row in rows if row["status"] == "failed")
    table = Table(title="batch submission")
    table.add_column("outcome")
    table.add_column("operations", justify="right")
    table.add_row("succeeded", str(succeeded))
    for error_type, count in failures.most_common():
        table.add_row(f"failed: {error_type}", str(count))
    table.add_row("total", str(len(rows)))
    table.add_row("throughput", f"{len(rows) / elapsed:,.0f} operations/s")
    Console().print(table)


def _write_results(path: Path, operations: list[FileOperation], rows: list[dict]) -> None:
    fields = ("line", "account_number", "type", "amount", "status", "new_balance", "error_type")
    records = [
        {
            "line": op.line,
            "account_number": op.account_number,
            "type": op.type,
            "amount": op.amount,
            "status": row["status"],
            "new_balance": row.get("new_balance"),
            "error_type": (row.get("error") or {}).get("type"),
        }
        for op, row in zip(operations, rows, strict=True)
    ]
    with path.open("w", encoding="utf-8", newline="") as handle:
        if path.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
            for record in records:
                handle.write(json.dumps(record) + "\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(records)
