"""Which account a hold belongs to and how much it holds, remembered by this web process.

A capture or void is an operation of its hold's account, so accepting one needs that
account (and the amount, to refuse capturing more than held at once). Neither ever
changes once the hold is placed, so what this process has seen (the holds it answered for,
and the ones it looked up) is remembered instead of read from the database again: on the
synchronous path that read is a database round trip and a thread hand-off per capture.
"""

from __future__ import annotations

import threading

from shared.ledger.holds import HeldAmount

DEFAULT_CAPACITY = 50_000  # about 10 MiB


class HoldDirectory:
    """A bounded map of hold id to (account, amount); the oldest entries go first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.entries: dict[str, HeldAmount] = {}
        self.lock = threading.Lock()

    def get(self, hold_id: str) -> HeldAmount | None:
        return self.entries.get(hold_id)

    def remember(self, hold_id: str, held: HeldAmount) -> None:
        with self.lock:
            self.entries[hold_id] = held
            while len(self.entries) > self.capacity:
                del self.entries[next(iter(self.entries))]
