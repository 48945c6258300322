"""The OpenAPI 3.1 document, built from a route table, the shapes' JSON schemas and the app.

Request bodies and query strings are the shapes the views check requests with
(shared/shapes/requests.py); answers are the response shapes (shared/shapes/responses.py).
Their limits come from the app's settings, and which operations need no key from the
views' own `@public` mark, so the document cannot disagree with either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from pydantic import TypeAdapter

from shared.shapes.checking import LimitedSchema, Limits, Shape
from shared.shapes.fields import ACCOUNT_NUMBER
from shared.shapes.responses import Failure
from web.http.auth import PUBLIC, SCOPE_ATTRIBUTE

Schema = dict[str, Any]
REF = "#/components/schemas/{model}"
FAILURES = {
    400: "invalid input",
    401: "no API key, or an unknown or revoked one (ATM_AUTH=required)",
    403: "the API key lacks the scope or the account",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    413: "body too large",
    415: "body is not JSON",
    422: "idempotency key reused",
    429: "rate limit of the API key passed",
    500: "unexpected failure",
    503: "overloaded",
}
KEYED_FAILURES = (401, 403, 429)  # what every operation but the public ones may answer
PATH_PARAMETERS: dict[str, Schema] = {"account_number": ACCOUNT_NUMBER}
PREFER: Schema = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "respond-async, wait=N (RFC 7240)",
}
IDEMPOTENCY_KEY: Schema = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}
BEARER: Schema = {
    "type": "http",
    "scheme": "bearer",
    "description": "an API key's secret; needed when ATM_AUTH=required",
}


@dataclass(frozen=True)
class Route:
    """One operation: `answers` maps each success status to its description and the shape
    of its `data` (None: a plain JSON object, not the envelope); its body is all of the
    shapes in `body` (an operation's own and TagsBody)."""

    method: str
    path: str  # as OpenAPI writes it: /accounts/{account_number}
    operation_id: str
    summary: str
    answers: Mapping[int, tuple[str, Any]]
    failures: tuple[int, ...]
    body: tuple[type[Shape], ...] = ()
    body_required: bool = True
    query: type[Shape] | None = None
    headers: tuple[Schema, ...] = ()
    description: str | None = None
    # What a failure status means here, where FAILURES does not say it best.
    failure_notes: Mapping[int, str] = field(default_factory=dict)

    @property
    def shapes(self) -> list[Any]:
        """The shapes this operation's document refers to: its body and its answers'."""
        answers = [shape for _, shape in self.answers.values() if shape is not None]
        return [*self.body, *answers]


def flask_rule(path: str) -> str:
    """The Flask rule of an OpenAPI path: {name} becomes <name>."""
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


def build_document(app: Flask, routes: Sequence[Route], limits: Limits) -> Schema:
    """The document of `routes` under `limits`; every operation needs the bearer key (and
    may answer 401, 403, 429) unless its view is marked public."""
    generator = LimitedSchema.under(limits)
    shapes = list(dict.fromkeys(shape for route in routes for shape in route.shapes))
    refs, definitions = TypeAdapter.json_schemas(
        [(shape, "validation", TypeAdapter(shape)) for shape in [*shapes, Failure]],
        ref_template=REF,
        schema_generator=generator,
    )

    def ref(shape: Any) -> Schema:
        return refs[(shape, "validation")]

    public = public_rules(app)
    paths: dict[str, dict[str, Schema]] = {}
    for route in routes:
        operation = _operation(route, ref, generator)
        if (flask_rule(route.path), route.method) in public:
            operation["security"] = []
        else:
            operation["responses"].update(_failures(KEYED_FAILURES, ref))
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "ATM transaction processor", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": BEARER},
        },
        "security": [{"bearer": []}],
    }


def public_rules(app: Flask) -> set[tuple[str, str]]:
    """The (rule, method) pairs whose view is marked `@public`: they need no key."""
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if getattr(app.view_functions[rule.endpoint], SCOPE_ATTRIBUTE, None) == PUBLIC
    }


def _operation(
    route: Route, ref: Callable[[Any], Schema], generator: type[LimitedSchema]
) -> Schema:
    operation: Schema = {"summary": route.summary, "operationId": route.operation_id}
    if route.description:
        operation["description"] = route.description
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMETERS.get(name, {"type": "string"}),
        }
        for name in re.findall(r"\{(\w+)\}", route.path)
    ]
    if route.query is not None:
        query = route.query.model_json_schema(schema_generator=generator)
        parameters += [
            {"name": name, "in": "query", "schema": schema}
            for name, schema in query["properties"].items()
        ]
    parameters += route.headers
    if parameters:
        operation["parameters"] = parameters
    if route.body:
        parts = [ref(shape) for shape in route.body]
        schema = parts[0] if len(parts) == 1 else {"allOf": parts}
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": schema}},
        }
    responses = {
        str(status): _answer(
            description, {"type": "object"} if shape is None else _envelope(ref(shape))
        )
        for status, (description, shape) in route.answers.items()
    }
    responses.update(_failures(route.failures, ref, route.failure_notes))
    operation["responses"] = responses
    return operation


def _envelope(data: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["success", "data", "code"],
        "properties": {
            "success": {"type": "boolean", "const": True},
            "data": data,
            "code": {"type": "integer"},
        },
    }


def _failures(
    statuses: Sequence[int], ref: Callable[[Any], Schema], notes: Mapping[int, str] | None = None
) -> dict[str, Schema]:
    notes = notes or {}
    return {
        str(status): _answer(notes.get(status, FAILURES[status]), ref(Failure))
        for status in statuses
    }


def _answer(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}
