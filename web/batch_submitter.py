"""The batch submitter: a file of operations sent in batches; a re-run resumes, never repeats.

The sending is web/batch_sender.py, the progress record web/batch_progress.py, following
the batches and the summary web/batch_outcome.py, the report of a stop
web/batch_stop_report.py.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import requests
from rich.markup import escape

from web.batch_files import read_operations
from web.batch_outcome import (
    EXIT_BAD_INPUT,
    EXIT_OPERATIONS_FAILED,
    Stopped,
    console,
    follow,
    results,
    summarize,
    write_results,
)
from web.batch_progress import (
    ProgressRecord,
    RecordWriteError,
    content_sha256,
    load_record,
    new_record,
)
from web.batch_sender import Sender
from web.batch_stop_report import report_stopped

__all__ = ["EXIT_OPERATIONS_FAILED", "Options", "submit_file"]


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
        lines = {op.line for op in operations}
        record = _record(options, content_sha256(options.file), lines)
    except Stopped as stop:
        console.print(f"[red]{escape(stop.reason)}[/red]", soft_wrap=True)
        return EXIT_BAD_INPUT
    http = requests.Session()
    if options.api_key:
        http.headers["Authorization"] = f"Bearer {options.api_key}"
    started = time.perf_counter()
    try:
        with _sigterm_as_interrupt():
            sent_now = Sender(http, options, record).send_all(operations)
            batch_ids = [sent.batch_id or "" for sent in record.accepted]
            follow(http, options.url, batch_ids, len(operations), options.api_key)
            rows = [r for b in batch_ids for r in results(http, options.url, b, options.api_key)]
    except requests.RequestException as exc:
        reason = f"cannot reach the API at {options.url} ({exc.__class__.__name__}); is it running?"
        return report_stopped(Stopped(reason), record, operations, options)
    except RecordWriteError as exc:
        reason = (
            f"{exc}. It may list the last batch sent as in doubt although it was accepted: "
            "the next run sends it again under its Idempotency-Key, which the API replays."
        )
        return report_stopped(Stopped(reason), record, operations, options)
    except Stopped as stop:
        return report_stopped(stop, record, operations, options)
    except KeyboardInterrupt:
        return report_stopped(Stopped("interrupted (Ctrl-C)"), record, operations, options)
    except Terminated:
        return report_stopped(Stopped("terminated (SIGTERM)"), record, operations, options)
    summarize(rows, sent_now, time.perf_counter() - started)
    if options.results is not None:
        write_results(options.results, operations, rows)
        console.print(f"results written to {options.results}")
    failed = any(row["status"] != "succeeded" for row in rows)
    return EXIT_OPERATIONS_FAILED if options.fail_on_error and failed else 0


class Terminated(BaseException):
    """SIGTERM while sending or following: the submission stops as on Ctrl-C."""


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into Terminated, so that a stop by a supervisor or `kill` is reported."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _record(options: Options, content: str, lines: set[int]) -> ProgressRecord:
    """The record to go on with: the one found, unless there is none (a first submission)
    or --again is given for a file whose content changed or whose every line (`lines`) was
    accepted (a new submission). --again on an unfinished submission finishes it: it may
    be the very command that was stopped, and sending its lines under new keys would apply
    those it had sent twice."""
    try:
        found = load_record(options.progress)
    except ValueError as exc:
        raise Stopped(f"{exc}; nothing was sent (move it away to start afresh)") from exc
    if found is None:
        return new_record(options.progress, content, options.url, options.again)
    if found.content_sha256 != content:
        if options.again:
            return new_record(options.progress, content, options.url, again=True)
        accepted = ", ".join(sent.lines() for sent in found.accepted) or "none"
        raise Stopped(
            f"{options.file} has changed since {options.progress} was written (it records "
            f"lines {accepted} of the earlier content as accepted); nothing was sent. To send "
            "the file as it is now, all of it, as a new submission, pass --again; to finish "
            "the earlier submission, put its content back."
        )
    if found.url.rstrip("/") != options.url.rstrip("/"):
        if options.again:
            console.print(
                f"--again: {options.progress} was written for {found.url}; a new "
                f"submission to {options.url} replaces it",
                soft_wrap=True,
            )
            return new_record(options.progress, content, options.url, again=True)
        raise Stopped(
            f"{options.progress} was written for {found.url}, not {options.url}: the lines "
            f"it records as accepted were accepted there; nothing was sent. To finish that "
            f"submission, pass --url {found.url}; to send the file to {options.url} as a new "
            "submission, pass --again (or --progress with another record file). If both are "
            f'the same API under two addresses, set "url" in {options.progress} to the new one.'
        )
    finished = not found.in_doubt and lines <= found.accepted_lines()
    if options.again and finished:
        console.print(
            f"--again: {options.progress} records every line as accepted; every line of the "
            "file is sent again, as a new submission",
            soft_wrap=True,
        )
        return new_record(options.progress, content, options.url, again=True)
    if options.again:
        accepted = len(lines & found.accepted_lines())
        console.print(
            f"--again: {options.progress} holds a submission of this file that has not "
            f"finished ({accepted} of {len(lines)} operation(s) accepted); it is finished "
            "first, without sending any line twice. To send the file once more after that, "
            "run with --again again.",
            soft_wrap=True,
        )
    return found
