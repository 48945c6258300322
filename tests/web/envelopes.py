"""The contract's envelope, checked on a Flask test response: JSON, `code` equal to the
status, and `data` on success or `error` {type, message} on failure."""

from __future__ import annotations

from werkzeug.test import TestResponse


def data_of(response: TestResponse, status: int = 200) -> dict:
    """The `data` of a success envelope answered with `status`."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    body = response.get_json()
    assert body == {"success": True, "data": body["data"], "code": status}
    assert isinstance(body["data"], dict)
    return body["data"]


def error_of(response: TestResponse, status: int, error_type: str) -> dict:
    """The `error` of a failure envelope answered with `status` and `error_type`."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    body = response.get_json()
    assert body == {"success": False, "error": body["error"], "code": status}
    assert body["error"]["type"] == error_type
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    return body["error"]
