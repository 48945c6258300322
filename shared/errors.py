"""Domain errors: each carries the stable `type` clients branch on and the HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """A failure the API reports in its envelope; subclasses fix `type` and `status`."""

    type = "bad_request"
    status = 400
    # The connection cannot carry another request after this one (its body was not read
    # through), so the answer asks the client to close it.
    close_connection = False

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidAmount(DomainError):
    type = "invalid_amount"


class InvalidAccountNumber(DomainError):
    type = "invalid_account_number"


class InvalidJson(DomainError):
    type = "invalid_json"


class InvalidParameter(DomainError):
    type = "invalid_parameter"


class InvalidReference(DomainError):
    type = "invalid_reference"


class InvalidMetadata(DomainError):
    type = "invalid_metadata"


class MalformedBody(DomainError):
    """The body's framing (chunked encoding) is broken, so where it ends is unknown."""

    type = "malformed_body"
    close_connection = True


class RequestTimeout(DomainError):
    """The client took longer than the body read timeout to send its body."""

    type = "request_timeout"
    status = 408
    close_connection = True


class UnsupportedMediaType(DomainError):
    type = "unsupported_media_type"
    status = 415


class InsufficientFunds(DomainError):
    type = "insufficient_funds"


class AccountNotFound(DomainError):
    type = "account_not_found"
    status = 404


class AccountExists(DomainError):
    type = "account_exists"
    status = 409


class JobNotFound(DomainError):
    type = "job_not_found"
    status = 404


class ServiceUnavailable(DomainError):
    type = "service_unavailable"
    status = 503


class RevocationNotAnnounced(ServiceUnavailable):
    """A key revoked in the database whose revocation Redis failed to carry to the web
    processes after the commit: one that remembers the key may accept it until a later
    revocation is announced. Revoking it again announces it."""

    retry_after_seconds = 1


class LimitExceeded(DomainError):
    type = "limit_exceeded"


class InvalidTransfer(DomainError):
    type = "invalid_transfer"


class AccountFrozen(DomainError):
    type = "account_frozen"
    status = 409


class AccountClosed(DomainError):
    type = "account_closed"
    status = 409


class AccountNotEmpty(DomainError):
    type = "account_not_empty"
    status = 409


class HoldNotFound(DomainError):
    type = "hold_not_found"
    status = 404


class HoldNotActive(DomainError):
    type = "hold_not_active"
    status = 409


class NotReversible(DomainError):
    type = "not_reversible"
    status = 409


class AlreadyReversed(DomainError):
    type = "already_reversed"
    status = 409


class Unauthorized(DomainError):
    """No key, or one that is unknown or revoked."""

    type = "unauthorized"
    status = 401
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(DomainError):
    """A key without the scope or the account the request needs."""

    type = "forbidden"
    status = 403


class ApiKeyNotFound(DomainError):
    type = "api_key_not_found"
    status = 404


class RateLimited(DomainError):
    type = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


# Every error an applied job can end with: a waiting request answers with it.
ERRORS_BY_TYPE: dict[str, type[DomainError]] = {
    cls.type: cls
    for cls in (
        InsufficientFunds,
        AccountNotFound,
        InvalidAmount,
        LimitExceeded,
        AccountFrozen,
        AccountClosed,
        AccountNotEmpty,
        HoldNotFound,
        HoldNotActive,
        NotReversible,
        AlreadyReversed,
        JobNotFound,
    )
}


class InvalidBatch(DomainError):
    type = "invalid_batch"


class BatchAborted(DomainError):
    """An operation of an atomic batch that another of its operations failed: nothing of
    the batch was applied."""

    type = "batch_aborted"


class BatchNotFound(DomainError):
    type = "batch_not_found"
    status = 404


class InvalidOperation(DomainError):
    type = "invalid_operation"


class InvalidIdempotencyKey(DomainError):
    type = "invalid_idempotency_key"


class IdempotencyKeyReused(DomainError):
    type = "idempotency_key_reused"
    status = 422


class Overloaded(DomainError):
    """New work refused while the backlog or Redis memory is past its limit."""

    type = "overloaded"
    status = 503
    retry_after_seconds = 5


class InvalidWebhookUrl(DomainError):
    type = "invalid_webhook_url"


class WebhookNotFound(DomainError):
    type = "webhook_not_found"
    status = 404


# The errors a request check may give (each a 400 of the contract), by type: the request
# shapes carry them through pydantic and shared.shapes.validating turns each back into its
# class. Any other DomainError a check raises is not a validation error.
VALIDATION_ERRORS: dict[str, type[DomainError]] = {
    cls.type: cls
    for cls in (
        InvalidAccountNumber,
        InvalidAmount,
        InvalidBatch,
        InvalidJson,
        InvalidMetadata,
        InvalidOperation,
        InvalidParameter,
        InvalidReference,
        InvalidTransfer,
        InvalidWebhookUrl,
    )
}
