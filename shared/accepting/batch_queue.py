"""How a batch waits: one queue row per partition it touches, each operation written once.

Accepting a batch writes its `batches` row and, for each partition its operations touch, one
*part*: a row of `jobs` of type `batch_part`, queued like any single job (so it takes its
place in the partition's acceptance order), that carries the partition's operations of the
batch as compact JSON in `details`, their count in `amount` and, in `batch_index`, how many
of them are applied so far. The applier reads a part where it meets it in the queue,
applies its next operations in array order, and in the same transaction writes their
outcomes as one row (`batch_outcomes`), with their ledger entries and balances, and moves
the part's cursor on (a part whose last operation is applied is marked succeeded and kept:
it holds what its operations were). So an operation is written once, at apply, and the
batch costs one row per touched partition at intake and one per part and transaction at
apply; shared.accepting.batch_operations reads them back as jobs.

Every operation has its job id from acceptance: the batch's id is a UUIDv7 whose low 16
bits are zero, and operation `i`'s job id is the same 128 bits with the version nibble set
to 8 (a UUIDv8, which no single job's id is) and `i` in the low 16 bits. So the id says
which batch and index it is, which is how its part (and its outcome) are found.
A part's own id (never shown) has version nibble 0.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import NamedTuple

import uuid_utils

from shared.store.native_lock import native_lock

MAX_OPERATIONS = 1 << 16  # an index must fit in the low 16 bits of the id
_LOW_BITS = MAX_OPERATIONS - 1
_VERSION_SHIFT = 76  # the version nibble of a UUID's 128 bits
_VERSION_MASK = 0xF << _VERSION_SHIFT
_OPERATION_VERSION = 8
_PART_VERSION = 0


class BatchOperation(NamedTuple):
    """One operation of a batch, as its part stores it (and in that order)."""

    index: int
    type: str
    account_number: str
    amount: int
    to_account: str | None
    reference: str | None
    metadata: str | None  # compact JSON text


def new_batch_id() -> str:
    """A time-ordered batch id with room for 65,536 operation ids beside it."""
    return str(uuid.UUID(int=uuid_utils.uuid7().int & ~_LOW_BITS))


def operation_job_id(batch_id: str, index: int) -> str:
    return operation_id_prefix(batch_id) + f"{index:04x}"


def operation_id_prefix(batch_id: str) -> str:
    """The first 32 characters of every operation id of the batch: its id with the version
    nibble (the 15th character) set to 8 and without the last four hex digits, which hold
    the index. Building ids from it costs a string join, not a UUID, per operation."""
    return batch_id[:14] + str(_OPERATION_VERSION) + batch_id[15:32]


def part_job_id(batch_id: str, partition: int) -> str:
    return _with_version(uuid.UUID(batch_id).int | partition, _PART_VERSION)


def batch_and_index(job_id: str) -> tuple[str, int] | None:
    """The batch and index an operation's job id names, or None for any other id."""
    try:
        value = uuid.UUID(job_id)
    except ValueError:
        return None
    # Only the canonical (lowercase, hyphenated) form: the stored ids are compared exactly.
    if value.version != _OPERATION_VERSION or str(value) != job_id:
        return None
    return _with_version(value.int & ~_LOW_BITS, 7), value.int & _LOW_BITS


def _with_version(value: int, version: int) -> str:
    return str(uuid.UUID(int=(value & ~_VERSION_MASK) | (version << _VERSION_SHIFT)))


def encode_part(operations: Iterable[BatchOperation]) -> str:
    """A part's operations as compact JSON: a list of BatchOperation field lists, in index
    order. Every string in it is a JSON string, so an unescaped `[<index>,"` occurs only
    where an operation starts (see find_operation)."""
    return _COMPACT.encode(list(operations))  # a NamedTuple is a JSON array, as a list is


def find_operation(details: str, index: int) -> BatchOperation | None:
    """The operation at `index` if this part holds it, decoding only that operation: a
    lookup of one job would otherwise parse a whole part (65,536 operations at most)."""
    start = details.find(f'[{index},"')
    if start < 0:
        return None
    row, _ = _DECODER.raw_decode(details, start)
    return BatchOperation(*row)


class DecodedParts:
    """The operations of recently read parts, decoded, by part id (bounded).

    A part is usually read several times: taken in several chunks (each partition gets a
    share), and paged through by its results. Its operations never change once accepted
    (only its cursor moves), and its id is never reused (it holds its batch's id), so a
    decoded copy stays right. Bounded by operations held, not parts, as one part may hold
    65,536.
    """

    def __init__(self, max_operations: int) -> None:
        self.max_operations = max_operations
        self.held = 0
        self.parts: OrderedDict[str, list[list]] = OrderedDict()
        # The web's database threads share it; a gevent lock could miss a wake-up there.
        self.lock = native_lock()

    def cached(self, part_id: str) -> list[list] | None:
        with self.lock:
            operations = self.parts.get(part_id)
            if operations is not None:
                self.parts.move_to_end(part_id)
            return operations

    def get(self, part_id: str, details: str) -> list[list]:
        """The part's operations as lists of BatchOperation's fields."""
        operations = self.cached(part_id)
        if operations is not None:
            return operations
        operations = json.loads(details)
        with self.lock:
            if part_id not in self.parts:
                self.parts[part_id] = operations
                self.held += len(operations)
            while self.held > self.max_operations and len(self.parts) > 1:
                _, dropped = self.parts.popitem(last=False)
                self.held -= len(dropped)
        return operations


decoded_parts = DecodedParts(max_operations=200_000)  # a process's; about 40 MB at most


_DECODER = json.JSONDecoder()
# One encoder for every part: json.dumps with separators of its own makes one a call, and a
# batch is encoded as a part per partition it touches.
# Lists made here hold no cycle: no set of the ids of the lists being encoded.
_COMPACT = json.JSONEncoder(separators=(",", ":"), check_circular=False)
