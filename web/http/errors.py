"""Every error becomes the envelope here: domain errors, HTTP errors, and the unexpected."""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from shared.errors import DomainError
from web.http.bodies import discard_unread_body
from web.http.responses import failure
from web.serving.services import current_services

log = logging.getLogger(__name__)

HTTP_ERROR_TYPES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)


def handle_domain_error(error: DomainError) -> Response:
    retry_after = getattr(error, "retry_after_seconds", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    headers.update(getattr(error, "headers", {}))
    if error.close_connection:
        headers["Connection"] = "close"
    return failure(error.type, error.message, error.status, extra=error.extra, headers=headers)


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
    if status == 413:
        discard_unread_body(request.environ, current_services().settings.body_timeout_seconds)
        headers["Connection"] = "close"
    message = error.description or error.name
    if status == 404:
        message = f"no such endpoint: {request.path}"
    elif status == 405:
        message = f"{request.method} is not allowed on {request.path}"
    return failure(
        HTTP_ERROR_TYPES.get(status, error.name.lower().replace(" ", "_")),
        message,
        status,
        headers=headers,
    )


def handle_unexpected(error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.path)
    return failure("internal_error", "the server failed to handle this request", 500)
