"""The batch submitter's second half: following accepted batches, their results, the summary."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import requests
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from web.cli.batch.files import FileOperation

console = Console(stderr=True)
API_KEY_HINT = "pass a key with the operate scope as --api-key SECRET or in ATM_API_KEY"

EXIT_BAD_INPUT = 1  # nothing was sent: bad lines, a record of other content, or refused
EXIT_NOTHING_SENT = 2  # stopped (API unreachable, 5xx, Ctrl-C) before any line was accepted
EXIT_OPERATIONS_FAILED = 3  # with --fail-on-error: applied, and some operations failed
EXIT_PART_SENT = 4  # stopped after some lines were accepted or sent: run it again to finish


class Stopped(Exception):
    """The submission stopped before its end. `refused`: the API or the input said no, and
    sending the same again would get the same answer."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


def refusal(response: requests.Response, what: str, api_key: str | None) -> str:
    """Why the API refused `what`, for people: its error type and message, and for 401 and
    403 which key to pass."""
    try:
        error = response.json()["error"]
        kind, message = error["type"], error["message"]
        details = error.get("details") or []
    except (ValueError, KeyError, TypeError):
        kind, message, details = "", response.text[:500], []
    if response.status_code == 401:
        if not api_key:
            return f"the API needs an API key for {what}: {API_KEY_HINT}"
        return f"the API refused the API key given (--api-key or ATM_API_KEY): {message}"
    if response.status_code == 403:
        return f"the API key may not do {what} ({message}); {API_KEY_HINT}"
    more = "".join(f"\n  operation {d.get('index')}: {d.get('message')}" for d in details[:20])
    return f"the API refused {what} ({response.status_code} {kind}): {message}{more}"


def api_data(
    response: requests.Response, what: str, api_key: str | None, fields: tuple[str, ...]
) -> dict:
    """The `data` of a 200 answer, with `fields`; anything else stops the submission."""
    if response.status_code != 200:
        refused = response.status_code < 500 and response.status_code != 429
        raise Stopped(refusal(response, what, api_key), refused=refused)
    data = answer_data(response, fields)
    if data is None:
        raise Stopped(unexpected_answer(response, what))
    return data


def answer_data(response: requests.Response, fields: tuple[str, ...]) -> dict | None:
    """The `data` of an answer in the API's envelope with `fields`, or None for anything
    else (a proxy's error page, a cut body)."""
    try:
        data = response.json()["data"]
    except (ValueError, KeyError, TypeError):  # requests' JSONDecodeError is a ValueError
        return None
    if not isinstance(data, dict) or any(field not in data for field in fields):
        return None
    return data


def unexpected_answer(response: requests.Response, what: str) -> str:
    kind = response.headers.get("Content-Type") or "no Content-Type"
    body = " ".join(response.text[:200].split())
    return f"the answer to {what} is not the API's JSON ({response.status_code}, {kind}): {body}"


def follow(
    http: requests.Session, url: str, batch_ids: list[str], total: int, api_key: str | None
) -> None:
    """Until every batch has completed, with a progress bar."""
    columns = (TextColumn("applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("applying", total=total)
        done_before = 0
        for batch_id in batch_ids:
            while True:
                response = http.get(
                    f"{url}/batches/{batch_id}", headers={"Prefer": "wait=2"}, timeout=60
                )
                fields = ("status", "succeeded", "failed", "total")
                data = api_data(response, f"reading batch {batch_id}", api_key, fields)
                progress.update(task, completed=done_before + data["succeeded"] + data["failed"])
                if data["status"] == "completed":
                    done_before += data["total"]
                    break


def results(http: requests.Session, url: str, batch_id: str, api_key: str | None) -> list[dict]:
    rows: list[dict] = []
    offset, page = 0, 10_000
    while True:
        response = http.get(
            f"{url}/batches/{batch_id}/results",
            params={"offset": offset, "limit": page},
            timeout=120,
        )
        what = f"reading the results of batch {batch_id}"
        data = api_data(response, what, api_key, ("results", "total"))
        if not all(isinstance(row, dict) and "status" in row for row in data["results"]):
            raise Stopped(unexpected_answer(response, what))
        rows.extend(data["results"])
        offset += page
        if offset >= data["total"]:
            return rows


def summarize(rows: list[dict], sent_now: int, elapsed: float) -> None:
    succeeded = sum(1 for row in rows if row["status"] == "succeeded")
    failures = Counter(row["error"]["type"] for row in rows if row["status"] == "failed")
    table = Table(title="batch submission")
    table.add_column("outcome")
    table.add_column("operations", justify="right")
    table.add_row("succeeded", str(succeeded))
    for error_type, count in failures.most_common():
        table.add_row(f"failed: {escape(error_type)}", str(count))
    table.add_row("total", str(len(rows)))
    if sent_now == len(rows):  # a run that resumed would count what it did not send
        table.add_row("throughput", f"{len(rows) / elapsed:,.0f} operations/s")
    Console().print(table)


def write_results(path: Path, operations: list[FileOperation], rows: list[dict]) -> None:
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
