"""Applying a partition's queued operations: in order, exactly once, in one transaction.

The rules themselves are in `shared.ledger.rules` (and what they work on in
`shared.ledger.chunk`); this module reads what a chunk needs, runs the rules, and writes
back what they changed, all inside the caller's write transaction. Its second half is the
statements it runs, declared once beside the code that runs them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    CompoundSelect,
    bindparam,
    func,
    insert,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.orm import Session

from shared.accepting.batch_operations import encode_run, operations_by_id
from shared.events.outbox import record_events
from shared.ledger.chunk import (
    AccountState,
    Chunk,
    HoldState,
    Outcome,
    PartRun,
    QueuedJob,
    TargetJob,
)
from shared.ledger.fences import PartitionsMoved, moved
from shared.ledger.queue_reading import PartProgress, queued_work
from shared.ledger.rules import decide, decide_run, expire_due_holds
from shared.store.bulk import BulkStatement, KeyedRead, KeyedUpdate, SparseInsert, reserve_ids
from shared.store.models import (
    ACTIVE,
    CAPTURE,
    IS_ACTIVE,
    IS_QUEUED,
    REVERSAL,
    SUCCEEDED,
    UPDATE_ACCOUNT,
    VOID,
    Account,
    BatchOutcomes,
    Hold,
    Job,
    LedgerEntry,
    Partition,
    utcnow,
)
from shared.store.prepared import Prepared, padded
from shared.timestamps import as_utc, utc_day

__all__ = [
    "Applied",
    "Outcome",
    "PartRun",
    "QueuedJob",
    "apply_pending",
    "busy_partitions",
    "busy_queues",
    "chunk_holds",
    "has_pending",
    "locked_accounts",
    "new_chunk",
    "run_accounts",
    "write_batch_operations",
    "write_changes",
]

DUE_HOLDS_PER_CHUNK = 1000


@dataclass
class Applied:
    """What one apply transaction did: its single jobs' outcomes and its runs of batch
    operations (each with their outcomes), in the order applied, and how many webhook
    deliveries it recorded (the sender is woken only when there are some)."""

    steps: list[Outcome | PartRun] = field(default_factory=list)
    events: int = 0
    # Atomic batches a partition's queue waits for: to try once this transaction commits
    # (shared.ledger.atomic).
    barriers: list[str] = field(default_factory=list)

    @property
    def outcomes(self) -> list[Outcome]:
        return [step for step in self.steps if type(step) is Outcome]

    @property
    def runs(self) -> list[PartRun]:
        return [step for step in self.steps if type(step) is PartRun]

    @property
    def count(self) -> int:
        """How many operations it applied."""
        return sum(len(step.operations) if type(step) is PartRun else 1 for step in self.steps)

    def job_ids(self) -> list[str]:
        """The ids of the jobs it applied, in order."""
        return [
            job_id
            for step in self.steps
            for job_id in (step.job_ids if type(step) is PartRun else (step.job_id,))
        ]


def has_pending(session: Session, partitions: Sequence[int], now: datetime | None = None) -> bool:
    """Whether any of `partitions` has a queued job or a hold due to expire: a cheap read
    before taking the write lock."""
    return bool(busy_partitions(session, partitions, now))


def busy_partitions(
    session: Session, partitions: Sequence[int], now: datetime | None = None
) -> list[int]:
    """Those of `partitions` with a queued job or a hold due to expire, in order."""
    return list(busy_queues(session, partitions, now))


def busy_queues(
    session: Session, partitions: Sequence[int], now: datetime | None = None
) -> dict[int, tuple[int, ...]]:
    """Those of `partitions` with a queued job or a hold due to expire, in order, each with
    the row ids of its first two queued jobs (fewer if it has fewer; none with only a hold
    due): where a batch is spread over many partitions, its part is a partition's first
    row and what a chunk takes from it, and reading those rows by id for all partitions
    at once saves a statement per partition (shared.ledger.queue_reading).

    Its cost follows the work there is, not the partitions asked about: the queued jobs'
    index is walked one partition with work to the next, from the least of `partitions`
    to the greatest (a seek each, however many jobs one has; an owner's partitions are
    mostly one run, see worker.partitions.leases), and the due holds are a range of their
    own index, empty while none is due, read up to DUE_HOLDS_PER_CHUNK of them (the
    others are found once those are expired). So an owner of a thousand partitions with
    one job queued reads one partition's work, locks one partition row and writes one.
    """
    return _busy(session, partitions, now or utcnow())[0]


def _busy(
    session: Session, partitions: Sequence[int], now: datetime
) -> tuple[dict[int, tuple[int, ...]], bool]:
    """busy_queues, and whether a hold of those partitions was seen due (where none was,
    a chunk need not read the due holds: one that fell due since is found by the next)."""
    owned = set(partitions)
    if not owned:
        return {}, False
    parameters = {
        "now": now,
        "lowest": min(owned),
        "highest": max(owned),
        "due": DUE_HOLDS_PER_CHUNK,
    }
    heads: dict[int, tuple[int, ...]] = {}
    holds_due = False
    for partition, first, second in _BUSY_PARTITIONS.execute(session, parameters):
        if partition not in owned:
            continue
        if first is None:  # a row of the due holds' part
            holds_due = True
        if not heads.get(partition):
            heads[partition] = tuple(row_id for row_id in (first, second) if row_id is not None)
    return dict(sorted(heads.items())), holds_due


def apply_pending(
    session: Session,
    partitions: Sequence[int],
    limit: int,
    applied_by: str,
    fences: Mapping[int, int] | None = None,
) -> Applied:
    """Apply up to `limit` queued jobs of `partitions`, each partition's in acceptance order,
    and expire their holds that are due; record the webhook events that makes true.

    Runs inside the caller's write transaction. Only the partitions with work are worked on
    (busy_partitions): their rows are locked first, so two processes that both believe they
    own a partition still apply it one at a time; the others are neither locked nor read,
    nor their fences checked (a worker that lost one learns it when the partition has work
    for it, or at its next lease renewal). A job
    leaves `queued` in the same transaction that moves its money, so a redelivered or
    duplicated wake-up finds nothing left to apply. Each job succeeds or fails on its own.
    Several partitions of one owner share a transaction; an account belongs to one
    partition, so applying each partition in id order keeps every account's order.

    A transfer (or a reversal of one) also changes an account of another partition, which
    another worker may be applying at the same moment. Every account the chunk touches is
    therefore read with a row lock, all of them in one statement in account-number order:
    two appliers wait for each other instead of overwriting each other's balance, and as
    both lock in the same global order neither can hold a row the other has while waiting
    for one the other holds (no deadlock). On SQLite the write lock covers the whole
    database, so the row locks are not needed (nor rendered).

    A worker passes `fences`, each partition's epoch as it took it: a partition another
    worker has taken since raises PartitionsMoved before anything is read or written
    (shared.ledger.fences). Without them (tools, tests) nothing is checked.
    """
    heads, holds_due = _busy(session, partitions, utcnow())
    if not heads:
        return Applied()
    partitions = list(heads)
    parameters = {"partitions": padded(partitions), "applied_by": applied_by}
    epochs = _LOCK_PARTITIONS.execute(session, parameters)
    if fences is not None and (lost := moved(epochs, fences)):
        raise PartitionsMoved(lost)
    work, parts, barriers = queued_work(session, partitions, limit, heads)
    jobs = [item for item in work if type(item) is QueuedJob]
    runs = [item for item in work if type(item) is PartRun]
    holds = chunk_holds(session, partitions, jobs, utcnow(), due=holds_due)
    if not work and not holds:
        return Applied(barriers=barriers)
    targets = _targets(session, jobs)
    numbers = {job.account_number for job in jobs}
    numbers.update(job.to_account for job in jobs if job.to_account is not None)
    numbers.update(hold.account_number for hold in holds.values())
    numbers.update(run_accounts(runs))
    accounts, last_entry_at = locked_accounts(session, numbers)
    if any(job.type == UPDATE_ACCOUNT for job in jobs):
        _read_created_at(session, accounts)  # for the account view a PATCH answers with
    chunk = new_chunk(accounts, last_entry_at, holds, targets)
    expire_due_holds(chunk)
    steps: list[Outcome | PartRun] = []
    for item in work:  # in acceptance order
        if type(item) is PartRun:
            decide_run(item, chunk)
            steps.append(item)
        else:
            steps.append(decide(item, chunk))
    applied = Applied(steps, barriers=barriers)
    outcomes = applied.outcomes
    write_changes(session, chunk, jobs, outcomes, runs, applied_by)
    write_batch_operations(session, chunk, runs, parts, applied_by)
    applied.events = record_events(session, chunk, applied.steps)
    return applied


def run_accounts(runs: list[PartRun]) -> set[str]:
    """The accounts batch operations change: each one's account and transfer destination."""
    numbers = {operation[2] for run in runs for operation in run.operations}
    numbers.update(
        operation[4] for run in runs for operation in run.operations if operation[4] is not None
    )
    return numbers


def new_chunk(
    accounts: dict[str, AccountState],
    last_entry_at: datetime | None,
    holds: dict[str, HoldState],
    targets: dict[str, TargetJob],
) -> Chunk:
    """A chunk over the accounts read (and locked): its time is taken once they are
    locked, and never before an entry of one of them."""
    now = max(utcnow(), last_entry_at) if last_entry_at is not None else utcnow()
    return Chunk(now, utc_day(now), accounts, holds, targets)


def write_changes(
    session: Session,
    chunk: Chunk,
    jobs: list[QueuedJob],
    outcomes: list[Outcome],
    runs: list[PartRun],
    applied_by: str,
) -> None:
    """Write back what the chunk's rules changed."""
    entry_ids = reserve_ids(session, _ledger, len(chunk.entries))
    # Each job's first entry (a transfer's is its transfer_out) is its transaction_id: the
    # rules noted its position among the chunk's entries.
    for outcome in outcomes:
        if outcome.transaction_id is not None:
            outcome.transaction_id = entry_ids[outcome.transaction_id]
            if outcome.result is not None and "transaction_id" in outcome.result:
                outcome.result["transaction_id"] = outcome.transaction_id
    for run in runs:
        for item in run.outcomes:  # outcome_status inline: a failure's second field is its type
            if type(item[1]) is not str:  # [index, new_balance, position, …]
                item[2] = entry_ids[item[2]]
    _INSERT_ENTRIES.executemany(
        session, _linked(chunk, entry_ids), {"status": SUCCEEDED, "created_at": chunk.now}
    )
    changed = [a for a in chunk.accounts.values() if a.changed]
    _SET_ACCOUNT.executemany(
        session,
        [
            (a.number, a.balance, a.held, a.limit_day, a.withdrawn, a.last_entry_id, a.entry_count)
            for a in changed
        ],
        {"last_entry_at": chunk.now},
    )
    controls = [a for a in changed if a.controls_changed]
    _SET_CONTROLS.executemany(
        session, [(a.number, a.status, a.daily_limit, a.overdraft) for a in controls]
    )
    _write_holds(session, chunk)
    # Most jobs (withdrawals, deposits) have no to_balance or result to write, and a
    # transfer no result: a statement without the columns a row does not need is measurably
    # cheaper at thousands of rows a transaction.
    plain, transfers, full = [], [], []
    for job, o in zip(jobs, outcomes, strict=True):
        row = (job.id, o.status, o.new_balance, o.transaction_id, o.error_type, o.error_message)
        if o.result is not None:
            full.append((*row, json.dumps(o.result, separators=(",", ":"))))
        elif o.to_balance is not None:
            transfers.append((*row, o.to_balance))
        else:
            plain.append(row)
    finished = {"applied_by": applied_by, "completed_at": chunk.now}
    _FINISH_JOB.executemany(session, plain, finished)
    _FINISH_TRANSFER.executemany(session, transfers, finished)
    _FINISH_JOB_WITH_RESULT.executemany(session, full, finished)
    _mark_reversed(session, chunk)


def _linked(chunk: Chunk, entry_ids: list[int]) -> list[tuple]:
    """The chunk's entries as rows to insert: each with its id, and linked to its
    account's previous entry (the chain its account's row records, moved on here)."""
    accounts = chunk.accounts
    rows = []
    for entry, entry_id in zip(chunk.entries, entry_ids, strict=True):
        account = accounts[entry[0]]
        seq = account.entry_count + 1
        rows.append((entry_id, *entry, account.last_entry_id, seq))
        account.last_entry_id, account.entry_count, account.changed = entry_id, seq, True
    return rows


def write_batch_operations(
    session: Session,
    chunk: Chunk,
    runs: list[PartRun],
    parts: list[PartProgress],
    applied_by: str,
) -> None:
    """Write the outcomes of the batch operations applied, one row per part they came
    from, and move those parts on (a part whose last operation is applied is marked
    succeeded and kept): in the same transaction as their ledger entries, so each
    operation is applied and written exactly once."""
    if not parts:
        return
    _INSERT_RUNS.executemany(
        session,
        [(run.part, run.operations[0][0], encode_run(run.outcomes)) for run in runs],
        {"applied_by": applied_by, "completed_at": chunk.now},
    )
    _MOVE_PART.executemany(session, [(p.part, p.applied) for p in parts if not p.finished])
    _END_PART.executemany(session, [(p.part, p.applied) for p in parts if p.finished])


def _write_holds(session: Session, chunk: Chunk) -> None:
    new = [h for h in chunk.holds.values() if h.new]
    if new:
        session.execute(
            _INSERT_HOLD,
            [
                {
                    "hold_id": h.hold_id,
                    "job_id": h.job_id,
                    "account_number": h.account_number,
                    "partition": h.partition,
                    "amount": h.amount,
                    "captured_amount": h.captured_amount,
                    "status": h.status,
                    "limit_day": h.limit_day,
                    "reference": h.reference,
                    "metadata": h.metadata,
                    "created_at": h.created_at,
                    "expires_at": h.expires_at,
                    "completed_at": h.completed_at,
                    "overdraft_limit": h.overdraft_limit,
                }
                for h in new
            ],
        )
    ended = [h for h in chunk.holds.values() if h.changed and not h.new]
    if ended:
        session.execute(
            _END_HOLD,
            [
                {
                    "key": h.hold_id,
                    "status": h.status,
                    "captured_amount": h.captured_amount,
                    "completed_at": h.completed_at,
                }
                for h in ended
            ],
        )


def locked_accounts(
    session: Session, numbers: set[str]
) -> tuple[dict[str, AccountState], datetime | None]:
    """The accounts a chunk touches, locked in account-number order (see apply_pending),
    and the latest time any of them had a ledger entry (None: none is known)."""
    accounts: dict[str, AccountState] = {}
    if not numbers:
        return accounts, None
    latest = None
    for row in _ACCOUNTS.rows(session, sorted(numbers)):
        (number, balance, held, status, limit, day, withdrawn, overdraft, last_entry_at) = row[:9]
        last_entry_id, entry_count = row[9:]
        accounts[number] = AccountState(
            number,
            balance,
            held or 0,
            status or ACTIVE,
            limit,
            day,
            withdrawn or 0,
            overdraft or 0,
            last_entry_id,
            entry_count or 0,
        )
        # SQLite's are text of one fixed width (ordered as the times are), PostgreSQL's
        # datetimes: compared as read, converted once.
        if last_entry_at is not None and (latest is None or last_entry_at > latest):
            latest = last_entry_at
    if isinstance(latest, str):
        latest = datetime.fromisoformat(latest)
    return accounts, None if latest is None else as_utc(latest)


def _read_created_at(session: Session, accounts: dict[str, AccountState]) -> None:
    """Kept out of the main read: turning SQLite's text into datetimes costs more than the
    rest of an account's row, and only a PATCH's answer needs it."""
    for number, created_at in session.execute(_CREATED_AT, {"numbers": sorted(accounts)}):
        accounts[number].created_at = created_at


def chunk_holds(
    session: Session,
    partitions: list[int],
    jobs: list[QueuedJob],
    now: datetime,
    *,
    due: bool = True,
) -> dict[str, HoldState]:
    """The holds due to expire in these partitions (unless `due` is False: none was seen
    due just before), and those the chunk's captures and voids name."""
    named = {job.target_id for job in jobs if job.type in (CAPTURE, VOID) and job.target_id}
    rows: list = []
    if due:
        parameters = {"partitions": padded(partitions), "now": now, "limit": DUE_HOLDS_PER_CHUNK}
        rows = _DUE_HOLDS.execute(session, parameters)
    wanted = sorted(named - {row[0] for row in rows})
    if wanted:
        rows.extend(session.execute(_HOLDS_BY_ID, {"ids": wanted}))
    # In the order of _HOLD_COLUMNS.
    return {
        hold_id: HoldState(hold_id, *columns, as_utc(expires_at))
        for hold_id, *columns, expires_at in rows
    }


def _targets(session: Session, jobs: list[QueuedJob]) -> dict[str, TargetJob]:
    """The jobs the chunk's reversals name: their rows, or, for a batch operation without
    one, the job its part and outcome make (saved if reversed, see _mark_reversed)."""
    ids = sorted({job.target_id for job in jobs if job.type == REVERSAL and job.target_id})
    if not ids:
        return {}
    found = {row.job_id: TargetJob(*row) for row in session.execute(_TARGET_JOBS, {"ids": ids})}
    for job in operations_by_id(session, set(ids) - found.keys()).values():
        found[job.job_id] = TargetJob(
            job.job_id,
            job.type,
            job.status,
            job.account_number,
            job.to_account,
            job.amount,
            job.reversed_by,
            job,
        )
    return found


def _mark_reversed(session: Session, chunk: Chunk) -> None:
    """Name each job this chunk reversed in its row; a batch operation without a row of
    its own gets one now (until then its part and outcome held it)."""
    rows, saved = [], []
    for target_id, reversal_id in chunk.reversed.items():
        job = chunk.targets[target_id].unsaved
        if job is None:
            rows.append((target_id, reversal_id))
        else:
            job.reversed_by = reversal_id
            saved.append(job)
    if saved:
        session.add_all(saved)
        session.flush()
    _MARK_REVERSED.executemany(session, rows)


# Statements built once, with bound parameters (IN lists expand at execution), and executed
# with many parameter sets at once: building expressions or running the ORM's unit of work
# per call would cost more than the SQL itself at thousands of rows per second. Those that
# every apply runs once go to the driver (Prepared): a single withdrawal's apply is mostly
# such statements, and SQLAlchemy's execution of one costs several times its SQL.
_accounts_table, _jobs, _ledger = Account.__table__, Job.__table__, LedgerEntry.__table__
_hold_table = Hold.__table__
_PARTITIONS = bindparam("partitions", expanding=True)
_DUE = (
    _hold_table.c.partition.in_(_PARTITIONS),
    IS_ACTIVE,
    _hold_table.c.expires_at <= bindparam("now"),
)


def _busy_partitions_statement() -> CompoundSelect:
    """The partitions from :lowest to :highest with a queued job, and those of the first
    :due holds due (busy_partitions). The jobs' part is a loose index scan of
    `ix_jobs_queued` (partition, id): a recursive step finds the least partition above
    the last one found, one seek, until there is none or it passes :highest. The holds'
    part reads `ix_holds_due` in expiry order and stops at :due rows, so a backlog of due
    holds (after an outage) costs each look a bounded read, not all of them."""
    least = select(func.min(_jobs.c.partition).label("partition")).where(
        IS_QUEUED, _jobs.c.partition >= bindparam("lowest")
    )
    walk = least.cte("queued_partitions", recursive=True)
    above = (
        select(func.min(_jobs.c.partition))
        .where(IS_QUEUED, _jobs.c.partition > walk.c.partition)
        .scalar_subquery()
    )
    walk = walk.union_all(select(above).where(walk.c.partition < bindparam("highest")))
    due = (
        select(_hold_table.c.partition)
        .where(IS_ACTIVE, _hold_table.c.expires_at <= bindparam("now"))
        .order_by(_hold_table.c.expires_at)
        .limit(bindparam("due"))
        .subquery()
    )
    # Each partition's first two queued jobs: two more seeks of the same index.
    first = (
        select(func.min(_jobs.c.id))
        .where(IS_QUEUED, _jobs.c.partition == walk.c.partition)
        .scalar_subquery()
    )
    firsts = (
        select(walk.c.partition, first.label("first"))
        .where(walk.c.partition <= bindparam("highest"))
        .subquery()
    )
    second = (
        select(func.min(_jobs.c.id))
        .where(IS_QUEUED, _jobs.c.partition == firsts.c.partition, _jobs.c.id > firsts.c.first)
        .scalar_subquery()
    )
    queued = select(firsts.c.partition, firsts.c.first, second)
    return queued.union_all(select(due.c.partition, null(), null()))


# One round trip for both questions of busy_partitions.
_BUSY_PARTITIONS = Prepared(_busy_partitions_statement())
_HOLD_COLUMNS = (
    _hold_table.c.hold_id,
    _hold_table.c.job_id,
    _hold_table.c.account_number,
    _hold_table.c.partition,
    _hold_table.c.amount,
    _hold_table.c.captured_amount,
    _hold_table.c.status,
    _hold_table.c.limit_day,
    _hold_table.c.expires_at,
)
_DUE_HOLDS = Prepared(select(*_HOLD_COLUMNS).where(*_DUE).limit(bindparam("limit")))
_HOLDS_BY_ID = select(*_HOLD_COLUMNS).where(
    _hold_table.c.hold_id.in_(bindparam("ids", expanding=True))
)
_INSERT_HOLD = insert(_hold_table)
_END_HOLD = (
    update(_hold_table)
    .where(_hold_table.c.hold_id == bindparam("key"))
    .values(
        status=bindparam("status"),
        captured_amount=bindparam("captured_amount"),
        completed_at=bindparam("completed_at"),
    )
)
_TARGET_JOBS = select(
    _jobs.c.job_id,
    _jobs.c.type,
    _jobs.c.status,
    _jobs.c.account_number,
    _jobs.c.to_account,
    _jobs.c.amount,
    _jobs.c.reversed_by,
).where(_jobs.c.job_id.in_(bindparam("ids", expanding=True)))
# Locks the rows and reads their epochs in one statement (RETURNING: SQLite 3.35+).
_LOCK_PARTITIONS = Prepared(
    update(Partition.__table__)
    .where(Partition.__table__.c.id.in_(_PARTITIONS))
    .values(applied_by=bindparam("applied_by"))
    .returning(Partition.__table__.c.id, Partition.__table__.c.epoch)
)
# Locked in account-number order on PostgreSQL (see apply_pending).
_ACCOUNTS = KeyedRead(
    _accounts_table,
    "account_number",
    (
        "account_number",
        "balance",
        "held",
        "status",
        "daily_withdrawal_limit",
        "limit_day",
        "withdrawn_on_limit_day",
        "overdraft_limit",
        "last_entry_at",
        "last_entry_id",
        "entry_count",
    ),
    for_update=True,
)
_CREATED_AT = select(_accounts_table.c.account_number, _accounts_table.c.created_at).where(
    _accounts_table.c.account_number.in_(bindparam("numbers", expanding=True))
)
# Each account's balance and what counts against its limit (the names: the table's columns).
_SET_ACCOUNT = KeyedUpdate(
    _accounts_table,
    "account_number",
    (
        "balance",
        "held",
        "limit_day",
        "withdrawn_on_limit_day",
        "last_entry_id",
        "entry_count",
    ),
)
_SET_CONTROLS = BulkStatement(
    update(_accounts_table)
    .where(_accounts_table.c.account_number == bindparam("key"))
    .values(
        status=bindparam("status"),
        daily_withdrawal_limit=bindparam("limit"),
        overdraft_limit=bindparam("overdraft"),
    ),
    columns=("key", "status", "limit", "overdraft"),
)
_MARK_REVERSED = BulkStatement(
    update(_jobs).where(_jobs.c.job_id == bindparam("key")).values(reversed_by=bindparam("by")),
    columns=("key", "by"),
)
_FINISHED = ("status", "new_balance", "transaction_id", "error_type", "error_message")
_FINISH_JOB = KeyedUpdate(_jobs, "id", _FINISHED)
_FINISH_TRANSFER = KeyedUpdate(_jobs, "id", (*_FINISHED, "to_balance"))
_FINISH_JOB_WITH_RESULT = KeyedUpdate(_jobs, "id", (*_FINISHED, "result"))
_INSERT_RUNS = BulkStatement(
    insert(BatchOutcomes.__table__), columns=("part_id", "first_index", "outcomes")
)
_MOVE_PART = BulkStatement(
    update(_jobs).where(_jobs.c.id == bindparam("key")).values(batch_index=bindparam("applied")),
    columns=("key", "applied"),
)
_END_PART = BulkStatement(
    update(_jobs)
    .where(_jobs.c.id == bindparam("key"))
    .values(status=literal_column(f"'{SUCCEEDED}'"), batch_index=bindparam("applied")),
    columns=("key", "applied"),
)
_INSERT_ENTRIES = SparseInsert(
    _ledger,
    optional=("reference", "metadata", "direction", "overdraft_limit"),
    columns=(
        "id",
        "account_number",
        "job_id",
        "type",
        "amount",
        "balance_after",
        "reference",
        "metadata",
        "direction",
        "overdraft_limit",
        "prev_id",
        "seq",
    ),
)
