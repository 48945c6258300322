"""Holds (an ATM authorisation): read one, capture it, void it. Placing one is on accounts."""

from __future__ import annotations

from flask import Blueprint, Response

from shared.ledger.holds import HeldAmount, get_hold, held_amount
from shared.shapes.fields import HoldLimits
from shared.shapes.requests import CaptureBody
from shared.shapes.validating import validated
from shared.store.models import CAPTURE, VOID
from shared.views import hold_view
from web.http.auth import operate
from web.http.parsing import json_object_body
from web.http.responses import success
from web.serving.services import Services, current_services
from web.serving.submission import submit_job

holds = Blueprint("holds", __name__)


@holds.get("/holds/<hold_id>")
def get_hold_view(hold_id: str) -> Response:
    hold = current_services().reading(get_hold, hold_id)
    return success(hold_view(hold))


@holds.post("/holds/<hold_id>/capture")
@operate
def capture_hold(hold_id: str) -> Response:
    """Move the captured amount (the whole hold when none is given) out of the balance."""
    services = current_services()
    body = json_object_body(allow_empty=True)
    hold = find_hold(services, hold_id)
    capture = validated(CaptureBody, body, HoldLimits.of(services.settings, hold.amount))
    amount = hold.amount if capture.amount is None else capture.amount
    return _submit_for(hold.account_number, hold_id, CAPTURE, amount, body)


@holds.post("/holds/<hold_id>/void")
@operate
def void_hold(hold_id: str) -> Response:
    body = json_object_body(allow_empty=True)
    hold = find_hold(current_services(), hold_id)
    return _submit_for(hold.account_number, hold_id, VOID, hold.amount, body)


def find_hold(services: Services, hold_id: str) -> HeldAmount:
    """The hold's account and amount: remembered, or read (and then remembered)."""
    held = services.holds.get(hold_id)
    if held is None:
        held = services.reading(held_amount, hold_id)
        services.holds.remember(hold_id, held)
    return held


def _submit_for(
    account_number: str, hold_id: str, op_type: str, amount: int, body: dict[str, object]
) -> Response:
    """A capture or void is an operation of the hold's account, in its order."""
    return submit_job(body, account_number, op_type, amount, target_id=hold_id)
