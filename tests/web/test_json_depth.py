"""The nesting check of request bodies, on bodies shaped like batches: many flat objects
passed over in bulk, one deep value among them still found."""

from __future__ import annotations

import json

import pytest

from web.http.parsing import MAX_JSON_DEPTH, _nests_deeper


def batch_body(deep_at: int | None, levels: int) -> tuple[object, bytes]:
    """10,000 operation objects; the one at `deep_at` carries a note of `levels` nested
    arrays, inside it (the body is level 1, its array 2, each operation 3)."""
    operations = [
        {"account_number": str(10**13 + index), "type": "deposit", "amount": "1.00"}
        for index in range(10_000)
    ]
    if deep_at is not None:
        operations[deep_at]["note"] = json.loads("[" * levels + "]" * levels)
    raw = json.dumps({"operations": operations}).encode()
    return json.loads(raw), raw


@pytest.mark.parametrize("deep_at", [0, 5_000, 9_999])
def test_a_deep_value_in_any_operation_is_found(deep_at: int) -> None:
    inside = MAX_JSON_DEPTH - 3  # the operation's own level is 3
    value, raw = batch_body(deep_at, inside)
    assert not _nests_deeper(value, MAX_JSON_DEPTH, raw)
    value, raw = batch_body(deep_at, inside + 1)
    assert _nests_deeper(value, MAX_JSON_DEPTH, raw)


def test_flat_operations_are_not_too_deep() -> None:
    value, raw = batch_body(None, 0)
    assert not _nests_deeper(value, MAX_JSON_DEPTH, raw)
