"""Which progress record a batch submission goes on with: the one found, or a new one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from web.cli.batch.outcome import Stopped, console
from web.cli.batch.progress import ProgressRecord, load_record, new_record

if TYPE_CHECKING:
    from web.cli.batch.submitter import Options


def choose_record(options: Options, content: str, lines: set[int]) -> ProgressRecord:
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
            return new_record(options.progress, content, options.url, again=True, replaces=found)
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
            return new_record(options.progress, content, options.url, again=True, replaces=found)
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
        return new_record(options.progress, content, options.url, again=True, replaces=found)
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
