"""Turning rows into the JSON shapes of the contract: the API answers with them, and the
webhook sender sends them."""

from __future__ import annotations

import json

from shared.accepting.batches import BatchProgress
from shared.accepting.references import metadata_value
from shared.ledger.applying import Outcome
from shared.ledger.money import to_json_number
from shared.store.models import (
    CAPTURE,
    FAILED,
    HOLD,
    PROCESSING,
    QUEUED,
    REVERSAL,
    SUCCEEDED,
    TRANSFER,
    VOID,
    Hold,
    Job,
    LedgerEntry,
    entry_direction,
)
from shared.timestamps import iso


def with_tags(
    view: dict[str, object], reference: str | None, metadata_json: str | None
) -> dict[str, object]:
    """`view` with `reference` and `metadata`, each only when its operation carried it."""
    if reference is not None:
        view["reference"] = reference
    if metadata_json is not None:
        view["metadata"] = metadata_value(metadata_json)
    return view


def job_status_url(job_id: str) -> str:
    return f"/jobs/{job_id}"


def job_view(job: Job) -> dict[str, object]:
    """A job; transfers add `to_account`, holds and their captures and voids `hold_id`,
    reversals `reversed_job_id`, and a reversed job `reversed_by`."""
    view: dict[str, object] = {
        "job_id": job.job_id,
        "type": job.type,
        "account_number": job.account_number,
        "amount": to_json_number(job.amount),
        "status": job.status,
        "result": _job_result(job),
        "error": {"type": job.error_type, "message": job.error_message} if job.error_type else None,
        "reference": job.reference,
        "metadata": metadata_value(job.metadata_json),
        "submitted_by": job.submitted_by,
        "created_at": iso(job.created_at),
        "completed_at": iso(job.completed_at),
    }
    if job.type == TRANSFER:
        view["to_account"] = job.to_account
    elif job.type in (HOLD, CAPTURE, VOID):
        view["hold_id"] = job.target_id
    elif job.type == REVERSAL:
        view["reversed_job_id"] = job.target_id
    if job.reversed_by is not None:
        view["reversed_by"] = job.reversed_by
    return view


def _job_result(job: Job) -> dict[str, object] | None:
    if job.status != SUCCEEDED:
        return None
    if job.result is not None:
        return json.loads(job.result)
    if job.type == TRANSFER:
        return transfer_view(Outcome.from_job(job))
    return None if job.new_balance is None else {"new_balance": to_json_number(job.new_balance)}


def hold_view(hold: Hold) -> dict[str, object]:
    view: dict[str, object] = {
        "hold_id": hold.hold_id,
        "job_id": hold.job_id,
        "account_number": hold.account_number,
        "amount": to_json_number(hold.amount),
        "captured_amount": to_json_number(hold.captured_amount),
        "status": hold.status,
        "created_at": iso(hold.created_at),
        "expires_at": iso(hold.expires_at),
        "completed_at": iso(hold.completed_at),
    }
    return with_tags(view, hold.reference, hold.metadata_json)


def completed_operation_view(outcome: Outcome) -> dict[str, object]:
    """The 200 answer of an applied operation: recorded by the applier for the newer types,
    built from the outcome for withdraw and deposit."""
    if outcome.result is not None:
        return outcome.result
    if outcome.type == TRANSFER:
        return transfer_view(outcome)
    return {
        "account_number": outcome.account_number,
        "new_balance": to_json_number(outcome.new_balance or 0),
        "amount": to_json_number(outcome.amount),
        "type": outcome.type,
        "transaction_id": outcome.transaction_id,
        "job_id": outcome.job_id,
    }


def ledger_entry_view(entry: LedgerEntry) -> dict[str, object]:
    """An entry of the history; `reference` and `metadata` only when its operation had them."""
    view: dict[str, object] = {
        "transaction_id": entry.id,
        "type": entry.type,
        "amount": to_json_number(entry.amount),
        "direction": entry_direction(entry.type, entry.direction),
        "status": entry.status,
        "balance_after": to_json_number(entry.balance_after),
        "job_id": entry.job_id,
        "created_at": iso(entry.created_at),
    }
    return with_tags(view, entry.reference, entry.metadata_json)


def batch_view(progress: BatchProgress) -> dict[str, object]:
    return {
        "batch_id": progress.batch_id,
        "total": progress.total,
        "queued": progress.counts[QUEUED],
        "processing": progress.counts[PROCESSING],
        "succeeded": progress.counts[SUCCEEDED],
        "failed": progress.counts[FAILED],
        "status": "completed" if progress.completed else "pending",
        "created_at": iso(progress.created_at),
        "completed_at": iso(progress.completed_at),
        "atomic": progress.atomic,
    }


def batch_result_view(job: Job) -> dict[str, object]:
    view: dict[str, object] = {
        "index": job.batch_index,
        "job_id": job.job_id,
        "account_number": job.account_number,
        "type": job.type,
        "amount": to_json_number(job.amount),
        "status": job.status,
    }
    if job.to_account is not None and job.type == TRANSFER:
        view["to_account"] = job.to_account
    if job.status == SUCCEEDED and job.new_balance is not None:
        view["new_balance"] = to_json_number(job.new_balance)
        if job.to_balance is not None:
            view["to_balance"] = to_json_number(job.to_balance)
    elif job.error_type:
        view["error"] = {"type": job.error_type, "message": job.error_message}
    return view


def batch_status_url(batch_id: str) -> str:
    return f"/batches/{batch_id}"


def transfer_view(outcome: Outcome) -> dict[str, object]:
    """A succeeded transfer's answer (and its job's result)."""
    return {
        "job_id": outcome.job_id,
        "type": TRANSFER,
        "from_account": outcome.account_number,
        "to_account": outcome.to_account,
        "amount": to_json_number(outcome.amount),
        "from_balance": to_json_number(outcome.new_balance or 0),
        "to_balance": to_json_number(outcome.to_balance or 0),
        "new_balance": to_json_number(outcome.new_balance or 0),
        "transaction_id": outcome.transaction_id,
    }
