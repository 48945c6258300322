"""The batch submitter's sending: the batches of one file, each recorded before and after.

Each batch carries an Idempotency-Key made from the file's content, the submission and the
batch's lines, and the progress record (web/cli/batch/progress.py) says which lines were
accepted (with their batch ids) and which were sent without an answer. A re-run sends the
latter again with their own keys and lines, so the API replays them if it had accepted them,
then only the lines not accepted yet, in batches of the size it is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click
import httpx
from atm_client import Client
from atm_client.errors import ApiError, TransportError
from atm_client.requests import Call

from web.cli.batch.files import FileOperation
from web.cli.batch.outcome import Stopped, console, refusal, stopped_by, with_fields
from web.cli.batch.progress import ProgressRecord, Sent, api_key_fingerprint

if TYPE_CHECKING:
    from web.cli.batch.submitter import Options


class Sender:
    """Sends the batches of one file, keeping its progress record up to date."""

    def __init__(self, client: Client, options: Options, record: ProgressRecord) -> None:
        self.client = client
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
        for chunk in chunks(operations, accepted.__contains__, self.options.batch_size):
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
        ttl = self.options.idempotency_ttl_seconds
        if not may_resend(earlier.sent_at, time.time(), ttl):
            sent_at = datetime.fromtimestamp(earlier.sent_at, UTC).isoformat(timespec="seconds")
            record = self.record.path
            raise Stopped(
                f"lines {lines} ({earlier.operations} operations) were sent at {sent_at} without "
                f"an answer, more than {ttl - resend_margin_seconds(ttl):.0f} s ago: the API "
                f"keeps their Idempotency-Key for ATM_IDEMPOTENCY_TTL (here {ttl:.0f} s, which "
                "must be the API's setting), by its clock, from when it took them; this command "
                "sends them again only well within it, as sending them after could apply them "
                "twice. Whether the API took "
                "them shows in the transactions of their accounts since then (GET /accounts/"
                "{number}/transactions); the batches it accepted are in "
                f'{record} under "accepted", with their batch ids (GET /batches/{{batch_id}}). '
                f'If it did not take them, delete their entry from "in_doubt" in {record} and '
                "run the command again; if it did, what is left to send is the lines it lists "
                "neither as accepted nor as in doubt: send them as a file of their own.",
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
        lines = batch.lines()
        body = {"operations": [op.to_json() for op in chunk]}
        try:
            answer = self.client.answer(Call("POST", "/batches", body=body), batch.idempotency_key)
        except TransportError as exc:
            if _never_sent(exc) and not resent:
                self.record.settled(batch, None)
            raise
        except ApiError as error:
            what = f"lines {lines}"
            if 200 <= error.status < 300:  # not the API's JSON: in doubt, no batch id
                raise stopped_by(error, what, self.options.api_key) from error
            if not 400 <= error.status < 500:  # a 5xx (or an odd answer): maybe applied
                raise Stopped(f"the API answered {error.status} to {what}") from error
            if not resent:  # refused: nothing of it was applied (a resent one stays in doubt)
                self.record.settled(batch, None)
            # 429: not now, rather than no; the same command again later may get through.
            refusing = refusal(error, what, self.options.api_key)
            raise Stopped(refusing, refused=error.status != 429) from error
        if answer.status != 202:
            raise Stopped(f"the API answered {answer.status} to lines {lines}")
        batch_id = with_fields(answer, f"lines {lines}", ("batch_id",))["batch_id"]
        if not isinstance(batch_id, str):
            raise Stopped(f"the API answered lines {lines} without a batch id")
        replayed = answer.headers.get("idempotent-replayed") == "true"
        note = " (replayed: the API had accepted them before)" if replayed else ""
        click.echo(f"accepted lines {lines} ({len(chunk)} operations): batch {batch_id}{note}")
        self.record.settled(batch, batch_id)
        return len(chunk)


def chunks(
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


def resend_margin_seconds(ttl: float) -> float:
    """How long before ATM_IDEMPOTENCY_TTL is over a batch in doubt is no longer sent again.

    The API forgets a key TTL after it took the batch, by its clock; the record has the
    sending time by this machine's. The margin covers the two clocks' difference and the
    time a request takes: 10% of the TTL, at least 5 minutes, but at most half of the TTL,
    so that a short one (as in tests) still leaves time to send again.
    """
    return min(max(0.1 * ttl, 300.0), 0.5 * ttl)


def may_resend(sent_at: float, now: float, ttl: float) -> bool:
    """Whether a batch sent without an answer at `sent_at` (Unix time) may be sent again
    under its Idempotency-Key at `now`: the API must still keep that key."""
    return now - sent_at < ttl - resend_margin_seconds(ttl)


def _never_sent(exc: TransportError) -> bool:
    """True when the request cannot have reached the API (no connection was made)."""
    return isinstance(exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout)
