"""The events feed: every event in commit order, for readers that follow a cursor."""

from __future__ import annotations

import time

from flask import Blueprint, Response

from shared.events.feed import sequence
from shared.events.feed_pages import EventFilter, read_feed
from shared.shapes.requests import EventsQuery
from web.http.auth import caller, require_account
from web.http.parsing import checked_query, long_poll_seconds, parse_prefer
from web.http.responses import success
from web.serving.services import current_services

events = Blueprint("events", __name__)
# How often a long-poll looks again for new events.
POLL_SECONDS = 0.1


@events.get("/events")
def list_events() -> Response:
    """Events after `after`, oldest first; `Prefer: wait=N` waits for at least one. A key
    limited to some accounts sees the events of its accounts and of the batches it
    submitted."""
    services = current_services()
    query = checked_query(EventsQuery, services.settings)
    identity = caller()
    visible = None
    if identity is not None and identity.accounts is not None:
        if query.account is not None:
            require_account(query.account)

        def visible(accounts: tuple[str, ...], submitted_by: str | None) -> bool:
            if accounts:
                return any(identity.may_use(number) for number in accounts)
            return submitted_by is not None and submitted_by == identity.key_id

    wanted = EventFilter(query.type, query.account)
    seconds, headers = long_poll_seconds(parse_prefer(), services.settings.max_wait_seconds)
    deadline = time.monotonic() + seconds
    after = query.after
    postgresql = services.database.engine.dialect.name == "postgresql"
    while True:
        if postgresql:  # commits since the last look get their places in the feed
            services.writing(sequence)
        page, following = services.reading(
            read_feed, after, query.limit, wanted, *([visible] if visible else [])
        )
        if page or time.monotonic() + POLL_SECONDS > deadline:
            break
        after = following  # past what it examined and did not show
        time.sleep(POLL_SECONDS)  # a greenlet's sleep in the server
    return success({"events": page, "next_after": following}, headers=headers)
