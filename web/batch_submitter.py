"""The batch submitter: a file of operations sent in batches; a re-run resumes, never repeats.

Each batch carries an Idempotency-Key made from the file's content, the submission and the
batch's lines, and the progress record beside the file (web/batch_progress.py) says which
lines were accepted (with their batch ids) and which were sent without an answer. A re-run
sends the latter again with their own keys and lines, so the API replays them if it had
accepted them, then only the lines not accepted yet, in batches of the size it is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
import requests
from rich.markup import escape
from urllib3.exceptions import NewConnectionError

from web.batch_files import FileOperation, read_operations
from web.batch_outcome import (
    Stopped,
    console,
    follow,
    refusal,
    results,
    summarize,
    write_results,
)
from web.batch_progress import (
    ProgressRecord,
    Sent,
    api_key_fingerprint,
    content_sha256,
    load_record,
    new_record,
)

EXIT_BAD_INPUT = 1  # nothing was sent: bad lines, a record of other content, or refused
EXIT_NOTHING_SENT = 2  # stopped (API unreachable, 5xx, Ctrl-C) before any line was accepted
EXIT_OPERATIONS_FAILED = 3  # with --fail-on-error: applied, and some operations failed
EXIT_PART_SENT = 4  # stopped after some lines were accepted or sent: run it again to finish


@dataclass(frozen=True)
class Options:
    file: Path
    url: str
    batch_size: int
    api_key: str | None
    again: bool
    progress: Path
    results: Path | None
    fail_on_error: bool
    max_cents: int
    idempotency_ttl_seconds: float


def submit_file(options: Options) -> int:
    """Validate, send what the progress record does not show as accepted, follow every
    batch of the file, summarize; the exit status."""
    operations, errors = read_operations(options.file, options.max_cents)
    if errors:
        for error in errors[:50]:
            line = f"[red]{options.file}:{error.line}[/red] {error.type}: {escape(error.message)}"
            console.print(line, soft_wrap=True)  # one line per error, for grep and editors
        more = " (first 50 shown)" if len(errors) > 50 else ""
        console.print(f"{len(errors)} bad line(s){more}; nothing was submitted.")
        return EXIT_BAD_INPUT
    if not operations:
        console.print("no operations in the file; nothing was submitted.")
        return EXIT_BAD_INPUT
    try:
        record = _record(options, content_sha256(options.file))
    except Stopped as stop:
        console.print(f"[red]{escape(stop.reason)}[/red]", soft_wrap=True)
        return EXIT_BAD_INPUT
    http = requests.Session()
    if options.api_key:
        http.headers["Authorization"] = f"Bearer {options.api_key}"
    started = time.perf_counter()
    try:
        sent_now = Sender(http, options, record).send_all(operations)
        batch_ids = [sent.batch_id or "" for sent in record.accepted]
        follow(http, options.url, batch_ids, len(operations), options.api_key)
        rows = [r for b in batch_ids for r in results(http, options.url, b, options.api_key)]
    except requests.RequestException as exc:
        reason = f"cannot reach the API at {options.url} ({exc.__class__.__name__}); is it running?"
        return _stopped(Stopped(reason), record, operations, options)
    except Stopped as stop:
        return _stopped(stop, record, operations, options)
    except KeyboardInterrupt:
        return _stopped(Stopped("interrupted (Ctrl-C)"), record, operations, options)
    summarize(rows, sent_now, time.perf_counter() - started)
    if options.results is not None:
        write_results(options.results, operations, rows)
        console.print(f"results written to {options.results}")
    failed = any(row["status"] != "succeeded" for row in rows)
    return EXIT_OPERATIONS_FAILED if options.fail_on_error and failed else 0


def _record(options: Options, content: str) -> ProgressRecord:
    """The record to go on with; a new one for a first submission or with --again."""
    try:
        found = load_record(options.progress)
    except ValueError as exc:
        raise Stopped(f"{exc}; nothing was sent (move it away, or pass --again)") from exc
    if found is None or options.again:
        if found is not None and (found.accepted or found.in_doubt):
            accepted = sum(sent.operations for sent in found.accepted)
            console.print(
                f"--again: {options.progress} recorded {accepted} operation(s) as accepted; "
                "every line of the file is sent again, as a new submission"
            )
        return new_record(options.progress, content, options.url, options.again)
    if found.content_sha256 != content:
        accepted = ", ".join(sent.lines() for sent in found.accepted) or "none"
        raise Stopped(
            f"{options.file} has changed since {options.progress} was written (it records "
            f"lines {accepted} of the earlier content as accepted); nothing was sent. To send "
            "the file as it is now, all of it, as a new submission, pass --again; to finish "
            "the earlier submission, put its content back."
        )
    if found.url.rstrip("/") != options.url.rstrip("/"):
        console.print(
            f"[yellow]{options.progress} was written for {found.url}; going on with "
            f"{options.url}[/yellow]"
        )
    return found


class Sender:
    """Sends the batches of one file, keeping its progress record up to date."""

    def __init__(self, http: requests.Session, options: Options, record: ProgressRecord) -> None:
        self.http = http
        self.options = options
        self.record = record
        self.key = api_key_fingerprint(options.api_key)

    def send_all(self, operations: list[FileOperation]) -> int:
        """Send what is in doubt, then what is not accepted yet; how many operations sent."""
        record = self.record
        accepted = record.accepted_lines()
        before = sum(1 for op in operations if op.line in accepted)
        if before:
            console.print(
                f"{record.path}: {before} of {len(operations)} operation(s) accepted before; "
                f"sending the other {len(operations) - before}",
                soft_wrap=True,
            )
        sent = 0
        for earlier in list(record.in_doubt):
            chunk = [op for op in operations if earlier.first_line <= op.line <= earlier.last_line]
            sent += self.resend(earlier, chunk)
        accepted = record.accepted_lines()  # now with the lines that were in doubt
        for chunk in _chunks(operations, accepted.__contains__, self.options.batch_size):
            key = record.idempotency_key(chunk[0].line, chunk[-1].line)
            batch = Sent(chunk[0].line, chunk[-1].line, len(chunk), key, time.time(), self.key)
            sent += self.send(batch, chunk, resent=False)
        return sent

    def resend(self, earlier: Sent, chunk: list[FileOperation]) -> int:
        """A batch sent before without an answer: again, with its own lines and key, by the
        same API key (the API keeps Idempotency-Keys per API key), within their retention."""
        lines = earlier.lines()
        if earlier.api_key != self.key:
            raise Stopped(
                f"lines {lines} were sent with another API key and no answer came; the API "
                "keeps Idempotency-Keys per API key, so only that key can send them again "
                "safely: run the command with it (--api-key or ATM_API_KEY)",
                refused=True,
            )
        age = time.time() - earlier.sent_at
        if age > self.options.idempotency_ttl_seconds:
            sent_at = datetime.fromtimestamp(earlier.sent_at, UTC).isoformat(timespec="seconds")
            raise Stopped(
                f"lines {lines} were sent at {sent_at} without an answer, longer ago than "
                f"ATM_IDEMPOTENCY_TTL ({self.options.idempotency_ttl_seconds:.0f} s): the API "
                "no longer keeps their Idempotency-Key, so sending them again could apply them "
                f"twice. Look for a batch of {earlier.operations} operations of that time in "
                f"GET /batches; then, in {self.record.path}, move the entry to 'accepted' with "
                "its batch_id if there is one, or delete it if there is none.",
                refused=True,
            )
        accepted = self.record.accepted_lines()
        if len(chunk) != earlier.operations or any(op.line in accepted for op in chunk):
            raise Stopped(f"{self.record.path} does not match the file at lines {lines}")
        console.print(f"sending lines {lines} again with their Idempotency-Key (no answer came)")
        return self.send(earlier, chunk, resent=True)

    def send(self, batch: Sent, chunk: list[FileOperation], *, resent: bool) -> int:
        """POST one batch: accepted (recorded with its id), or the submission stops."""
        self.record.sending(batch)
        try:
            response = self.http.post(
                f"{self.options.url}/batches",
                json={"operations": [op.to_json() for op in chunk]},
                headers={"Idempotency-Key": batch.idempotency_key},
                timeout=(10, 300),
            )
        except requests.RequestException as exc:
            if _never_sent(exc) and not resent:
                self.record.settled(batch, None)
            raise
        lines = batch.lines()
        if response.status_code == 202:
            batch_id = response.json()["data"]["batch_id"]
            self.record.settled(batch, batch_id)
            replayed = response.headers.get("Idempotent-Replayed") == "true"
            note = " (replayed: the API had accepted them before)" if replayed else ""
            click.echo(f"accepted lines {lines} ({len(chunk)} operations): batch {batch_id}{note}")
            return len(chunk)
        if response.status_code >= 500:  # it may have been applied before the error
            raise Stopped(f"the API answered {response.status_code} to lines {lines}")
        if not resent:  # refused: nothing of it was applied (a resent one stays in doubt)
            self.record.settled(batch, None)
        # 429: not now, rather than no; the same command again later may get through.
        what, refused = f"lines {lines}", response.status_code != 429
        raise Stopped(refusal(response, what, self.options.api_key), refused=refused)


def _chunks(
    operations: list[FileOperation], skip: Callable[[int], bool], size: int
) -> list[list[FileOperation]]:
    """The operations whose line `skip` refuses, in batches of up to `size`; each a run of
    the file with no skipped operation inside it, so that its line range says exactly
    what it holds."""
    chunks: list[list[FileOperation]] = [[]]
    for op in operations:
        if skip(op.line):
            if chunks[-1]:
                chunks.append([])
        else:
            if len(chunks[-1]) >= size:
                chunks.append([])
            chunks[-1].append(op)
    return [chunk for chunk in chunks if chunk]


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the API (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def _stopped(
    stop: Stopped, record: ProgressRecord, operations: list[FileOperation], options: Options
) -> int:
    """Say what was accepted, what is in doubt and what was not sent; the exit status."""
    console.print(f"[red]stopped:[/red] {escape(stop.reason)}", soft_wrap=True)

    accepted_lines, lines_in_doubt = record.accepted_lines(), record.lines_in_doubt()
    accepted = _spans(operations, accepted_lines.__contains__)
    doubtful = _spans(operations, lines_in_doubt.__contains__)
    sent = accepted_lines | lines_in_doubt
    unsent = _spans(operations, lambda line: line not in sent)
    if not accepted and not doubtful:
        console.print(f"nothing of {options.file} was accepted.")
        if stop.refused:
            return EXIT_BAD_INPUT
        console.print("Running the same command again is safe.")
        return EXIT_NOTHING_SENT
    console.print(
        f"accepted: {_count(accepted)} of {len(operations)} operation(s), "
        f"{_lines(accepted)}; their batch ids are printed above and kept in {record.path}",
        soft_wrap=True,
    )
    if doubtful:
        console.print(
            f"unknown: {_lines(doubtful)} were sent but no answer came; their Idempotency-Key "
            "makes sending them again safe (the API replays them if it had accepted them)",
            soft_wrap=True,
        )
    if unsent:
        console.print(f"not sent: {_count(unsent)} operation(s), {_lines(unsent)}")
    elif not doubtful:
        console.print("every line was accepted; what became of them could not be followed")
    console.print(
        "Running the same command again (with any --batch-size) is safe: lines already "
        "accepted are not sent again, and lines in doubt are sent again with the same "
        "Idempotency-Key.",
        soft_wrap=True,
    )
    return EXIT_PART_SENT


def _spans(
    operations: list[FileOperation], chosen: Callable[[int], bool]
) -> list[list[FileOperation]]:
    """Runs of consecutive operations whose line is `chosen`."""
    return _chunks(operations, lambda line: not chosen(line), len(operations))


def _count(spans: list[list[FileOperation]]) -> int:
    return sum(len(span) for span in spans)


def _lines(spans: list[list[FileOperation]]) -> str:
    return "lines " + ", ".join(
        f"{span[0].line}-{span[-1].line}" if len(span) > 1 else str(span[0].line) for span in spans
    )
