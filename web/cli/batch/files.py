"""Reading operation files (CSV or JSON Lines) for the batch submitter, line by line."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from shared.accepting.batches import parse_operation
from shared.errors import DomainError
from shared.ledger.money import format_cents

FIELDS = ("account_number", "type", "amount")


@dataclass(frozen=True)
class FileOperation:
    line: int
    account_number: str
    type: str
    amount: str  # sent as a decimal string, exactly as validated
    reference: str | None = None  # JSON Lines files may carry these two
    metadata: str | None = None  # compact JSON text

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "account_number": self.account_number,
            "type": self.type,
            "amount": self.amount,
        }
        if self.reference is not None:
            body["reference"] = self.reference
        if self.metadata is not None:
            body["metadata"] = json.loads(self.metadata)
        return body


@dataclass(frozen=True)
class FileError:
    line: int
    type: str
    message: str


def parse_operations(
    path: Path, data: bytes, max_cents: int
) -> tuple[list[FileOperation], list[FileError]]:
    """Every operation of the file's content `data` and every line that is not one (with
    its line number); `path` names the file and tells its format by its suffix.

    CSV has the columns account_number,type,amount (a header line is optional); JSON Lines
    has one object with those keys per line. Blank lines are skipped. The content is given,
    not read here, so that what is sent is what the caller hashed.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [], [FileError(line, "invalid_encoding", f"not UTF-8: {exc.reason}")]
    operations: list[FileOperation] = []
    errors: list[FileError] = []
    for line, item in _items(path, text):
        if isinstance(item, FileError):
            errors.append(item)
            continue
        try:
            parsed = parse_operation(item, max_cents=max_cents)
        except DomainError as error:
            errors.append(FileError(line, error.type, error.message))
            continue
        operations.append(
            FileOperation(
                line,
                parsed.account_number,
                parsed.type,
                format_cents(parsed.amount),
                parsed.reference,
                parsed.metadata,
            )
        )
    return operations, errors


def _items(path: Path, text: str):  # type: ignore[no-untyped-def]
    if path.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
        for line, raw in enumerate(text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                yield line, json.loads(raw, parse_float=Decimal, parse_constant=Decimal)
            except ValueError as exc:
                yield line, FileError(line, "invalid_json", f"not a JSON object: {exc}")
        return
    for line, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or all(not cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if line == 1 and tuple(cells) == FIELDS:
            continue
        if len(cells) != len(FIELDS):
            yield line, FileError(line, "invalid_line", "expected account_number,type,amount")
            continue
        yield line, dict(zip(FIELDS, cells, strict=True))
