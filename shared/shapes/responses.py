"""The shapes of the API's answers, for the OpenAPI document only: the views build them as
plain dicts (shared/views.py), and nothing on the way out is checked against these."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field, WithJsonSchema
from typing_extensions import TypedDict

from shared.access.api_keys import SCOPES
from shared.shapes.fields import WEBHOOK_URL
from shared.store.models import (
    ACCOUNT_STATUSES,
    BATCH_TYPES,
    EVENT_TYPES,
    JOB_STATUSES,
    JOB_TYPES,
    LEDGER_TYPES,
    OPERATION_TYPES,
)


def one_of(*values: str) -> Any:
    """A string that is one of `values`."""
    return Annotated[str, WithJsonSchema({"type": "string", "enum": list(values)})]


Money = Annotated[float, Field(description="exact to the cent")]
AccountNumber = Annotated[str, Field(pattern="^[0-9]{1,34}$")]
Timestamp = datetime
Count = Annotated[int, Field(ge=0)]
Reference = Annotated[str, Field(min_length=1, max_length=128, pattern="^[ -~]+$")]
Metadata = Annotated[dict[str, Any], Field(description="at most 4096 bytes as compact JSON")]
JobStatus = one_of(*JOB_STATUSES)
HoldStatus = one_of("active", "captured", "voided", "expired")
EventType = one_of(*EVENT_TYPES)
AccountStatus = one_of(*ACCOUNT_STATUSES)
OperationType = one_of(*OPERATION_TYPES)
JobType = one_of(*JOB_TYPES)
LedgerType = one_of(*LEDGER_TYPES)
Direction = one_of("credit", "debit")
BatchStatus = one_of("pending", "completed")
BatchType = one_of(*BATCH_TYPES)
Scope = one_of(*SCOPES)
DeliveryStatus = one_of("pending", "delivered", "failed")


class ErrorDetail(TypedDict):
    index: int
    type: str
    message: str


class ErrorInfo(TypedDict):
    type: Annotated[str, Field(pattern="^[a-z_]+$")]
    message: str
    job_id: NotRequired[str]
    details: NotRequired[list[ErrorDetail]]


class Failure(TypedDict):
    """Every error's envelope."""

    success: Literal[False]
    error: ErrorInfo
    code: int
    data: NotRequired[dict[str, Any]]


class Balance(TypedDict):
    account_number: AccountNumber
    balance: Money
    available_balance: NotRequired[Money]  # the balance now (not with `at`)
    at: NotRequired[Timestamp]  # the moment asked for, when `at` was given


class AccountView(TypedDict):
    account_number: AccountNumber
    balance: Money
    available_balance: Money
    status: AccountStatus
    daily_withdrawal_limit: Money | None
    overdraft_limit: Money
    created_at: Timestamp


class Accounts(TypedDict):
    accounts: list[AccountView]
    next_after: AccountNumber | None


class OperationResult(TypedDict):
    """A withdrawal or deposit, applied."""

    account_number: AccountNumber
    new_balance: Money
    amount: Money
    type: OperationType
    transaction_id: int
    job_id: str


class Accepted(TypedDict):
    """An operation recorded, to follow at status_url (its Location)."""

    job_id: str
    status: JobStatus
    status_url: str


class HoldView(TypedDict):
    hold_id: str
    job_id: NotRequired[str]
    account_number: AccountNumber
    amount: Money
    captured_amount: Money
    status: HoldStatus
    created_at: Timestamp
    expires_at: Timestamp
    completed_at: Timestamp | None
    reference: NotRequired[Reference]
    metadata: NotRequired[Metadata]


class HoldPlaced(TypedDict):
    hold_id: str
    job_id: str
    account_number: AccountNumber
    amount: Money
    status: HoldStatus
    expires_at: Timestamp
    balance: Money
    available_balance: Money


class HoldCaptured(TypedDict):
    hold_id: str
    job_id: str
    account_number: AccountNumber
    amount: Money
    status: HoldStatus
    new_balance: Money
    available_balance: Money
    transaction_id: int


class HoldVoided(TypedDict):
    hold_id: str
    job_id: str
    account_number: AccountNumber
    status: HoldStatus
    available_balance: Money


class TransferResult(TypedDict):
    job_id: str
    type: Literal["transfer"]
    from_account: AccountNumber
    to_account: AccountNumber
    amount: Money
    from_balance: Money
    to_balance: Money
    new_balance: NotRequired[Money]
    transaction_id: int


class ReversalResult(TypedDict):
    job_id: str
    reversed_job_id: str
    type: Literal["reversal"]
    account_number: AccountNumber
    amount: Money
    new_balance: Money
    transaction_id: int


class Job(TypedDict):
    job_id: str
    type: JobType
    account_number: AccountNumber
    amount: Money
    status: JobStatus
    result: Annotated[
        dict[str, Any] | None, Field(description="the data of the operation's 200 answer")
    ]
    to_account: NotRequired[AccountNumber]
    hold_id: NotRequired[str]
    reversed_job_id: NotRequired[str]
    reversed_by: NotRequired[str]
    submitted_by: NotRequired[Annotated[str | None, Field(description="API key id")]]
    error: ErrorInfo | None
    reference: Reference | None
    metadata: Metadata | None
    created_at: Timestamp
    completed_at: Timestamp | None


class Jobs(TypedDict):
    jobs: list[Job]
    next_before: str | None


class LedgerEntry(TypedDict):
    transaction_id: int
    type: LedgerType
    amount: Money
    direction: Direction
    status: Literal["succeeded"]
    balance_after: Money
    job_id: str | None
    reference: NotRequired[Reference]
    metadata: NotRequired[Metadata]
    created_at: Timestamp


class Transactions(TypedDict):
    account_number: AccountNumber
    transactions: list[LedgerEntry]
    next_before: int | None


# Functional form: `from` is a keyword in Python.
Statement = TypedDict(
    "Statement",
    {
        "account_number": AccountNumber,
        "from": Timestamp,
        "to": Timestamp,
        "opening_balance": Money,
        "closing_balance": Money,
        "credits": Money,
        "debits": Money,
        "count": int,
        "entries": list[LedgerEntry],
    },
)


class BatchAccepted(TypedDict):
    batch_id: str
    total: int
    status_url: str


class BatchView(TypedDict):
    batch_id: str
    total: Count
    queued: Count
    processing: Count
    succeeded: Count
    failed: Count
    status: BatchStatus
    created_at: Timestamp
    completed_at: Timestamp | None
    atomic: bool


class Batches(TypedDict):
    batches: list[BatchView]
    next_before: str | None


class BatchResult(TypedDict):
    index: Count
    job_id: str
    account_number: AccountNumber
    type: BatchType
    to_account: NotRequired[AccountNumber]
    amount: Money
    status: JobStatus
    new_balance: NotRequired[Money]
    to_balance: NotRequired[Money]
    error: NotRequired[ErrorInfo]


class BatchResults(TypedDict):
    batch_id: str
    offset: Count
    limit: Count
    total: Count
    results: list[BatchResult]


class Check(TypedDict):
    ok: bool


class Health(TypedDict):
    database: Check
    redis: Check
    workers: Check


class ApiKey(TypedDict):
    key_id: str
    name: str
    scopes: list[Scope]
    accounts: list[AccountNumber] | None
    prefix: str
    created_at: Timestamp
    revoked: NotRequired[bool]
    revoked_at: NotRequired[Timestamp | None]
    secret: NotRequired[Annotated[str, Field(description="only in the answer that creates it")]]


class ApiKeys(TypedDict):
    api_keys: list[ApiKey]


class KeyRevoked(TypedDict):
    key_id: str
    revoked: bool


class Webhook(TypedDict):
    webhook_id: str
    url: Annotated[str, WithJsonSchema(WEBHOOK_URL)]
    events: Annotated[list[EventType], Field(min_length=1)]
    created_at: Timestamp
    secret: NotRequired[Annotated[str, Field(description="only in the answer that creates it")]]


class Webhooks(TypedDict):
    webhooks: list[Webhook]


class WebhookDeleted(TypedDict):
    webhook_id: str
    deleted: bool


class Event(TypedDict):
    event_id: str
    type: EventType
    created_at: Timestamp
    data: Annotated[
        dict[str, Any],
        Field(description="the job, hold or batch view, as the transaction that made it left it"),
    ]


class Events(TypedDict):
    events: list[Event]
    next_after: str | None


class Delivery(TypedDict):
    event_id: str
    type: EventType
    subject_id: NotRequired[Annotated[str, Field(description="the job, batch or hold id")]]
    attempts: int
    status: DeliveryStatus
    last_status_code: int | None
    last_error: NotRequired[str | None]
    created_at: NotRequired[Timestamp]
    completed_at: NotRequired[Timestamp | None]


class Deliveries(TypedDict):
    deliveries: list[Delivery]
