"""What a round sends, read apart from the sending: each event's JSON body, the live webhooks."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.accepting.batch_operations import jobs_by_id
from shared.accepting.batches import batch_progress
from shared.store.models import BATCH_COMPLETED, HOLD_EXPIRED, Hold, Webhook
from shared.timestamps import iso
from shared.views import batch_view, hold_view, job_view
from worker.webhooks.due import Due


def live_webhooks(session: Session, ids: set[str]) -> dict[str, Webhook]:
    found = session.scalars(
        select(Webhook).where(Webhook.webhook_id.in_(ids), Webhook.deleted_at.is_(None))
    )
    return {webhook.webhook_id: webhook for webhook in found}


def event_bodies(session: Session, due: list[Due]) -> dict[str, bytes]:
    """Each delivery's JSON body: `{event_id, type, created_at, data}`, `data` being the
    view of the job, batch or hold the event is about."""
    subjects: dict[str, dict[str, object] | None] = {}
    jobs = {d.subject_id for d in due if d.type not in (BATCH_COMPLETED, HOLD_EXPIRED)}
    if jobs:
        for job in jobs_by_id(session, jobs).values():
            subjects[job.job_id] = job_view(job)
    holds = {d.subject_id for d in due if d.type == HOLD_EXPIRED}
    if holds:
        for hold in session.scalars(select(Hold).where(Hold.hold_id.in_(holds))):
            subjects[hold.hold_id] = hold_view(hold)
    for batch_id in {d.subject_id for d in due if d.type == BATCH_COMPLETED}:
        subjects[batch_id] = batch_view(batch_progress(session, batch_id))
    return {
        d.event_id: json.dumps(
            {
                "event_id": d.event_id,
                "type": d.type,
                "created_at": iso(d.created_at),
                "data": subjects.get(d.subject_id),
            },
            separators=(",", ":"),
        ).encode()
        for d in due
    }
