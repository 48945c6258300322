"""The jobs resource: the status of one accepted operation, with optional long-poll."""

from __future__ import annotations

from flask import Blueprint, Response

from shared.models import FINAL_STATUSES, Job
from shared.operations import get_job
from web.parsing import long_poll_seconds, parse_prefer
from web.responses import success
from web.serializers import job_view
from web.services import current_services
from web.waiting import long_poll

jobs = Blueprint("jobs", __name__)


@jobs.get("/jobs/<job_id>")
def get_job_status(job_id: str) -> Response:
    services = current_services()
    seconds, headers = long_poll_seconds(parse_prefer(), services.settings.max_wait_seconds)

    def read() -> Job:
        with services.database.read.begin() as session:
            return get_job(session, job_id)

    job = long_poll(
        services.listener, job_id, seconds, read, lambda job: job.status in FINAL_STATUSES
    )
    return success(job_view(job), headers=headers)
