"""The jobs resource: the status of one accepted operation, with optional long-poll."""

from __future__ import annotations

from flask import Blueprint, Response

from shared.models import FINAL_STATUSES
from shared.operations import get_job
from web.responses import success
from web.serializers import job_view
from web.services import current_services
from web.waiting import read_until_final

jobs = Blueprint("jobs", __name__)


@jobs.get("/jobs/<job_id>")
def get_job_status(job_id: str) -> Response:
    job, headers = read_until_final(
        current_services(),
        job_id,
        lambda session: get_job(session, job_id),
        lambda job: job.status in FINAL_STATUSES,
    )
    return success(job_view(job), headers=headers)
