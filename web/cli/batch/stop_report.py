"""The batch submitter's report of a stopped submission: what was accepted, what is in doubt,
what was not sent; the exit status."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.markup import escape

from web.cli.batch.files import FileOperation
from web.cli.batch.outcome import (
    EXIT_BAD_INPUT,
    EXIT_NOTHING_SENT,
    EXIT_PART_SENT,
    Stopped,
    console,
)
from web.cli.batch.progress import ProgressRecord
from web.cli.batch.sender import chunks

if TYPE_CHECKING:
    from web.cli.batch.submitter import Options


def report_stopped(
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
    if accepted:
        console.print(
            f"accepted: {_count(accepted)} of {len(operations)} operation(s), "
            f"{_lines(accepted)}; their batch ids are printed above and kept in {record.path}",
            soft_wrap=True,
        )
    else:
        console.print(f"accepted: none of {len(operations)} operation(s)")
    if doubtful:
        safe = (  # unless the stop was a refusal to send them again
            "; their Idempotency-Key makes sending them again safe (the API replays them if "
            "it had accepted them)"
        )
        console.print(
            f"unknown: {_lines(doubtful)} were sent but no answer came"
            f"{'' if stop.refused else safe}",
            soft_wrap=True,
        )
    if unsent:
        console.print(f"not sent: {_count(unsent)} operation(s), {_lines(unsent)}")
    elif not doubtful:
        console.print("every line was accepted; what became of them could not be followed")
        console.print(
            "Running the same command without --again (with any --batch-size) follows them "
            "and shows their results; with --again it would send every line a second time.",
            soft_wrap=True,
        )
        return EXIT_PART_SENT
    console.print(
        "Running the same command again (with any --batch-size, with or without --again) "
        "is safe: it goes on with this submission; lines already accepted are not sent "
        "again, and lines in doubt are sent again only under their Idempotency-Key, while "
        "the API keeps it.",
        soft_wrap=True,
    )
    return EXIT_PART_SENT


def _spans(
    operations: list[FileOperation], chosen: Callable[[int], bool]
) -> list[list[FileOperation]]:
    """Runs of consecutive operations whose line is `chosen`."""
    return chunks(operations, lambda line: not chosen(line), len(operations))


def _count(spans: list[list[FileOperation]]) -> int:
    return sum(len(span) for span in spans)


def _lines(spans: list[list[FileOperation]]) -> str:
    return "lines " + ", ".join(
        f"{span[0].line}-{span[-1].line}" if len(span) > 1 else str(span[0].line) for span in spans
    )
