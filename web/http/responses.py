"""The response envelope: {"success", "data" | "error", "code"} with code equal to the status."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response, jsonify


def success(
    data: Mapping[str, object], status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    response = jsonify({"success": True, "data": data, "code": status})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def failure(
    error_type: str,
    message: str,
    status: int,
    extra: Mapping[str, object] | None = None,
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, object] | None = None,
) -> Response:
    body: dict[str, object] = {"success": False}
    if data is not None:
        body["data"] = data
    # A message may quote the client's input; a lone surrogate in it (an unpaired \ud800
    # escape) is written as that escape, since UTF-8 cannot carry it.
    readable = message.encode("utf-8", "backslashreplace").decode()
    body["error"] = {"type": error_type, "message": readable, **(extra or {})}
    body["code"] = status
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response
