"""Every error becomes the envelope here: domain errors, HTTP errors, and the unexpected."""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from shared.errors import DomainError
from web.responses import failure

log = logging.getLogger(__name__)

HTTP_ERROR_TYPES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
# Reading at most this much of an oversized body lets the client finish sending and see
# the 413; a client sending more than this gets the connection closed instead.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)


def handle_domain_error(error: DomainError) -> Response:
    retry_after = getattr(error, "retry_after_seconds", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return failure(error.type, error.message, error.status, extra=error.extra, headers=headers)


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
    if status == 413:
        _discard_request_body()
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


def _discard_request_body() -> None:
    stream = request.environ.get("wsgi.input")
    remaining = min(request.content_length or DRAIN_LIMIT_BYTES, DRAIN_LIMIT_BYTES)
    try:
        while remaining > 0:
            chunk = stream.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)
    except (OSError, ValueError):
        pass
