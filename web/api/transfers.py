"""Transfers between two accounts: one job, both legs in one transaction when applied."""

from __future__ import annotations

from flask import Blueprint, Response

from shared.shapes.requests import TransferBody
from shared.shapes.validating import validated
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
    body = json_object_body()
    transfer = validated(TransferBody, body, current_services().settings)
    return submit_job(
        body,
        transfer.from_account,
        TRANSFER,
        transfer.amount,
        to_account=transfer.to_account,
    )
