"""A batch body's items checked directly give what BatchBody gives, or defer to it."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

from shared.accepting import batches
from shared.accepting.batches import batch_operations, checked_batch
from shared.errors import DomainError
from shared.shapes.checking import StaticLimits
from shared.shapes.requests import BatchBody
from shared.shapes.validating import validated

LIMITS = StaticLimits(max_amount_cents=100_000, max_batch=50)
# Valid and invalid values of each field, as a JSON body carries them.
FIELDS = {
    "account_number": [
        "10001",
        "2",
        "0" * 34,
        "0" * 35,
        "12a",
        "",
        None,
        10001,
        "\u0661\u0662",
        "1\n",
    ],
    "type": ["withdraw", "deposit", "transfer", "Withdraw", "hold", None, 1],
    "to_account": ["10002", "10001", "x", None, 7],
    "amount": [
        "12.34",
        "12",
        "0.5",
        "1000",
        "1000.00",
        "1000.01",
        "0",
        "0.00",
        "-1",
        "1.234",
        "1.500",
        "1e2",
        " 1",
        5,
        0,
        -5,
        True,
        None,
        Decimal("12.5"),
        Decimal("0.001"),
        [],
    ],
    "reference": [None, "ref-1", "", "x" * 129, "é", 5],
    "metadata": [None, {"k": "v"}, {"n": Decimal("1.5")}, [], "text", {"big": "x" * 5000}],
}


def random_item(rng: random.Random) -> object:
    if rng.random() < 0.02:
        return rng.choice([[], "item", None, 5])
    item = {name: rng.choice(values) for name, values in FIELDS.items()}
    for name in list(item):
        if rng.random() < 0.15:
            del item[name]  # absent, which counts as null
    if rng.random() < 0.05:
        item["extra"] = 1  # ignored
    return item


def outcome(check, body: object) -> object:  # type: ignore[no-untyped-def]
    try:
        return check(body)
    except DomainError as error:
        return (error.type, error.message, getattr(error, "details", None))


@pytest.mark.parametrize("seed", range(40))
def test_direct_checks_agree_with_the_model(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        size = rng.choice([0, 1, 2, 5, 50, 51])
        items = [random_item(rng) for _ in range(size)]
        if rng.random() < 0.5:  # mostly valid bodies: the direct path's own ground
            items = [
                {"account_number": str(10_000 + i), "type": "deposit", "amount": "1.25"}
                for i in range(size)
            ] + items[:1]
        body = rng.choice([{"operations": items}, {"operations": items, "x": 1}, items])

        def model(body: object) -> object:
            return batch_operations(validated(BatchBody, body, LIMITS).operations)

        assert outcome(lambda b: checked_batch(b, LIMITS, 1000)[0], body) == outcome(model, body)


def test_a_usual_batch_is_checked_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model is not run for a valid batch of plain operations (it would, and agree, if
    the direct path gave up: this keeps the direct path from silently going unused)."""
    body = json.loads(
        json.dumps(
            {
                "operations": [
                    {"account_number": "1", "type": "withdraw", "amount": "3.10"},
                    {"account_number": "1", "type": "transfer", "to_account": "2", "amount": 4},
                    {"account_number": "2", "type": "deposit", "amount": "7", "reference": "r"},
                ]
            }
        )
    )

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model ran")

    monkeypatch.setattr(batches, "validated", refuse)
    operations, _ = checked_batch(body, LIMITS, 1000)
    assert [(o.index, o.type, o.amount, o.to_account) for o in operations] == [
        (0, "withdraw", 310, None),
        (1, "transfer", 400, "2"),
        (2, "deposit", 700, None),
    ]


@pytest.mark.parametrize(
    "item",
    [
        {"account_number": "1", "type": "transfer", "to_account": "1", "amount": "1"},
        {"account_number": "1", "type": "transfer", "amount": "1"},
        {"account_number": "1", "type": "deposit", "to_account": "x", "amount": "1"},
        {"account_number": "1", "type": "deposit", "amount": True},
        {"account_number": "1", "type": "deposit", "amount": Decimal("2.5")},
        {"account_number": "1", "type": "deposit", "amount": "1000.01"},
        {"account_number": "\u0661", "type": "deposit", "amount": "1"},
        {"account_number": "1", "type": "deposit", "amount": "1", "reference": ""},
        {"account_number": "1", "type": "deposit", "amount": "1", "metadata": []},
        {"type": "deposit", "amount": "1"},
        ["1", "deposit", "1"],
    ],
    ids=repr,
)
def test_each_rule_gives_the_model_s_answer(item: object) -> None:
    body = {"operations": [{"account_number": "9", "type": "deposit", "amount": "1"}, item]}

    def model(body: object) -> object:
        return batch_operations(validated(BatchBody, body, LIMITS).operations)

    assert outcome(lambda b: checked_batch(b, LIMITS, 1000)[0], body) == outcome(model, body)
