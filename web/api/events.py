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
from web.serving.waiting import FEED_NOTICES, NotWaiting

events = Blueprint("events", __name__)
# How long a long-poll waits for a notice before it looks at the feed again.
LOOK_AGAIN_SECONDS = 1.0


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
    postgresql = services.database.engine.dialect.name == "postgresql"
    limited = [visible] if visible else []

    def look(after: str | None) -> tuple[list[dict[str, object]], str | None]:
        if postgresql:  # commits since the last look get their places in the feed
            services.writing(sequence)
        return services.reading(read_feed, after, query.limit, wanted, *limited)

    if not seconds:
        page, following = look(query.after)
        return success({"events": page, "next_after": following}, headers=headers)
    deadline = time.monotonic() + seconds
    # Registered before the first look, so a commit between a look and the wait still wakes it.
    with services.listener.expect(FEED_NOTICES) as waiter:
        page, following = look(query.after)
        while not page and not isinstance(waiter, NotWaiting):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # Woken by any apply's notice; without one (a hold's expiry publishes none), it
            # looks again after LOOK_AGAIN_SECONDS.
            waiter.wait(min(remaining, LOOK_AGAIN_SECONDS))
            page, following = look(following)
    return success({"events": page, "next_after": following}, headers=headers)
