"""The generated OpenAPI document, in-process: it describes exactly the routes the app
serves, its limits are the app's settings, and the public operations are the views marked
public."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.stack import RedisServer
from tests.web.in_process import in_process_settings, running_app
from web.http.documenting import flask_rule

# Served, but not part of the API the document describes: the Prometheus scrape, the
# operators' console and the interactive documentation's page and assets.
UNDOCUMENTED_BLUEPRINTS = {"metrics", "console", "interactive_docs"}
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}


def document_of(client: FlaskClient) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def routed_operations(app: Flask) -> set[tuple[str, str]]:
    """Every (rule, method) the app routes to one of the API's views."""
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        and rule.endpoint.partition(".")[0] not in UNDOCUMENTED_BLUEPRINTS
        for method in (rule.methods or set()) - IMPLICIT_METHODS
    }


def documented_operations(document: dict) -> set[tuple[str, str]]:
    return {
        (flask_rule(path), method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }


def test_the_document_describes_every_routed_operation_and_nothing_else(
    app: Flask, client: FlaskClient
) -> None:
    document = document_of(client)
    assert document["openapi"].startswith("3.")
    routed, documented = routed_operations(app), documented_operations(document)
    assert routed - documented == set(), "routed but not documented"
    assert documented - routed == set(), "documented but not routed"


def test_only_the_operations_marked_public_need_no_key(client: FlaskClient) -> None:
    document = document_of(client)
    assert document["security"] == [{"bearer": []}]
    assert "bearer" in document["components"]["securitySchemes"]
    public = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if operation.get("security") == []:
                public.add((method, path))
                assert "401" not in operation["responses"]
            else:
                assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
    assert public == {("get", "/health"), ("get", "/openapi.json")}


@pytest.fixture
def limited_app(tmp_path: Path, redis_server: RedisServer) -> Iterator[Flask]:
    settings = in_process_settings(
        tmp_path / "atm.db", redis_server.url, ATM_MAX_AMOUNT="2500.50", ATM_MAX_BATCH="77"
    )
    with running_app(settings) as app:
        yield app


def test_limits_in_the_document_are_the_settings(limited_app: Flask) -> None:
    schemas = document_of(limited_app.test_client())["components"]["schemas"]
    amount = schemas["AmountBody"]["properties"]["amount"]["oneOf"][0]
    assert amount["maximum"] == 2500.5
    assert schemas["BatchItem"]["properties"]["amount"]["oneOf"][0]["maximum"] == 2500.5
    operations = schemas["BatchBody"]["properties"]["operations"]
    assert (operations["minItems"], operations["maxItems"]) == (1, 77)


def test_a_request_body_is_the_shape_the_view_checks(client: FlaskClient) -> None:
    document = document_of(client)
    withdraw = document["paths"]["/accounts/{account_number}/withdraw"]["post"]
    body = withdraw["requestBody"]["content"]["application/json"]["schema"]
    shapes = ["#/components/schemas/AmountBody", "#/components/schemas/TagsBody"]
    assert body == {"allOf": [{"$ref": ref} for ref in shapes]}
    hold = document["components"]["schemas"]["HoldBody"]["properties"]["expires_in"]
    assert (hold["minimum"], hold["maximum"]) == (1, 604_800)
