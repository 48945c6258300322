"""The batch submitter: a file of operations sent in batches; a re-run resumes, never repeats.

The progress record is web/cli/batch/progress.py, which record a run goes on with
web/cli/batch/record_choice.py, the sending web/cli/batch/sender.py, following the batches and the
summary web/cli/batch/outcome.py, the report of a stop web/cli/batch/stop_report.py.
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

import httpx
from atm_client import Client
from atm_client.errors import TransportError
from rich.markup import escape

from web.cli.batch.files import FileOperation, parse_operations
from web.cli.batch.outcome import (
    EXIT_BAD_INPUT,
    EXIT_OPERATIONS_FAILED,
    Stopped,
    console,
    follow,
    results,
    summarize,
    write_results,
)
from web.cli.batch.progress import (
    ProgressRecord,
    RecordLockError,
    RecordWriteError,
    content_sha256,
    record_lock,
)
from web.cli.batch.record_choice import choose_record
from web.cli.batch.sender import Sender
from web.cli.batch.stop_report import report_stopped

__all__ = ["EXIT_OPERATIONS_FAILED", "Options", "submit_file"]
# A batch of 10,000 is read, checked and recorded in one request; a connection, quickly.
TIMEOUT = httpx.Timeout(300.0, connect=10.0)


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
    data = options.file.read_bytes()  # one read, both parsed and hashed
    operations, errors = parse_operations(options.file, data, options.max_cents)
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
        with record_lock(options.progress):
            lines = {op.line for op in operations}
            record = choose_record(options, content_sha256(data), lines)
            return _submit(options, record, operations)
    except (RecordLockError, Stopped) as refused:  # only from the lock and the choice
        console.print(f"[red]{escape(str(refused))}[/red]", soft_wrap=True)
        return EXIT_BAD_INPUT


def _submit(options: Options, record: ProgressRecord, operations: list[FileOperation]) -> int:
    """Send, follow and summarize; any stop ends in the stop report."""
    # The submitter sends a batch in doubt again itself, under its key, on the next run.
    client = Client(options.url, options.api_key, timeout=TIMEOUT, retries=0)
    started = time.perf_counter()
    try:
        with client, _sigterm_as_interrupt():
            sent_now = Sender(client, options, record).send_all(operations)
            batch_ids = [sent.batch_id or "" for sent in record.accepted]
            follow(client, batch_ids, len(operations), options.api_key)
            rows = [r for b in batch_ids for r in results(client, b, options.api_key)]
    except TransportError as exc:
        cause = type(exc.__cause__ or exc).__name__
        reason = f"cannot reach the API at {options.url} ({cause}); is it running?"
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
