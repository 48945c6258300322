"""X-Request-ID: every response carries one, the client's own when it sent a usable one.

The id is kept for the request's lifetime (flask.g, per greenlet), added to every log line
written while handling it, and recorded with the jobs it creates, so the worker that
applies a job logs the same id.
"""

from __future__ import annotations

import logging
import re

import uuid_utils
from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
_USABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # used with fullmatch


def register_request_ids(app: Flask) -> None:
    """Register first, so that even a request refused by a later hook has its id."""

    @app.before_request
    def _assign_request_id() -> None:
        given = request.headers.get(HEADER, "")
        g.request_id = given if _USABLE.fullmatch(given) else uuid_utils.uuid7().hex

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers[HEADER] = current_request_id() or uuid_utils.uuid7().hex
        return response


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to log records written while a request is handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True
