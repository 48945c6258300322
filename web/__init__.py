"""The Flask API: `create_app()` builds it; gunicorn serves `web:create_app()`."""

from __future__ import annotations

import logging

from flask import Flask

from shared.settings import Settings, get_settings
from web.accounts import accounts
from web.api_keys import api_keys
from web.auth import register_auth
from web.batches import batches
from web.bodies import register_body_reading
from web.cli import register_commands
from web.console import console
from web.errors import register_error_handlers
from web.health import health
from web.holds import holds
from web.jobs import jobs
from web.metrics import metrics, register_request_metrics
from web.openapi import docs, interactive_docs
from web.request_ids import RequestIdFilter, register_request_ids
from web.services import init_services
from web.transfers import transfers
from web.webhooks import webhooks


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    services = init_services(app, settings)
    register_error_handlers(app)
    register_request_ids(app)  # first of the hooks: every answer carries an id
    register_request_metrics(app)
    register_body_reading(app, settings.max_body_bytes, settings.body_timeout_seconds)
    register_auth(app, services.keys, settings.auth_required, settings.rate_limit, services.reading)
    tag_log_lines_with_request_ids()
    for blueprint in (
        accounts,
        holds,
        transfers,
        batches,
        jobs,
        health,
        docs,
        interactive_docs,
        metrics,
        console,
        api_keys,
        webhooks,
    ):
        app.register_blueprint(blueprint)
    register_commands(app)
    return app


def tag_log_lines_with_request_ids() -> None:
    """Log lines written while a request is handled carry its id (on the root handlers,
    which every logger's records reach)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
