"""The events feed: every event in commit order, for readers that follow a cursor."""

from __future__ import annotations

from flask import Blueprint, Response

from shared.events.feed import sequence
from shared.events.feed_pages import EventFilter, read_feed
from shared.shapes.requests import EventsQuery
from web.http.auth import caller, require_account
from web.http.parsing import checked_query, long_poll_seconds, parse_prefer
from web.http.responses import success
from web.serving.services import current_services
from web.serving.waiting import FEED_NOTICES, long_poll

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
    cursor = [query.after]  # moved on past what each look examined and did not show

    def look() -> tuple[list[dict[str, object]], str | None]:
        if postgresql:  # commits since the last look get their places in the feed
            services.writing(sequence)
        found = services.reading(read_feed, cursor[0], query.limit, wanted, *limited)
        cursor[0] = found[1]
        return found

    if not seconds:  # no wait asked for: no waiter to register
        page, following = look()
    else:  # woken by any apply's notice, and without one (a hold's expiry publishes none)
        # it looks again after LOOK_AGAIN_SECONDS
        page, following = long_poll(
            services.listener, FEED_NOTICES, seconds, look, _found_any, LOOK_AGAIN_SECONDS
        )
    return success({"events": page, "next_after": following}, headers=headers)


def _found_any(found: tuple[list[dict[str, object]], str | None]) -> bool:
    return bool(found[0])
