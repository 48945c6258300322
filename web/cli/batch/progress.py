"""The batch submitter's progress record beside the file: what was accepted, what is in doubt.

The record makes a re-run resume instead of sending accepted lines again, whatever its
options; the Idempotency-Key of each batch (from the file's content, the submission and
the batch's lines) makes re-sending a batch whose answer was lost a replay, not a second
application. A batch is recorded as in doubt before it is sent and as accepted once the
API answers 202, each time by writing a temporary file and renaming it over the record.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

VERSION = 1


@dataclass(frozen=True)
class Sent:
    """A batch of the file's lines `first_line` to `last_line`, as it was (or is) sent."""

    first_line: int
    last_line: int
    operations: int
    idempotency_key: str
    sent_at: float  # Unix time of the (latest) sending
    api_key: str | None = None  # a fingerprint of the API key that sent it, never the key
    batch_id: str | None = None  # set once accepted

    def lines(self) -> str:
        return f"{self.first_line}-{self.last_line}"


@dataclass
class ProgressRecord:
    path: Path
    content_sha256: str
    url: str
    submission: str = ""  # "" for the first; a random token for each --again
    accepted: list[Sent] = field(default_factory=list)
    in_doubt: list[Sent] = field(default_factory=list)  # sent, no answer (yet)
    # The record an --again submission replaces. It stays on disk until a batch of the new
    # submission may have reached the API: an --again that sent nothing leaves it as it was.
    replaces: ProgressRecord | None = field(default=None, repr=False)

    def idempotency_key(self, first_line: int, last_line: int) -> str:
        seed = f"{self.content_sha256}\n{self.submission}\n{first_line}-{last_line}"
        return "atm-batch-file-" + hashlib.sha256(seed.encode()).hexdigest()

    def accepted_lines(self) -> set[int]:
        return {
            line for sent in self.accepted for line in range(sent.first_line, sent.last_line + 1)
        }

    def lines_in_doubt(self) -> set[int]:
        return {
            line for sent in self.in_doubt for line in range(sent.first_line, sent.last_line + 1)
        }

    def sending(self, sent: Sent) -> None:
        """Record `sent` as in doubt, before it goes out (unrecorded, it does not go)."""
        before = self.in_doubt
        self.in_doubt = [s for s in self.in_doubt if s.first_line != sent.first_line] + [sent]
        try:
            self.save()
        except BaseException:
            self.in_doubt = before
            raise

    def settled(self, sent: Sent, batch_id: str | None) -> None:
        """The API answered `sent`: accepted as `batch_id`, or refused (None)."""
        self.in_doubt = [s for s in self.in_doubt if s.first_line != sent.first_line]
        if batch_id is not None:
            accepted = Sent(**{**asdict(sent), "batch_id": batch_id})
            self.accepted = sorted([*self.accepted, accepted], key=lambda s: s.first_line)
        self.save()

    def save(self) -> None:
        if self.replaces is not None and not self.accepted and not self.in_doubt:
            self.replaces.save()
            return
        body = {
            "version": VERSION,
            "content_sha256": self.content_sha256,
            "url": self.url,
            "submission": self.submission,
            "accepted": [_compact(sent) for sent in self.accepted],
            "in_doubt": [_compact(sent) for sent in self.in_doubt],
        }
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with temporary.open("w", encoding="utf-8") as handle:
                json.dump(body, handle, indent=1)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())  # the rename must not outlive the content it names
            os.replace(temporary, self.path)
            _sync_directory(self.path.parent)  # and the rename must outlive a crash
        except OSError as exc:
            raise RecordWriteError(f"cannot write the progress record {self.path}: {exc}") from exc


class RecordWriteError(OSError):
    """The progress record could not be written (a full disk, a lost permission)."""


class RecordLockError(Exception):
    """Another submitter uses the record, or its lock file cannot be made."""


@contextmanager
def record_lock(path: Path) -> Iterator[None]:
    """Hold `<record>.lock` (the file stays) while one submitter uses the record at `path`:
    two at once would send the same lines."""
    lock = path.with_name(path.name + ".lock")
    try:
        handle = lock.open("a")
    except OSError as exc:
        raise RecordLockError(f"cannot make the lock {lock}: {exc}; nothing was sent") from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RecordLockError(
                f"another submitter is using {path} (it holds {lock}); nothing was sent. "
                "Wait for it to end, or stop it, then run the command again."
            ) from exc
        yield  # closing the file releases the lock


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _compact(sent: Sent) -> dict[str, object]:
    return {key: value for key, value in asdict(sent).items() if value is not None}


def content_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_path(file: Path) -> Path:
    return file.with_name(file.name + ".progress.json")


def load_record(path: Path) -> ProgressRecord | None:
    """The record at `path`, or None if there is none. Raises ValueError if unreadable."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the progress record {path}: {exc}") from exc
    try:
        if body["version"] != VERSION:
            raise ValueError(f"version {body['version']}")
        return ProgressRecord(
            path,
            body["content_sha256"],
            body["url"],
            body["submission"],
            [Sent(**sent) for sent in body["accepted"]],
            [Sent(**sent) for sent in body["in_doubt"]],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a progress record of this submitter ({exc})") from exc


def new_record(
    path: Path, content: str, url: str, again: bool, replaces: ProgressRecord | None = None
) -> ProgressRecord:
    """A record for a first submission, or (`again`) a new one with keys of its own, which
    takes the place of `replaces` once it has sent something."""
    token = secrets.token_hex(8) if again else ""
    return ProgressRecord(path, content, url, token, replaces=replaces)


def api_key_fingerprint(api_key: str | None) -> str | None:
    """Which API key sent a batch, without keeping anything that could stand in for it."""
    if not api_key:
        return None
    return hashlib.sha256(f"atm-batch-file-key\n{api_key}".encode()).hexdigest()[:16]
