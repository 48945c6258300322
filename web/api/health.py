"""The health resource: database, Redis and live workers, each reported on its own."""

from __future__ import annotations

from flask import Blueprint, Response
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shared import messaging
from web.http.auth import public
from web.http.responses import failure, success
from web.serving.services import Services, current_services

health = Blueprint("health", __name__)


@health.get("/health")
@public
def get_health() -> Response:
    checks = health_checks(current_services())
    if all(check["ok"] for check in checks.values()):
        return success(checks)
    down = ", ".join(name for name, check in checks.items() if not check["ok"])
    return failure("unhealthy", f"not healthy: {down}", 503, data=checks)


def health_checks(services: Services) -> dict[str, dict[str, object]]:
    """The database, Redis and live workers, each checked on its own."""
    checks: dict[str, dict[str, object]] = {}
    try:
        services.reading(lambda session: session.execute(text("SELECT 1")))
        checks["database"] = {"ok": True}
    except SQLAlchemyError as exc:
        checks["database"] = {"ok": False, "detail": type(exc).__name__}
    try:
        services.redis.ping()
        checks["redis"] = {"ok": True}
        alive = messaging.live_workers(services.redis)
        checks["workers"] = {"ok": alive > 0, "alive": alive}
    except RedisError as exc:
        checks["redis"] = {"ok": False, "detail": type(exc).__name__}
        checks["workers"] = {"ok": False, "alive": None}
    return checks
