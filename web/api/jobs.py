"""The jobs resource: the status of one accepted operation (with long-poll), the list of
them, and reversal."""

from __future__ import annotations

from flask import Blueprint, Response

from shared.accepting.job_list import JobFilter, list_jobs
from shared.accepting.operations import get_job
from shared.accepting.reversals import plan_reversal
from shared.access.reach import Owners
from shared.shapes.requests import JobsQuery
from shared.store.models import FINAL_STATUSES, REVERSAL
from shared.views import job_view
from web.http.auth import caller, operate, require_account, within_reach
from web.http.parsing import checked_query, json_object_body
from web.http.responses import success
from web.serving.services import current_services
from web.serving.submission import submit_job
from web.serving.waiting import notice_key, read_until_final

jobs = Blueprint("jobs", __name__)


@jobs.get("/jobs")
def list_recent_jobs() -> Response:
    """Jobs newest first, batch operations included. A key limited to some accounts names
    one of them, or sees the jobs it submitted."""
    services = current_services()
    query = checked_query(JobsQuery, services.settings)
    identity = caller()
    submitted_by, readable = None, None
    if identity is not None and identity.accounts is not None:
        if query.account is not None:
            require_account(query.account)
        else:
            submitted_by = identity.key_id

        def readable(accounts: tuple[str, ...], submitter: str | None) -> bool:
            return within_reach(identity, Owners(accounts, submitter))

    wanted = JobFilter(query.account, query.status, query.type, submitted_by)
    page = services.reading(
        list_jobs, query.limit, query.before, wanted, *([readable] if readable else [])
    )
    return success({"jobs": [job_view(job) for job in page.jobs], "next_before": page.next_before})


@jobs.get("/jobs/<job_id>")
def get_job_status(job_id: str) -> Response:
    job, headers = read_until_final(
        current_services(),
        notice_key(job_id),
        lambda session: get_job(session, job_id),
        lambda job: job.status in FINAL_STATUSES,
    )
    return success(job_view(job), headers=headers)


@jobs.post("/jobs/<job_id>/reverse")
@operate
def reverse_job(job_id: str) -> Response:
    """Undo a succeeded deposit, withdrawal, transfer or capture by moving its amount back."""
    body = json_object_body(allow_empty=True)
    plan = current_services().reading(plan_reversal, job_id)
    return submit_job(
        body,
        plan.account_number,
        REVERSAL,
        plan.amount,
        to_account=plan.other_account,
        target_id=job_id,
    )
