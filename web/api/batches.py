"""The batches resource: submit many operations at once, follow them, page their results."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy.orm import Session

from shared.accepting.batch_queue import new_batch_id
from shared.accepting.batches import (
    EVERYONE,
    batch_progress,
    batch_results,
    checked_batch,
    list_batches,
    prepare_batch,
    write_batch,
)
from shared.accepting.idempotency import StoredResponse
from shared.access.api_keys import ADMIN
from shared.shapes.requests import BatchesQuery, BatchResultsQuery
from shared.views import batch_result_view, batch_status_url, batch_view
from web.http.auth import caller, caller_id, operate, require_accounts
from web.http.idempotency import create_once, idempotency_claim, replayed
from web.http.parsing import checked_query, json_object_body
from web.http.request_ids import current_request_id
from web.http.responses import success
from web.serving.services import current_services
from web.serving.waiting import read_until_final

batches = Blueprint("batches", __name__)


@batches.post("/batches")
@operate
def create_batch() -> Response:
    services = current_services()
    settings = services.settings
    body = json_object_body()
    claim = idempotency_claim(body)
    batch_id = new_batch_id()
    operations, atomic = checked_batch(body, settings, settings.max_atomic_batch)
    require_accounts(operation.account_number for operation in operations)
    services.backpressure.admit(len(operations))
    # Worked out before the write transaction, which on SQLite holds the one write lock.
    rows = prepare_batch(
        batch_id,
        operations,
        settings.partitions,
        atomic=atomic,
        request_id=current_request_id(),
        submitted_by=caller_id(),
    )

    def create(session: Session) -> StoredResponse:
        write_batch(session, rows)
        url = batch_status_url(batch_id)
        data = {"batch_id": batch_id, "total": len(operations), "status_url": url}
        return StoredResponse(202, data, {"Location": url, "Retry-After": "1"})

    response, was_replayed = create_once(services, claim, create)
    if was_replayed:
        return replayed(response)
    services.intake.wake(rows.partitions)
    return success(response.data, status=response.status, headers=response.headers)


@batches.get("/batches")
def list_recent_batches() -> Response:
    """The newest batches first: every batch for an admin key (or with auth off), the
    batches it submitted for any other."""
    services = current_services()
    query = checked_query(BatchesQuery, services.settings)
    identity = caller()
    whose = EVERYONE if identity is None or identity.allows(ADMIN) else identity.key_id
    page, next_before = services.reading(list_batches, query.limit, query.before, whose)
    return success(
        {"batches": [batch_view(progress) for progress in page], "next_before": next_before}
    )


@batches.get("/batches/<batch_id>")
def get_batch(batch_id: str) -> Response:
    progress, headers = read_until_final(
        current_services(),
        batch_id,
        lambda session: batch_progress(session, batch_id),
        lambda progress: progress.completed,
    )
    return success(batch_view(progress), headers=headers)


@batches.get("/batches/<batch_id>/results")
def get_batch_results(batch_id: str) -> Response:
    services = current_services()
    query = checked_query(BatchResultsQuery, services.settings)
    offset, limit = query.offset, query.limit
    total, jobs = services.reading(batch_results, batch_id, offset, limit)
    results = [batch_result_view(job) for job in jobs]
    return success(
        {"batch_id": batch_id, "offset": offset, "limit": limit, "total": total, "results": results}
    )
