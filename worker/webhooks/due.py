"""What claiming, sending and the retry policy hand each other: a delivery due, a send's result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple


class Due(NamedTuple):
    id: int | None  # the delivery row; None for an event sent for the first time
    event_id: str
    webhook_id: str
    type: str
    subject_id: str
    attempts: int
    created_at: datetime


@dataclass
class Result:
    """What one send came to: a status code, or an error without one; `deferred` for a
    delivery not tried because its receiver had already failed in this round."""

    due: Due
    status_code: int | None = None
    error: str | None = None
    deferred: bool = False
    gone: bool = False  # its webhook was deleted: never to be sent

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
