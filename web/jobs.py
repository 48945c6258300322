"""The jobs resource: the status of one accepted operation, with optional long-poll."""

from __future__ import annotations

import time

from flask import Blueprint, Response

from shared.models import FINAL_STATUSES
from shared.operations import get_job
from web.parsing import parse_prefer
from web.responses import success
from web.serializers import job_view
from web.services import current_services

jobs = Blueprint("jobs", __name__)


@jobs.get("/jobs/<job_id>")
def get_job_status(job_id: str) -> Response:
    services = current_services()
    prefer = parse_prefer()
    wait_seconds = min(prefer.wait or 0.0, services.settings.max_wait_seconds)
    deadline = time.monotonic() + wait_seconds
    with services.listener.expect(job_id) as waiter:
        while True:
            with services.database.read.begin() as session:
                job = get_job(session, job_id)
            remaining = deadline - time.monotonic()
            if job.status in FINAL_STATUSES or remaining <= 0 or not waiter.wait(remaining):
                break
    headers = {"Preference-Applied": f"wait={wait_seconds:g}"} if prefer.wait is not None else {}
    return success(job_view(job), headers=headers)
