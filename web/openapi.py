"""GET /openapi.json: the OpenAPI 3 description of every endpoint, kept beside the code.

Tests fuzz the running stack against it (schemathesis), so it cannot drift from what the
API answers. It is the one response that is a plain document, not the envelope: that is
what OpenAPI tools read.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from flask_swagger_ui import get_swaggerui_blueprint

from shared.models import LEDGER_TYPES, OPERATION_TYPES

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
ACCOUNT = obj(["account_number", "balance"], {"account_number": ACCOUNT_NUMBER, "balance": MONEY})
OPERATION_TYPE: Schema = {"type": "string", "enum": list(OPERATION_TYPES)}
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
        "type": OPERATION_TYPE,
        "account_number": ACCOUNT_NUMBER,
        "amount": MONEY,
        "status": JOB_STATUS,
        "result": {**obj(["new_balance"], {"new_balance": MONEY}), "nullable": True},
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
                    "status",
                    "balance_after",
                    "job_id",
                    "created_at",
                ],
                {
                    "transaction_id": {"type": "integer"},
                    "type": LEDGER_TYPE,
                    "amount": MONEY,
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
    {"account_number": ACCOUNT_NUMBER, "type": OPERATION_TYPE, "amount": AMOUNT_IN, **TAGS},
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
                    "type": OPERATION_TYPE,
                    "amount": MONEY,
                    "status": JOB_STATUS,
                    "new_balance": MONEY,
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
        413: "body too large",
        415: "body is not JSON",
        422: "idempotency key reused",
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


def money_operation(kind: str) -> Schema:
    return {
        "summary": f"{kind.capitalize()} money (waits for the result by default)",
        "operationId": kind,
        "parameters": [path_parameter("account_number", ACCOUNT_NUMBER), PREFER, IDEMPOTENCY_KEY],
        "requestBody": json_body(obj(["amount"], {"amount": AMOUNT_IN, **TAGS})),
        "responses": {
            "200": response("applied", envelope(OPERATION_RESULT)),
            "202": response("accepted; follow Location", envelope(ACCEPTED)),
            **failures(400, 404, 413, 415, 422, 500, 503),
        },
    }


def build_spec() -> Schema:
    number = path_parameter("account_number", ACCOUNT_NUMBER)
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


SPEC = build_spec()


@docs.get("/openapi.json")
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
