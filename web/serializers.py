"""Turning rows into the JSON shapes of the contract."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.applying import Outcome
from shared.batches import BatchProgress
from shared.models import FAILED, PROCESSING, QUEUED, SUCCEEDED, Job, LedgerEntry
from shared.money import to_json_number
from shared.references import metadata_value


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z; SQLite hands back naive datetimes that are UTC already."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def job_status_url(job_id: str) -> str:
    return f"/jobs/{job_id}"


def job_view(job: Job) -> dict[str, object]:
    return {
        "job_id": job.job_id,
        "type": job.type,
        "account_number": job.account_number,
        "amount": to_json_number(job.amount),
        "status": job.status,
        "result": {"new_balance": to_json_number(job.new_balance)}
        if job.status == SUCCEEDED and job.new_balance is not None
        else None,
        "error": {"type": job.error_type, "message": job.error_message} if job.error_type else None,
        "reference": job.reference,
        "metadata": metadata_value(job.metadata_json),
        "created_at": iso(job.created_at),
        "completed_at": iso(job.completed_at),
    }


def completed_operation_view(outcome: Outcome) -> dict[str, object]:
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
        "status": entry.status,
        "balance_after": to_json_number(entry.balance_after),
        "job_id": entry.job_id,
        "created_at": iso(entry.created_at),
    }
    if entry.reference is not None:
        view["reference"] = entry.reference
    if entry.metadata_json is not None:
        view["metadata"] = metadata_value(entry.metadata_json)
    return view


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
    if job.status == SUCCEEDED and job.new_balance is not None:
        view["new_balance"] = to_json_number(job.new_balance)
    elif job.error_type:
        view["error"] = {"type": job.error_type, "message": job.error_message}
    return view


def batch_status_url(batch_id: str) -> str:
    return f"/batches/{batch_id}"
