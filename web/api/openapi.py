"""GET /openapi.json: the OpenAPI 3 description of every endpoint, kept beside the code.

Tests fuzz the running stack against it (schemathesis), so it cannot drift from what the
API answers. It is the one response that is a plain document, not the envelope: that is
what OpenAPI tools read.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from flask_swagger_ui import get_swaggerui_blueprint

from shared.store.models import (
    ACCOUNT_STATUSES,
    BATCH_TYPES,
    CAPTURE,
    HOLD,
    LEDGER_TYPES,
    OPERATION_TYPES,
    REVERSAL,
    TRANSFER,
    UPDATE_ACCOUNT,
    VOID,
)
from web.http.auth import public

docs = Blueprint("docs", __name__)

Schema = dict[str, Any]
MONEY: Schema = {"type": "number", "description": "exact to the cent"}
AMOUNT_IN: Schema = {
    "oneOf": [
        {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1000000},
        {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,2})?$"},
    ],
    "description": "> 0, at most 2 decimals, at most ATM_MAX_AMOUNT",
}
INITIAL_BALANCE: Schema = {
    "oneOf": [
        {"type": "number", "minimum": 0, "maximum": 1000000},
        {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,2})?$"},
    ],
}
ACCOUNT_NUMBER: Schema = {"type": "string", "pattern": "^[0-9]{1,34}$"}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP: Schema = {**TIMESTAMP, "nullable": True}
REFERENCE: Schema = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[ -~]+$"}
METADATA: Schema = {"type": "object", "description": "at most 4096 bytes as compact JSON"}
# What an operation may carry besides its amount.
TAGS: dict[str, Schema] = {"reference": REFERENCE, "metadata": METADATA}
ERROR_INFO: Schema = {
    "type": "object",
    "required": ["type", "message"],
    "properties": {
        "type": {"type": "string", "pattern": "^[a-z_]+$"},
        "message": {"type": "string"},
        "job_id": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "type", "message"],
                "properties": {
                    "index": {"type": "integer"},
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def obj(required: list[str], properties: dict[str, Schema]) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


def envelope(data: Schema) -> Schema:
    return obj(
        ["success", "data", "code"],
        {"success": {"type": "boolean", "enum": [True]}, "data": data, "code": {"type": "integer"}},
    )


FAILURE: Schema = obj(
    ["success", "error", "code"],
    {
        "success": {"type": "boolean", "enum": [False]},
        "error": ERROR_INFO,
        "code": {"type": "integer"},
        "data": {"type": "object"},
    },
)
ACCOUNT = obj(
    ["account_number", "balance"],
    {"account_number": ACCOUNT_NUMBER, "balance": MONEY, "available_balance": MONEY},
)
DAILY_LIMIT: Schema = {**AMOUNT_IN, "nullable": True}
ACCOUNT_VIEW = obj(
    [
        "account_number",
        "balance",
        "available_balance",
        "status",
        "daily_withdrawal_limit",
        "created_at",
    ],
    {
        "account_number": ACCOUNT_NUMBER,
        "balance": MONEY,
        "available_balance": MONEY,
        "status": {"type": "string", "enum": list(ACCOUNT_STATUSES)},
        "daily_withdrawal_limit": {**MONEY, "nullable": True},
        "created_at": TIMESTAMP,
    },
)
OPERATION_TYPE: Schema = {"type": "string", "enum": list(OPERATION_TYPES)}
BATCH_TYPE: Schema = {"type": "string", "enum": list(BATCH_TYPES)}
JOB_TYPE: Schema = {
    "type": "string",
    "enum": [*OPERATION_TYPES, HOLD, CAPTURE, VOID, TRANSFER, REVERSAL, UPDATE_ACCOUNT],
}
HOLD_STATUS: Schema = {"type": "string", "enum": ["active", "captured", "voided", "expired"]}
HOLD_VIEW = obj(
    [
        "hold_id",
        "account_number",
        "amount",
        "captured_amount",
        "status",
        "created_at",
        "expires_at",
        "completed_at",
    ],
    {
        "hold_id": {"type": "string"},
        "job_id": {"type": "string"},
        "account_number": ACCOUNT_NUMBER,
        "amount": MONEY,
        "captured_amount": MONEY,
        "status": HOLD_STATUS,
        "created_at": TIMESTAMP,
        "expires_at": TIMESTAMP,
        "completed_at": NULLABLE_TIMESTAMP,
        **TAGS,
    },
)
HOLD_PLACED = obj(
    [
        "hold_id",
        "job_id",
        "account_number",
        "amount",
        "status",
        "expires_at",
        "balance",
        "available_balance",
    ],
    {
        "hold_id": {"type": "string"},
        "job_id": {"type": "string"},
        "account_number": ACCOUNT_NUMBER,
        "amount": MONEY,
        "status": HOLD_STATUS,
        "expires_at": TIMESTAMP,
        "balance": MONEY,
        "available_balance": MONEY,
    },
)
HOLD_CAPTURED = obj(
    [
        "hold_id",
        "job_id",
        "account_number",
        "amount",
        "status",
        "new_balance",
        "available_balance",
        "transaction_id",
    ],
    {
        "hold_id": {"type": "string"},
        "job_id": {"type": "string"},
        "account_number": ACCOUNT_NUMBER,
        "amount": MONEY,
        "status": HOLD_STATUS,
        "new_balance": MONEY,
        "available_balance": MONEY,
        "transaction_id": {"type": "integer"},
    },
)
HOLD_VOIDED = obj(
    ["hold_id", "job_id", "account_number", "status", "available_balance"],
    {
        "hold_id": {"type": "string"},
        "job_id": {"type": "string"},
        "account_number": ACCOUNT_NUMBER,
        "status": HOLD_STATUS,
        "available_balance": MONEY,
    },
)
TRANSFER_RESULT = obj(
    [
        "job_id",
        "type",
        "from_account",
        "to_account",
        "amount",
        "from_balance",
        "to_balance",
        "transaction_id",
    ],
    {
        "job_id": {"type": "string"},
        "type": {"type": "string", "enum": [TRANSFER]},
        "from_account": ACCOUNT_NUMBER,
        "to_account": ACCOUNT_NUMBER,
        "amount": MONEY,
        "from_balance": MONEY,
        "to_balance": MONEY,
        "new_balance": MONEY,
        "transaction_id": {"type": "integer"},
    },
)
REVERSAL_RESULT = obj(
    [
        "job_id",
        "reversed_job_id",
        "type",
        "account_number",
        "amount",
        "new_balance",
        "transaction_id",
    ],
    {
        "job_id": {"type": "string"},
        "reversed_job_id": {"type": "string"},
        "type": {"type": "string", "enum": [REVERSAL]},
        "account_number": ACCOUNT_NUMBER,
        "amount": MONEY,
        "new_balance": MONEY,
        "transaction_id": {"type": "integer"},
    },
)
LEDGER_TYPE: Schema = {"type": "string", "enum": list(LEDGER_TYPES)}
JOB_STATUS: Schema = {"type": "string", "enum": ["queued", "processing", "succeeded", "failed"]}
OPERATION_RESULT = obj(
    ["account_number", "new_balance", "amount", "type", "transaction_id", "job_id"],
    {
        "account_number": ACCOUNT_NUMBER,
        "new_balance": MONEY,
        "amount": MONEY,
        "type": OPERATION_TYPE,
        "transaction_id": {"type": "integer"},
        "job_id": {"type": "string"},
    },
)
ACCEPTED = obj(
    ["job_id", "status", "status_url"],
    {"job_id": {"type": "string"}, "status": JOB_STATUS, "status_url": {"type": "string"}},
)
JOB = obj(
    [
        "job_id",
        "type",
        "account_number",
        "amount",
        "status",
        "result",
        "error",
        "reference",
        "metadata",
        "created_at",
        "completed_at",
    ],
    {
        "job_id": {"type": "string"},
        "type": JOB_TYPE,
        "account_number": ACCOUNT_NUMBER,
        "amount": MONEY,
        "status": JOB_STATUS,
        "result": {
            "type": "object",
            "nullable": True,
            "description": "the data of the operation's 200 answer",
        },
        "to_account": ACCOUNT_NUMBER,
        "hold_id": {"type": "string"},
        "reversed_job_id": {"type": "string"},
        "reversed_by": {"type": "string"},
        "submitted_by": {"type": "string", "nullable": True, "description": "API key id"},
        "error": {**ERROR_INFO, "nullable": True},
        "reference": {**REFERENCE, "nullable": True},
        "metadata": {**METADATA, "nullable": True},
        "created_at": TIMESTAMP,
        "completed_at": NULLABLE_TIMESTAMP,
    },
)
TRANSACTIONS = obj(
    ["account_number", "transactions", "next_before"],
    {
        "account_number": ACCOUNT_NUMBER,
        "transactions": {
            "type": "array",
            "items": obj(
                [
                    "transaction_id",
                    "type",
                    "amount",
                    "direction",
                    "status",
                    "balance_after",
                    "job_id",
                    "created_at",
                ],
                {
                    "transaction_id": {"type": "integer"},
                    "type": LEDGER_TYPE,
                    "amount": MONEY,
                    "direction": {"type": "string", "enum": ["credit", "debit"]},
                    "status": {"type": "string", "enum": ["succeeded"]},
                    "balance_after": MONEY,
                    "job_id": {"type": "string", "nullable": True},
                    **TAGS,
                    "created_at": TIMESTAMP,
                },
            ),
        },
        "next_before": {"type": "integer", "nullable": True},
    },
)
BATCH_OPERATION = obj(
    ["account_number", "type", "amount"],
    {
        "account_number": ACCOUNT_NUMBER,
        "type": BATCH_TYPE,
        "to_account": {**ACCOUNT_NUMBER, "description": "a transfer's destination"},
        "amount": AMOUNT_IN,
        **TAGS,
    },
)
BATCH_ACCEPTED = obj(
    ["batch_id", "total", "status_url"],
    {
        "batch_id": {"type": "string"},
        "total": {"type": "integer"},
        "status_url": {"type": "string"},
    },
)
COUNT: Schema = {"type": "integer", "minimum": 0}
BATCH = obj(
    [
        "batch_id",
        "total",
        "queued",
        "processing",
        "succeeded",
        "failed",
        "status",
        "created_at",
        "completed_at",
    ],
    {
        "batch_id": {"type": "string"},
        "total": COUNT,
        "queued": COUNT,
        "processing": COUNT,
        "succeeded": COUNT,
        "failed": COUNT,
        "status": {"type": "string", "enum": ["pending", "completed"]},
        "created_at": TIMESTAMP,
        "completed_at": NULLABLE_TIMESTAMP,
    },
)
BATCH_RESULTS = obj(
    ["batch_id", "offset", "limit", "total", "results"],
    {
        "batch_id": {"type": "string"},
        "offset": COUNT,
        "limit": COUNT,
        "total": COUNT,
        "results": {
            "type": "array",
            "items": obj(
                ["index", "job_id", "account_number", "type", "amount", "status"],
                {
                    "index": COUNT,
                    "job_id": {"type": "string"},
                    "account_number": ACCOUNT_NUMBER,
                    "type": BATCH_TYPE,
                    "to_account": ACCOUNT_NUMBER,
                    "amount": MONEY,
                    "status": JOB_STATUS,
                    "new_balance": MONEY,
                    "to_balance": MONEY,
                    "error": ERROR_INFO,
                },
            ),
        },
    },
)
CHECK: Schema = {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}
HEALTH = obj(
    ["database", "redis", "workers"], {"database": CHECK, "redis": CHECK, "workers": CHECK}
)


def response(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def failures(*statuses: int) -> dict[str, Schema]:
    names = {
        400: "invalid input",
        404: "not found",
        405: "method not allowed",
        409: "conflict",
        401: "no API key, or an unknown or revoked one (ATM_AUTH=required)",
        403: "the API key lacks the scope or the account",
        413: "body too large",
        415: "body is not JSON",
        422: "idempotency key reused",
        429: "rate limit of the API key passed",
        500: "unexpected failure",
        503: "overloaded",
    }
    return {str(status): response(names[status], FAILURE) for status in statuses}


def path_parameter(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def integer_query(name: str, minimum: int) -> Schema:
    return {"name": name, "in": "query", "schema": {"type": "integer", "minimum": minimum}}


PREFER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "respond-async, wait=N (RFC 7240)",
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}


def json_body(schema: Schema, required: bool = True) -> Schema:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def job_operation(
    summary: str,
    operation_id: str,
    parameters: list[Schema],
    body: Schema,
    result: Schema,
    *,
    body_required: bool = True,
) -> Schema:
    """An operation recorded as a job: its 200 once applied, or 202 to follow."""
    return {
        "summary": f"{summary} (waits for the result by default)",
        "operationId": operation_id,
        "parameters": [*parameters, PREFER, IDEMPOTENCY_KEY],
        "requestBody": json_body(body, required=body_required),
        "responses": {
            "200": response("applied", envelope(result)),
            "202": response("accepted; follow Location", envelope(ACCEPTED)),
            **failures(400, 404, 409, 413, 415, 422, 500, 503),
        },
    }


def money_operation(kind: str) -> Schema:
    return job_operation(
        f"{kind.capitalize()} money",
        kind,
        [path_parameter("account_number", ACCOUNT_NUMBER)],
        obj(["amount"], {"amount": AMOUNT_IN, **TAGS}),
        OPERATION_RESULT,
    )


API_KEY = obj(
    ["key_id", "name", "scopes", "accounts", "prefix", "created_at"],
    {
        "key_id": {"type": "string"},
        "name": {"type": "string"},
        "scopes": {
            "type": "array",
            "items": {"type": "string", "enum": ["read", "operate", "admin"]},
        },
        "accounts": {"type": "array", "items": ACCOUNT_NUMBER, "nullable": True},
        "prefix": {"type": "string"},
        "created_at": TIMESTAMP,
        "revoked": {"type": "boolean"},
        "revoked_at": NULLABLE_TIMESTAMP,
        "secret": {"type": "string", "description": "only in the answer that creates it"},
    },
)
EVENT_TYPE = {
    "type": "string",
    "enum": ["job.succeeded", "job.failed", "batch.completed", "hold.expired"],
}
WEBHOOK = obj(
    ["webhook_id", "url", "events", "created_at"],
    {
        "webhook_id": {"type": "string"},
        "url": {"type": "string", "format": "uri", "maxLength": 2048},
        "events": {"type": "array", "items": EVENT_TYPE, "minItems": 1},
        "created_at": TIMESTAMP,
        "secret": {"type": "string", "description": "only in the answer that creates it"},
    },
)
DELIVERY = obj(
    ["event_id", "type", "attempts", "status", "last_status_code"],
    {
        "event_id": {"type": "string"},
        "type": EVENT_TYPE,
        "subject_id": {"type": "string", "description": "the job, batch or hold id"},
        "attempts": {"type": "integer"},
        "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
        "last_status_code": {"type": "integer", "nullable": True},
        "last_error": {"type": "string", "nullable": True},
        "created_at": TIMESTAMP,
        "completed_at": NULLABLE_TIMESTAMP,
    },
)
PUBLIC_OPERATIONS = frozenset({"get_health", "get_openapi"})


def with_access(spec: Schema) -> Schema:
    """Every operation but the public ones takes the bearer key and may answer 401, 403
    (scope or account) and 429 (rate limit)."""
    spec["components"] = {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "an API key's secret; needed when ATM_AUTH=required",
            }
        }
    }
    spec["security"] = [{"bearer": []}]
    for path in spec["paths"].values():
        for operation in path.values():
            if operation["operationId"] in PUBLIC_OPERATIONS:
                operation["security"] = []
            else:
                operation["responses"].update(failures(401, 403, 429))
    return spec


def build_spec() -> Schema:
    number = path_parameter("account_number", ACCOUNT_NUMBER)
    hold = path_parameter("hold_id", {"type": "string"})
    return {
        "openapi": "3.0.3",
        "info": {"title": "ATM transaction processor", "version": "1.0.0"},
        "paths": {
            "/accounts": {
                "post": {
                    "summary": "Open an account",
                    "operationId": "create_account",
                    "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": json_body(
                        {
                            "type": "object",
                            "properties": {
                                "account_number": ACCOUNT_NUMBER,
                                "initial_balance": MONEY,
                                "daily_withdrawal_limit": DAILY_LIMIT,
                            },
                        },
                        required=False,
                    ),
                    "responses": {
                        "201": response("opened", envelope(ACCOUNT)),
                        **failures(400, 409, 413, 415, 422, 500),
                    },
                }
            },
            "/accounts/{account_number}": {
                "get": {
                    "summary": "The account: balances, status, daily limit",
                    "operationId": "get_account",
                    "parameters": [number],
                    "responses": {
                        "200": response("the account", envelope(ACCOUNT_VIEW)),
                        **failures(404, 500),
                    },
                },
                "patch": job_operation(
                    "Freeze, unfreeze or close the account, or set its daily withdrawal limit",
                    "update_account",
                    [number],
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "status": {"type": "string", "enum": list(ACCOUNT_STATUSES)},
                            "daily_withdrawal_limit": DAILY_LIMIT,
                        },
                    },
                    ACCOUNT_VIEW,
                ),
            },
            "/accounts/{account_number}/holds": {
                "post": job_operation(
                    "Reserve money without moving it (an authorisation)",
                    "place_hold",
                    [number],
                    obj(
                        ["amount"],
                        {
                            "amount": AMOUNT_IN,
                            "expires_in": {"type": "integer", "minimum": 1, "maximum": 604800},
                            **TAGS,
                        },
                    ),
                    HOLD_PLACED,
                )
            },
            "/holds/{hold_id}": {
                "get": {
                    "summary": "A hold",
                    "operationId": "get_hold",
                    "parameters": [hold],
                    "responses": {
                        "200": response("the hold", envelope(HOLD_VIEW)),
                        **failures(404, 500),
                    },
                }
            },
            "/holds/{hold_id}/capture": {
                "post": job_operation(
                    "Capture a hold, whole or in part",
                    "capture_hold",
                    [hold],
                    {"type": "object", "properties": {"amount": AMOUNT_IN, **TAGS}},
                    HOLD_CAPTURED,
                    body_required=False,
                )
            },
            "/holds/{hold_id}/void": {
                "post": job_operation(
                    "Release a hold",
                    "void_hold",
                    [hold],
                    {"type": "object", "properties": TAGS},
                    HOLD_VOIDED,
                    body_required=False,
                )
            },
            "/transfers": {
                "post": job_operation(
                    "Move money between two accounts, both legs at once",
                    "create_transfer",
                    [],
                    obj(
                        ["from_account", "to_account", "amount"],
                        {
                            "from_account": ACCOUNT_NUMBER,
                            "to_account": ACCOUNT_NUMBER,
                            "amount": AMOUNT_IN,
                            **TAGS,
                        },
                    ),
                    TRANSFER_RESULT,
                )
            },
            "/jobs/{job_id}/reverse": {
                "post": job_operation(
                    "Undo a succeeded deposit, withdrawal, transfer or capture",
                    "reverse_job",
                    [path_parameter("job_id", {"type": "string"})],
                    {"type": "object", "properties": TAGS},
                    REVERSAL_RESULT,
                    body_required=False,
                )
            },
            "/accounts/{account_number}/balance": {
                "get": {
                    "summary": "The balance",
                    "operationId": "get_balance",
                    "parameters": [number],
                    "responses": {
                        "200": response("balance", envelope(ACCOUNT)),
                        **failures(404, 500),
                    },
                }
            },
            "/accounts/{account_number}/transactions": {
                "get": {
                    "summary": "The ledger, newest first",
                    "operationId": "list_transactions",
                    "parameters": [
                        number,
                        integer_query("limit", 1),
                        integer_query("before", 1),
                        {"name": "type", "in": "query", "schema": LEDGER_TYPE},
                        {"name": "reference", "in": "query", "schema": REFERENCE},
                    ],
                    "responses": {
                        "200": response("a page", envelope(TRANSACTIONS)),
                        **failures(400, 404, 500),
                    },
                }
            },
            "/accounts/{account_number}/withdraw": {"post": money_operation("withdraw")},
            "/accounts/{account_number}/deposit": {"post": money_operation("deposit")},
            "/jobs/{job_id}": {
                "get": {
                    "summary": "A job's status; Prefer: wait=N long-polls",
                    "operationId": "get_job",
                    "parameters": [path_parameter("job_id", {"type": "string"}), PREFER],
                    "responses": {"200": response("the job", envelope(JOB)), **failures(404, 500)},
                }
            },
            "/batches": {
                "post": {
                    "summary": "Submit up to ATM_MAX_BATCH operations",
                    "operationId": "create_batch",
                    "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": json_body(
                        obj(
                            ["operations"],
                            {
                                "operations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 10000,
                                    "items": BATCH_OPERATION,
                                }
                            },
                        )
                    ),
                    "responses": {
                        "202": response("accepted", envelope(BATCH_ACCEPTED)),
                        **failures(400, 413, 415, 422, 500, 503),
                    },
                }
            },
            "/batches/{batch_id}": {
                "get": {
                    "summary": "A batch's progress; Prefer: wait=N long-polls",
                    "operationId": "get_batch",
                    "parameters": [path_parameter("batch_id", {"type": "string"}), PREFER],
                    "responses": {
                        "200": response("progress", envelope(BATCH)),
                        **failures(404, 500),
                    },
                }
            },
            "/batches/{batch_id}/results": {
                "get": {
                    "summary": "Each operation's outcome, in submission order",
                    "operationId": "get_batch_results",
                    "parameters": [
                        path_parameter("batch_id", {"type": "string"}),
                        integer_query("offset", 0),
                        integer_query("limit", 1),
                    ],
                    "responses": {
                        "200": response("a page", envelope(BATCH_RESULTS)),
                        **failures(400, 404, 500),
                    },
                }
            },
            "/api-keys": {
                "post": {
                    "summary": "Create an API key (admin); its secret is shown only here",
                    "operationId": "create_api_key",
                    "requestBody": json_body(
                        obj(
                            ["name", "scopes"],
                            {
                                "name": {"type": "string", "minLength": 1, "maxLength": 128},
                                "scopes": API_KEY["properties"]["scopes"],
                                "accounts": {"type": "array", "items": ACCOUNT_NUMBER},
                            },
                        )
                    ),
                    "responses": {
                        "201": response("created", envelope(API_KEY)),
                        **failures(400, 413, 415, 500),
                    },
                },
                "get": {
                    "summary": "Every API key, without secrets (admin)",
                    "operationId": "list_api_keys",
                    "responses": {
                        "200": response(
                            "the keys",
                            envelope(
                                obj(["api_keys"], {"api_keys": {"type": "array", "items": API_KEY}})
                            ),
                        ),
                        **failures(500),
                    },
                },
            },
            "/api-keys/{key_id}": {
                "delete": {
                    "summary": "Revoke an API key (admin): refused from the next request on",
                    "operationId": "revoke_api_key",
                    "parameters": [path_parameter("key_id", {"type": "string"})],
                    "responses": {
                        "200": response(
                            "revoked",
                            envelope(
                                obj(
                                    ["key_id", "revoked"],
                                    {"key_id": {"type": "string"}, "revoked": {"type": "boolean"}},
                                )
                            ),
                        ),
                        **failures(404, 500, 503),
                    },
                }
            },
            "/webhooks": {
                "post": {
                    "summary": "Subscribe a URL to events (admin); the secret is shown only here",
                    "description": "Each event is POSTed as {event_id, type, created_at, data} "
                    "with ATM-Event-Id and ATM-Signature: t=<unix seconds>,v1=<hex "
                    "HMAC-SHA256 of '<t>.<body>'>. Private and loopback addresses are "
                    "refused unless ATM_WEBHOOK_ALLOW_PRIVATE=true.",
                    "operationId": "create_webhook",
                    "requestBody": json_body(
                        obj(
                            ["url", "events"],
                            {
                                "url": WEBHOOK["properties"]["url"],
                                "events": WEBHOOK["properties"]["events"],
                                "secret": {"type": "string", "minLength": 16, "maxLength": 128},
                            },
                        )
                    ),
                    "responses": {
                        "201": response("subscribed", envelope(WEBHOOK)),
                        **failures(400, 413, 415, 500),
                    },
                },
                "get": {
                    "summary": "Every webhook, without secrets (admin)",
                    "operationId": "list_webhooks",
                    "responses": {
                        "200": response(
                            "the webhooks",
                            envelope(
                                obj(["webhooks"], {"webhooks": {"type": "array", "items": WEBHOOK}})
                            ),
                        ),
                        **failures(500),
                    },
                },
            },
            "/webhooks/{webhook_id}": {
                "delete": {
                    "summary": "Delete a webhook (admin): nothing more is sent to it",
                    "operationId": "delete_webhook",
                    "parameters": [path_parameter("webhook_id", {"type": "string"})],
                    "responses": {
                        "200": response(
                            "deleted",
                            envelope(
                                obj(
                                    ["webhook_id", "deleted"],
                                    {
                                        "webhook_id": {"type": "string"},
                                        "deleted": {"type": "boolean"},
                                    },
                                )
                            ),
                        ),
                        **failures(404, 500),
                    },
                }
            },
            "/webhooks/{webhook_id}/deliveries": {
                "get": {
                    "summary": "A webhook's deliveries, the most recent first (admin)",
                    "operationId": "list_webhook_deliveries",
                    "parameters": [
                        path_parameter("webhook_id", {"type": "string"}),
                        integer_query("limit", 1),
                    ],
                    "responses": {
                        "200": response(
                            "the deliveries",
                            envelope(
                                obj(
                                    ["deliveries"],
                                    {"deliveries": {"type": "array", "items": DELIVERY}},
                                )
                            ),
                        ),
                        **failures(400, 404, 500),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Database, Redis and workers",
                    "operationId": "get_health",
                    "responses": {
                        "200": response("healthy", envelope(HEALTH)),
                        "503": response("not healthy", FAILURE),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "get_openapi",
                    "responses": {"200": response("OpenAPI 3", {"type": "object"})},
                }
            },
        },
    }


SPEC = with_access(build_spec())


@docs.get("/openapi.json")
@public
def get_openapi() -> Response:
    return jsonify(SPEC)


# Swagger UI over this document at /docs/ (/docs redirects there). Its scripts and styles
# are served from the installed package, so the page works with no outside network.
interactive_docs = get_swaggerui_blueprint(
    "/docs",
    "/openapi.json",
    config={"app_name": "ATM transaction processor API"},
    blueprint_name="interactive_docs",
)
