"""The Flask API: `create_app()` builds it; gunicorn serves `web:create_app()`."""

from __future__ import annotations

import logging

from flask import Flask

from shared.config.settings import Settings, get_settings
from web.api.accounts import accounts
from web.api.api_keys import api_keys
from web.api.batches import batches
from web.api.console import console
from web.api.events import events
from web.api.health import health
from web.api.holds import holds
from web.api.jobs import jobs
from web.api.metrics import metrics, register_request_metrics
from web.api.openapi import docs, interactive_docs
from web.api.statements import statements
from web.api.transfers import transfers
from web.api.webhooks import webhooks
from web.cli.commands import register_commands
from web.http.auth import register_auth
from web.http.bodies import register_body_reading
from web.http.errors import register_error_handlers
from web.http.request_ids import RequestIdFilter, register_request_ids
from web.serving.services import init_services


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
        statements,
        holds,
        transfers,
        batches,
        jobs,
        events,
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
