"""The batch submitter's second half: following accepted batches, their results, the summary."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from atm_client import Client
from atm_client.errors import ApiError, TransportError
from atm_client.requests import Answer, Call
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
NOT_THE_API = "http_error"  # the client's type for an answer not in the API's envelope


class Stopped(Exception):
    """The submission stopped before its end. `refused`: the API or the input said no, and
    sending the same again would get the same answer."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


def refusal(error: ApiError, what: str, api_key: str | None) -> str:
    """Why the API refused `what`, for people: its error type and message, and for 401 and
    403 which key to pass."""
    kind, message = error.type, error.message
    if kind == NOT_THE_API:
        kind, message = "", error.text[:500]
    if error.status == 401:
        if not api_key:
            return f"the API needs an API key for {what}: {API_KEY_HINT}"
        return f"the API refused the API key given (--api-key or ATM_API_KEY): {message}"
    if error.status == 403:
        return f"the API key may not do {what} ({message}); {API_KEY_HINT}"
    details = error.details
    more = "".join(f"\n  operation {d.get('index')}: {d.get('message')}" for d in details[:20])
    return f"the API refused {what} ({error.status} {kind}): {message}{more}"


def stopped_by(error: ApiError, what: str, api_key: str | None) -> Stopped:
    """The stop an error answer to `what` means: one not in the API's envelope says
    nothing; a refusal (other than 429, which is "not now") would be given again."""
    if error.type == NOT_THE_API:
        return Stopped(unexpected_answer(error.status, error.content_type, error.text, what))
    refused = error.status < 500 and error.status != 429
    return Stopped(refusal(error, what, api_key), refused=refused)


def with_fields(answer: Answer, what: str, fields: tuple[str, ...]) -> dict:
    """The data of an answer in the API's envelope, if it has `fields`; anything else (a
    proxy's answer, a cut body) stops the submission."""
    data = answer.data
    if not isinstance(data, dict) or any(field not in data for field in fields):
        kind = answer.headers.get("content-type", "")
        raise Stopped(unexpected_answer(answer.status, kind, json.dumps(data, default=str), what))
    return data


def unexpected_answer(status: int, content_type: str, text: str, what: str) -> str:
    kind = content_type or "no Content-Type"
    body = " ".join(text[:200].split())
    return f"the answer to {what} is not the API's JSON ({status}, {kind}): {body}"


def follow(client: Client, batch_ids: list[str], total: int, api_key: str | None) -> None:
    """Until every batch has completed, with a progress bar."""
    columns = (TextColumn("applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("applying", total=total)
        done_before = 0
        for batch_id in batch_ids:
            while True:
                what = f"reading batch {batch_id}"
                call = Call("GET", f"/batches/{batch_id}", headers={"Prefer": "wait=2"})
                data = with_fields(
                    _answer(client, call, what, api_key),
                    what,
                    ("status", "succeeded", "failed", "total"),
                )
                progress.update(task, completed=done_before + data["succeeded"] + data["failed"])
                if data["status"] == "completed":
                    done_before += data["total"]
                    break


def results(client: Client, batch_id: str, api_key: str | None) -> list[dict]:
    rows: list[dict] = []
    offset, page = 0, 10_000
    what = f"reading the results of batch {batch_id}"
    while True:
        params = {"offset": offset, "limit": page}
        call = Call("GET", f"/batches/{batch_id}/results", params=params)
        data = with_fields(_answer(client, call, what, api_key), what, ("results", "total"))
        if not all(isinstance(row, dict) and "status" in row for row in data["results"]):
            raise Stopped(unexpected_answer(200, "application/json", str(data)[:200], what))
        rows.extend(data["results"])
        offset += page
        if offset >= data["total"]:
            return rows


def _answer(client: Client, call: Call, what: str, api_key: str | None) -> Answer:
    try:
        return client.answer(call)
    except TransportError:
        raise
    except ApiError as error:
        raise stopped_by(error, what, api_key) from error


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
            for record in records:  # a balance as the JSON number the API answered
                handle.write(json.dumps(record, default=float) + "\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(records)
