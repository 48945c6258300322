"""Submitting a withdraw or deposit: record it, wake its partition, wait or answer 202."""

from __future__ import annotations

import time

from flask import Response

from shared.applying import Outcome
from shared.errors import ERRORS_BY_TYPE
from shared.models import FINAL_STATUSES, SUCCEEDED
from shared.money import parse_amount
from shared.operations import Operation, get_job, new_job_id
from web.parsing import Preferences, json_object_body, parse_prefer
from web.responses import success
from web.serializers import completed_operation_view, job_status_url
from web.services import Services, current_services
from web.waiting import Waiter

RETRY_AFTER_SECONDS = "1"


def submit_operation(account_number: str, op_type: str) -> Response:
    services = current_services()
    settings = services.settings
    body = json_object_body()
    amount = parse_amount(body.get("amount"), max_cents=settings.max_amount_cents)
    prefer = parse_prefer()
    wait_seconds, applied = wait_budget(
        prefer, settings.sync_wait_seconds, settings.max_wait_seconds
    )

    # Listen before the job exists: once committed, any drain of its partition (another
    # request's wake-up, the periodic sweep) may apply it before this request wakes anyone.
    operation = Operation(new_job_id(), account_number, op_type, amount)
    job_id = operation.job_id
    with services.listener.expect(job_id) as waiter:
        if not services.intake.record(operation):
            wait_seconds = 0  # recorded, but no worker was told: answer 202 at once
        outcome = wait_for_outcome(services, waiter, job_id, wait_seconds)

    if outcome is None:
        return accepted(job_id, applied)
    if outcome.status != SUCCEEDED:
        error = ERRORS_BY_TYPE[outcome.error_type or ""]
        raise error(outcome.error_message or outcome.error_type or "failed", job_id=job_id)
    headers = {"Preference-Applied": applied} if applied else {}
    return success(completed_operation_view(outcome), headers=headers)


def wait_budget(prefer: Preferences, default: float, maximum: float) -> tuple[float, str | None]:
    """How long to wait, and the Preference-Applied value that says what was honoured."""
    if prefer.respond_async:
        return 0.0, "respond-async"
    if prefer.wait is not None:
        seconds = min(prefer.wait, maximum)
        return seconds, f"wait={seconds:g}"
    return default, None


def wait_for_outcome(
    services: Services, waiter: Waiter, job_id: str, seconds: float
) -> Outcome | None:
    """The job's outcome once final, or None when `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if not waiter.wait(remaining):
            return None
        if waiter.outcome is not None:
            return waiter.outcome
        # Woken after a lost subscription: the database says whether we missed it.
        with services.database.read.begin() as session:
            job = get_job(session, job_id)
            if job.status in FINAL_STATUSES:
                return Outcome.from_job(job)
    return None


def accepted(job_id: str, applied: str | None) -> Response:
    url = job_status_url(job_id)
    headers = {"Location": url, "Retry-After": RETRY_AFTER_SECONDS}
    if applied:
        headers["Preference-Applied"] = applied
    return success(
        {"job_id": job_id, "status": "queued", "status_url": url}, status=202, headers=headers
    )
