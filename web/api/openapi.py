"""GET /openapi.json: the OpenAPI 3.1 description of every endpoint, generated, and /docs.

The document is generated from the shapes the views check requests with (pydantic
models, shared/shapes/requests.py) and the shapes of their answers
(shared/shapes/responses.py), through pydantic's own JSON schemas, plus the route table
below for what a model does not say: paths, methods, headers, statuses. Limits in it
(ATM_MAX_AMOUNT, ATM_MAX_BATCH) are the app's settings. tests/web/test_openapi.py checks
the table against the app's routes, and tests fuzz the running stack against the document
(schemathesis).

Why not flask-openapi3 or spectree: both generate the document by owning request
validation, flask-openapi3 through its own Flask and blueprint classes and spectree
through a decorator on every view, and both answer a bad request with their own error
(a 422 listing pydantic's errors). Here the envelope's 400s, their types and messages,
Decimal amounts and the order in which fields are checked are the contract, so the views
keep checking requests themselves and the document is built beside them.

It is the one response that is a plain document, not the envelope: that is what OpenAPI
tools read.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from flask_swagger_ui import get_swaggerui_blueprint

from shared.accepting.job_list import EXAMINED_PER_PAGE
from shared.shapes import requests as ask
from shared.shapes import responses as answer
from shared.shapes.checking import Shape
from web.http.auth import public
from web.http.documenting import IDEMPOTENCY_KEY, PREFER, Route, build_document
from web.serving.services import current_services

docs = Blueprint("docs", __name__)
DOCUMENT = "atm.openapi"  # the app's document, in app.extensions, built on first request
JOB_FAILURES = (400, 404, 409, 413, 415, 422, 500, 503)


def job_operation(
    method: str,
    path: str,
    operation_id: str,
    summary: str,
    body: type[Shape] | None,
    result: Any,
    *,
    body_required: bool = True,
    tags: bool = True,
) -> Route:
    """An operation recorded as a job: its 200 once applied, or 202 to follow. Its body is
    its own shape (`body`; None: it has none) and, with `tags`, a reference and metadata."""
    shapes = tuple(shape for shape in (body, ask.TagsBody if tags else None) if shape)
    return Route(
        method,
        path,
        operation_id,
        f"{summary} (waits for the result by default)",
        {200: ("applied", result), 202: ("accepted; follow Location", answer.Accepted)},
        JOB_FAILURES,
        body=shapes,
        body_required=body_required,
        headers=(PREFER, IDEMPOTENCY_KEY),
    )


def read(path: str, operation_id: str, summary: str, data: tuple[str, Any], **more: Any) -> Route:
    """A GET of one resource; a query string may make it a 400."""
    failures = (400, 404, 500) if "query" in more else (404, 500)
    return Route("GET", path, operation_id, summary, {200: data}, failures, **more)


ACCOUNT = "/accounts/{account_number}"
ROUTES = (
    Route(
        "POST",
        "/accounts",
        "create_account",
        "Open an account",
        {201: ("opened", answer.Balance)},
        (400, 409, 413, 415, 422, 500),
        body=(ask.NewAccountBody,),
        body_required=False,
        headers=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "GET",
        "/accounts",
        "list_accounts",
        "Every account, in the byte order of their numbers (admin)",
        {200: ("a page", answer.Accounts)},
        (400, 500),
        query=ask.AccountsQuery,
        description="`next_after` is null only when nothing follows; `after` must name an account.",
    ),
    read(
        ACCOUNT,
        "get_account",
        "The account: balances, status, daily limit",
        ("the account", answer.AccountView),
    ),
    job_operation(
        "PATCH",
        ACCOUNT,
        "update_account",
        "Freeze, unfreeze or close the account, or set its daily withdrawal limit",
        ask.AccountChangesBody,
        answer.AccountView,
        tags=False,  # any field but its own is refused
    ),
    job_operation(
        "POST",
        f"{ACCOUNT}/holds",
        "place_hold",
        "Reserve money without moving it (an authorisation)",
        ask.HoldBody,
        answer.HoldPlaced,
    ),
    read("/holds/{hold_id}", "get_hold", "A hold", ("the hold", answer.HoldView)),
    job_operation(
        "POST",
        "/holds/{hold_id}/capture",
        "capture_hold",
        "Capture a hold, whole or in part",
        ask.CaptureBody,
        answer.HoldCaptured,
        body_required=False,
    ),
    job_operation(
        "POST",
        "/holds/{hold_id}/void",
        "void_hold",
        "Release a hold",
        None,
        answer.HoldVoided,
        body_required=False,
    ),
    job_operation(
        "POST",
        "/transfers",
        "create_transfer",
        "Move money between two accounts, both legs at once",
        ask.TransferBody,
        answer.TransferResult,
    ),
    job_operation(
        "POST",
        "/jobs/{job_id}/reverse",
        "reverse_job",
        "Undo a succeeded deposit, withdrawal, transfer or capture",
        None,
        answer.ReversalResult,
        body_required=False,
    ),
    read(
        f"{ACCOUNT}/balance",
        "get_balance",
        "The balance, now or at a past moment",
        ("balance", answer.Balance),
        query=ask.BalanceQuery,
        description="With `at`, the balance after the account's last ledger entry dated at "
        "or before it (0 before its first entry), and `at` instead of `available_balance`.",
    ),
    read(
        f"{ACCOUNT}/statement",
        "get_statement",
        "The ledger entries of a period, with the balances at both ends",
        ("the statement", answer.Statement),
        query=ask.StatementQuery,
        description="Entries dated in (`from`, `to`], oldest first; `opening_balance` is the "
        "balance at `from`, `closing_balance` at `to`. With `Accept: text/csv` the entries "
        "as CSV: `transaction_id,created_at,type,amount,balance_after,job_id,reference`. "
        "More than 10,000 entries in the period: 400.",
    ),
    read(
        f"{ACCOUNT}/transactions",
        "list_transactions",
        "The ledger, newest first",
        ("a page", answer.Transactions),
        query=ask.TransactionsQuery,
    ),
    job_operation(
        "POST",
        f"{ACCOUNT}/withdraw",
        "withdraw",
        "Withdraw money",
        ask.AmountBody,
        answer.OperationResult,
    ),
    job_operation(
        "POST",
        f"{ACCOUNT}/deposit",
        "deposit",
        "Deposit money",
        ask.AmountBody,
        answer.OperationResult,
    ),
    Route(
        "GET",
        "/events",
        "list_events",
        "Every event after a cursor, in commit order; Prefer: wait=N long-polls",
        {200: ("a page", answer.Events)},
        (400, 403, 500),
        query=ask.EventsQuery,
        headers=(PREFER,),
        description="Follow `next_after`: each event is seen once, in the order committed. "
        "`next_after` is the last event the page examined (shown or filtered out), the given "
        "`after` when there was none, null when neither. `account` matches a job's account "
        "and the other account of a transfer (or of its reversal); a batch event belongs to "
        "no account. A key limited to some accounts sees the events of its accounts and of "
        "the batches it submitted.",
    ),
    Route(
        "GET",
        "/jobs",
        "list_jobs",
        "Jobs newest first, batch operations included",
        {200: ("a page", answer.Jobs)},
        (400, 403, 500),
        query=ask.JobsQuery,
        description="`account` matches a job's account and the other account of a transfer "
        "(or of its reversal). A key limited to some accounts must name one of them, or sees "
        "the jobs it submitted. One request examines at most "
        f"{EXAMINED_PER_PAGE:,} jobs: a page whose filters match sparsely may hold fewer "
        "than `limit` jobs, even none, with a `next_before` to go on from; `next_before` is "
        "null only when nothing follows.",
    ),
    read(
        "/jobs/{job_id}",
        "get_job",
        "A job's status; Prefer: wait=N long-polls",
        ("the job", answer.Job),
        headers=(PREFER,),
    ),
    Route(
        "POST",
        "/batches",
        "create_batch",
        "Submit up to ATM_MAX_BATCH operations",
        {202: ("accepted", answer.BatchAccepted)},
        (400, 413, 415, 422, 500, 503),
        body=(ask.BatchBody,),
        headers=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "GET",
        "/batches",
        "list_batches",
        "The newest batches first: all for an admin key, else those the key submitted",
        {200: ("a page", answer.Batches)},
        (400, 500),
        query=ask.BatchesQuery,
        description="`next_before` is null only when nothing follows; `before` must name a "
        "batch the caller could list.",
    ),
    read(
        "/batches/{batch_id}",
        "get_batch",
        "A batch's progress; Prefer: wait=N long-polls",
        ("progress", answer.BatchView),
        headers=(PREFER,),
    ),
    read(
        "/batches/{batch_id}/results",
        "get_batch_results",
        "Each operation's outcome, in submission order",
        ("a page", answer.BatchResults),
        query=ask.BatchResultsQuery,
    ),
    Route(
        "POST",
        "/api-keys",
        "create_api_key",
        "Create an API key (admin); its secret is shown only here",
        {201: ("created", answer.ApiKey)},
        (400, 413, 415, 500),
        body=(ask.NewApiKeyBody,),
    ),
    Route(
        "GET",
        "/api-keys",
        "list_api_keys",
        "Every API key, without secrets (admin)",
        {200: ("the keys", answer.ApiKeys)},
        (500,),
    ),
    Route(
        "DELETE",
        "/api-keys/{key_id}",
        "revoke_api_key",
        "Revoke an API key (admin): refused from the next request on",
        {200: ("revoked", answer.KeyRevoked)},
        (404, 500, 503),
    ),
    Route(
        "POST",
        "/webhooks",
        "create_webhook",
        "Subscribe a URL to events (admin); the secret is shown only here",
        {201: ("subscribed", answer.Webhook)},
        (400, 413, 415, 500),
        body=(ask.NewWebhookBody,),
        description="Each event is POSTed as {event_id, type, created_at, data} with "
        "ATM-Event-Id and ATM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
        "'<t>.<body>'>. Private and loopback addresses are refused unless "
        "ATM_WEBHOOK_ALLOW_PRIVATE=true.",
    ),
    Route(
        "GET",
        "/webhooks",
        "list_webhooks",
        "Every webhook, without secrets (admin)",
        {200: ("the webhooks", answer.Webhooks)},
        (500,),
    ),
    Route(
        "DELETE",
        "/webhooks/{webhook_id}",
        "delete_webhook",
        "Delete a webhook (admin): nothing more is sent to it",
        {200: ("deleted", answer.WebhookDeleted)},
        (404, 500),
    ),
    read(
        "/webhooks/{webhook_id}/deliveries",
        "list_webhook_deliveries",
        "A webhook's deliveries, the most recent first (admin)",
        ("the deliveries", answer.Deliveries),
        query=ask.DeliveriesQuery,
    ),
    Route(
        "GET",
        "/health",
        "get_health",
        "Database, Redis and workers",
        {200: ("healthy", answer.Health)},
        (503,),
        failure_notes={503: "not healthy"},
    ),
    Route("GET", "/openapi.json", "get_openapi", "This document", {200: ("OpenAPI 3", None)}, ()),
)


@docs.get("/openapi.json")
@public
def get_openapi() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if DOCUMENT not in app.extensions:
        app.extensions[DOCUMENT] = build_document(app, ROUTES, current_services().settings)
    return jsonify(app.extensions[DOCUMENT])


# Swagger UI over this document at /docs/ (/docs redirects there). Its scripts and styles
# are served from the installed package, so the page works with no outside network.
interactive_docs = get_swaggerui_blueprint(
    "/docs",
    "/openapi.json",
    config={"app_name": "ATM transaction processor API"},
    blueprint_name="interactive_docs",
)
