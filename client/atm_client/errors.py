"""The API's errors as exceptions: one class per error `type`, each carrying what the
envelope said (its message, the HTTP status, the job's id when a job failed, details)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer with `success: false`. `type` is the contract's stable error type; an
    answer not in the API's envelope at all (a proxy's error page) is `http_error`, with
    its `content_type` and the start of its `text`."""

    type = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_type: str | None = None,
        job_id: str | None = None,
        details: list[dict[str, Any]] | None = None,
        content_type: str = "",
        text: str = "",
    ) -> None:
        super().__init__(message)
        self.message, self.status, self.job_id = message, status, job_id
        self.details = details or []
        self.content_type, self.text = content_type, text
        if error_type is not None:
            self.type = error_type


class TransportError(ApiError):
    """No answer: the service could not be reached after every retry."""

    type = "transport_error"


def _error(name: str, error_type: str) -> type[ApiError]:
    return type(name, (ApiError,), {"type": error_type, "__doc__": f"`{error_type}`"})


# Every error type of the contract, by its name as a class.
_NAMES = {
    "BadRequest": "bad_request",
    "InvalidAmount": "invalid_amount",
    "InvalidAccountNumber": "invalid_account_number",
    "InvalidJson": "invalid_json",
    "InvalidParameter": "invalid_parameter",
    "InvalidReference": "invalid_reference",
    "InvalidMetadata": "invalid_metadata",
    "MalformedBody": "malformed_body",
    "RequestTimeout": "request_timeout",
    "UnsupportedMediaType": "unsupported_media_type",
    "InsufficientFunds": "insufficient_funds",
    "AccountNotFound": "account_not_found",
    "AccountExists": "account_exists",
    "JobNotFound": "job_not_found",
    "ServiceUnavailable": "service_unavailable",
    "LimitExceeded": "limit_exceeded",
    "InvalidTransfer": "invalid_transfer",
    "AccountFrozen": "account_frozen",
    "AccountClosed": "account_closed",
    "AccountNotEmpty": "account_not_empty",
    "HoldNotFound": "hold_not_found",
    "HoldNotActive": "hold_not_active",
    "NotReversible": "not_reversible",
    "AlreadyReversed": "already_reversed",
    "Unauthorized": "unauthorized",
    "Forbidden": "forbidden",
    "ApiKeyNotFound": "api_key_not_found",
    "RateLimited": "rate_limited",
    "InvalidBatch": "invalid_batch",
    "BatchAborted": "batch_aborted",
    "BatchNotFound": "batch_not_found",
    "InvalidOperation": "invalid_operation",
    "InvalidIdempotencyKey": "invalid_idempotency_key",
    "IdempotencyKeyReused": "idempotency_key_reused",
    "Overloaded": "overloaded",
    "InvalidWebhookUrl": "invalid_webhook_url",
    "WebhookNotFound": "webhook_not_found",
    "NotFound": "not_found",
    "MethodNotAllowed": "method_not_allowed",
    "PayloadTooLarge": "payload_too_large",
    "InternalError": "internal_error",
}
ERRORS: dict[str, type[ApiError]] = {}
for _name, _type in _NAMES.items():
    ERRORS[_type] = globals()[_name] = _error(_name, _type)


def error_from(status: int, body: Any, text: str = "", content_type: str = "") -> ApiError:
    """The exception for an error answer; an unknown type is an ApiError of that type."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ApiError(
            f"HTTP {status}",
            status=status,
            error_type="http_error",
            content_type=content_type,
            text=text[:500],
        )
    error_type = str(error.get("type", "error"))
    cls = ERRORS.get(error_type, ApiError)
    return cls(
        str(error.get("message", "")),
        status=status,
        error_type=error_type,
        job_id=error.get("job_id"),
        details=error.get("details"),
    )
