"""GET /console: a page an operator leaves open, and GET /console/data, what it shows.

The page (web/api/console_assets, no CDN: it works offline) polls the data every two seconds:
health, each partition's owner and backlog, the most recent failed jobs, and the totals of
jobs applied and apply lag, from which it draws throughput and lag over the minutes it
has been open.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

from shared.accepting.operations import recent_failures
from shared.views import job_view
from web.api.health import health_checks
from web.http.auth import public, require_unlimited
from web.http.responses import success
from web.serving.services import current_services
from web.serving.state import partition_states, recorded_totals

ASSETS = Path(__file__).parent / "console_assets"
RECENT_FAILURES = 10

console = Blueprint("console", __name__)


@console.get("/console")
@public
def get_console() -> Response:
    return send_from_directory(ASSETS, "index.html")


@console.get("/console/<any('console.js', 'console.css'):asset>")
@public
def get_console_asset(asset: str) -> Response:
    return send_from_directory(ASSETS, asset)


@console.get("/console/data")
def get_console_data() -> Response:
    require_unlimited()  # every account's failures
    services = current_services()
    checks = health_checks(services)
    failures = services.reading(recent_failures, RECENT_FAILURES)
    return success(
        {
            "health": {"ok": all(check["ok"] for check in checks.values()), **checks},
            "partitions": [
                {"partition": s.partition, "owner": s.owner, "backlog": s.backlog}
                for s in partition_states(services)
            ],
            "totals": recorded_totals(),
            "recent_failures": [job_view(job) for job in failures],
        }
    )
