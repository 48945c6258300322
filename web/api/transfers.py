"""Transfers between two accounts: one job, both legs in one transaction when applied."""

from __future__ import annotations

from flask import Blueprint, Response

from shared.errors import InvalidTransfer
from shared.ledger.accounts import validate_account_number
from shared.ledger.money import parse_amount
from shared.store.models import TRANSFER
from web.http.auth import operate
from web.http.parsing import json_object_body
from web.serving.services import current_services
from web.serving.submission import submit_job

transfers = Blueprint("transfers", __name__)


@transfers.post("/transfers")
@operate
def create_transfer() -> Response:
    """Ordered with the source account's operations; an unknown account on either side is
    refused at once."""
    settings = current_services().settings
    body = json_object_body()
    source = validate_account_number(body.get("from_account"))
    destination = validate_account_number(body.get("to_account"))
    if source == destination:
        raise InvalidTransfer("from_account and to_account must be different accounts")
    amount = parse_amount(body.get("amount"), max_cents=settings.max_amount_cents)
    return submit_job(body, source, TRANSFER, amount, to_account=destination)
