"""The request bodies and query strings of the API, in the order their fields are checked.

The first field in declaration order that fails gives the request's error, as the checks
did when each view made them one after the other; so fields are listed in that order. An
operation's reference and metadata (TagsBody) are checked last, once the API key is known
to be allowed to act on the account (web/serving/submission.py): an operation's body is
its own shape and TagsBody together.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import Field, ValidationInfo, field_validator, model_validator

from shared.accepting.references import is_reference
from shared.access.api_keys import SCOPES, parse_accounts, parse_name, parse_scopes
from shared.errors import InvalidBatch, InvalidParameter
from shared.events.feed import parse_event_id
from shared.events.targets import resolve
from shared.events.webhooks import parse_events, parse_secret
from shared.ledger.accounts import MAX_HISTORY_PAGE, is_account_number, validate_account_number
from shared.shapes.checking import (
    Checked,
    Counted,
    Shape,
    choice,
    limits_of,
    query_int,
    query_moment,
    rule_error,
)
from shared.shapes.fields import (
    ACCOUNT_NUMBER,
    DEFAULT_HOLD_SECONDS,
    REFERENCE,
    WEBHOOK_URL,
    AccountNumber,
    Amount,
    CaptureAmount,
    DailyLimit,
    ExpiresIn,
    Metadata,
    NewAccountNumber,
    OpeningAmount,
    OverdraftLimit,
    Reference,
    nullable,
)
from shared.store.models import (
    ACCOUNT_STATUSES,
    BATCH_TYPES,
    EVENT_TYPES,
    JOB_STATUSES,
    JOB_TYPES,
    LEDGER_TYPES,
    TRANSFER,
)

MAX_RESULTS_PAGE = 10_000
MAX_DELIVERIES_PAGE = 1000


class TagsBody(Shape):
    """What any operation may carry (all a void or a reversal carries)."""

    reference: Reference = None
    metadata: Metadata = None


class AmountBody(Shape):
    """A withdrawal or a deposit (the seed's endpoints)."""

    amount: Amount


class HoldBody(Shape):
    amount: Amount
    expires_in: ExpiresIn = DEFAULT_HOLD_SECONDS


class CaptureBody(Shape):
    amount: CaptureAmount = None


class TransferBody(Shape):
    from_account: AccountNumber
    to_account: AccountNumber
    amount: Amount

    @field_validator("to_account", mode="after")
    @classmethod
    def _two_accounts(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("from_account"):
            raise rule_error(
                "invalid_transfer", "from_account and to_account must be different accounts"
            )
        return value


class NewAccountBody(Shape):
    account_number: NewAccountNumber = None
    initial_balance: OpeningAmount = 0
    daily_withdrawal_limit: DailyLimit = None
    overdraft_limit: OverdraftLimit = 0


class AccountChangesBody(Shape):
    """PATCH /accounts/{n}: only the fields given change."""

    status: Annotated[str | None, choice(ACCOUNT_STATUSES, "invalid_parameter")] = None
    daily_withdrawal_limit: DailyLimit = None
    overdraft_limit: OverdraftLimit = 0  # only a value given is applied (exclude_unset)

    model_config = {"json_schema_extra": {"additionalProperties": False}}

    @model_validator(mode="before")
    @classmethod
    def _known_fields_only(cls, data: object) -> object:
        unknown = sorted(set(data) - set(cls.model_fields)) if isinstance(data, dict) else []
        if unknown:
            raise rule_error("invalid_parameter", f"unknown field(s): {', '.join(unknown)}")
        return data


def _to_account(value: object, info: ValidationInfo) -> str | None:
    """A transfer's destination: another account; ignored on other operations."""
    if info.data.get("type") != TRANSFER:
        return None
    number = validate_account_number(value)
    if number == info.data.get("account_number"):
        raise rule_error("invalid_transfer", "a transfer needs two different accounts")
    return number


# Also each line of a batch file (web/cli/batch/files.py).
class BatchItem(Shape):
    """One operation of a batch."""

    not_an_object: ClassVar[tuple[str, str]] = (
        "invalid_operation",
        "each operation must be an object",
    )

    account_number: AccountNumber
    type: Annotated[str, choice(BATCH_TYPES, "invalid_operation")]
    to_account: Annotated[
        str | None,
        Checked(_to_account, {**ACCOUNT_NUMBER, "description": "a transfer's destination"}),
    ] = Field(None, validate_default=True)
    amount: Amount
    reference: Reference = None
    metadata: Metadata = None


class BatchBody(Shape):
    operations: Annotated[
        list[BatchItem],
        Counted("invalid_batch", lambda limits: limits.max_batch, "batch"),
    ]
    # An atomic batch's size is checked against ATM_MAX_ATOMIC_BATCH by
    # shared.accepting.batches.checked_batch.
    atomic: Annotated[
        bool,
        Checked(lambda value, info: _atomic_flag(value), {"type": "boolean"}),
        Field(
            description="true: all operations are applied in one transaction, or none "
            "(at most ATM_MAX_ATOMIC_BATCH of them)"
        ),
    ] = False


def _atomic_flag(value: object) -> bool:
    """JSON true or false only: a money API does not read "yes" or 1 as all-or-nothing."""
    if type(value) is not bool:
        raise InvalidBatch("atomic must be true or false")
    return value


class NewApiKeyBody(Shape):
    name: Annotated[
        str,
        Checked(
            lambda value, info: parse_name(value),
            {"type": "string", "minLength": 1, "maxLength": 128},
        ),
    ]
    scopes: Annotated[
        list[str],
        Checked(
            lambda value, info: parse_scopes(value),
            {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "enum": list(SCOPES)},
            },
        ),
    ]
    accounts: Annotated[
        list[str] | None,
        Checked(
            lambda value, info: parse_accounts(value),
            nullable({"type": "array", "minItems": 1, "items": ACCOUNT_NUMBER}),
        ),
    ] = None


def _webhook_url(value: object, info: ValidationInfo) -> str:
    """Resolved here, with the other fields' checks, so that a URL whose host is private or
    unknown is still the request's first error (every address it has must be public)."""
    resolve(value, allow_private=limits_of(info).webhook_allow_private)  # type: ignore[arg-type]
    return str(value)


class NewWebhookBody(Shape):
    url: Annotated[str, Checked(_webhook_url, WEBHOOK_URL)]
    events: Annotated[
        list[str],
        Checked(
            lambda value, info: parse_events(value),
            {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "enum": list(EVENT_TYPES)},
            },
        ),
    ]
    # A new random one when left out.
    secret: Annotated[
        str,
        Checked(
            lambda value, info: parse_secret(value),
            {"type": "string", "minLength": 16, "maxLength": 128},
        ),
    ] = Field(None, validate_default=True)


class TransactionsQuery(Shape):
    limit: Annotated[int, query_int(1, MAX_HISTORY_PAGE)] = 50
    before: Annotated[int | None, query_int(1)] = None
    type: Annotated[str | None, choice(LEDGER_TYPES, "invalid_parameter")] = None
    reference: Annotated[
        str | None,
        Checked(lambda value, info: _query_reference(value), REFERENCE),
    ] = None


def _query_reference(value: str) -> str:
    if not is_reference(value):
        raise InvalidParameter("reference must be 1 to 128 printable ASCII characters")
    return value


class BalanceQuery(Shape):
    at: Annotated[datetime | None, query_moment("at", required=False)] = None


class StatementQuery(Shape):
    # `from` is a keyword in Python: the fields go by their names in the query.
    start: Annotated[datetime, query_moment("from")] = Field(alias="from")
    end: Annotated[datetime, query_moment("to")] = Field(alias="to")

    @model_validator(mode="after")
    def _in_order(self) -> StatementQuery:
        if self.start >= self.end:
            raise rule_error("invalid_parameter", "from must be earlier than to")
        return self


MAX_LIST_PAGE = 500
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
BATCH_ID = {"type": "string", "format": "uuid"}
JOB_ID = {"type": "string", "format": "uuid"}
EVENT_ID = {"type": "string", "format": "uuid"}
MAX_EVENTS_PAGE = 1000


def _cursor_account(value: str) -> str:
    if not is_account_number(value):
        raise InvalidParameter("after must be an account number: 1 to 34 digits")
    return value


def _cursor_id(value: str, what: str = "batch") -> str:
    """A `before` cursor: the id of a `what` (a lowercase UUID)."""
    if not _UUID.fullmatch(value):
        raise InvalidParameter(f"before must be a {what} id (a lowercase UUID)")
    return value


class AccountsQuery(Shape):
    limit: Annotated[int, query_int(1, MAX_LIST_PAGE)] = 100
    after: Annotated[
        str | None, Checked(lambda value, info: _cursor_account(value), ACCOUNT_NUMBER)
    ] = None


class BatchesQuery(Shape):
    limit: Annotated[int, query_int(1, MAX_LIST_PAGE)] = 50
    before: Annotated[str | None, Checked(lambda value, info: _cursor_id(value), BATCH_ID)] = None


class JobsQuery(Shape):
    account: Annotated[
        str | None, Checked(lambda value, info: _query_account(value), ACCOUNT_NUMBER)
    ] = None
    status: Annotated[str | None, choice(JOB_STATUSES, "invalid_parameter")] = None
    type: Annotated[str | None, choice(JOB_TYPES, "invalid_parameter")] = None
    limit: Annotated[int, query_int(1, MAX_LIST_PAGE)] = 50
    before: Annotated[str | None, Checked(lambda value, info: _cursor_id(value, "job"), JOB_ID)] = (
        None
    )


class EventsQuery(Shape):
    after: Annotated[str | None, Checked(lambda value, info: _event_cursor(value), EVENT_ID)] = None
    limit: Annotated[int, query_int(1, MAX_EVENTS_PAGE)] = 100
    type: Annotated[str | None, choice(EVENT_TYPES, "invalid_parameter")] = None
    account: Annotated[
        str | None, Checked(lambda value, info: _query_account(value), ACCOUNT_NUMBER)
    ] = None


def _event_cursor(value: str) -> str:
    if parse_event_id(value) is None:
        raise InvalidParameter("after must be an event id from this feed")
    return value


def _query_account(value: str) -> str:
    if not is_account_number(value):
        raise InvalidParameter("account must be an account number: 1 to 34 digits")
    return value


class BatchResultsQuery(Shape):
    offset: Annotated[int, query_int(0)] = 0
    limit: Annotated[int, query_int(1, MAX_RESULTS_PAGE)] = 1000


class DeliveriesQuery(Shape):
    limit: Annotated[int, query_int(1, MAX_DELIVERIES_PAGE)] = 50
