"""When the batch submitter may send a batch in doubt again under its Idempotency-Key."""

from __future__ import annotations

import pytest

from web.cli.batch.sender import may_resend, resend_margin_seconds


@pytest.mark.parametrize(
    ("ttl", "margin"),
    [(86_400, 8_640), (3_600, 360), (1_200, 300), (600, 300), (60, 30)],
)
def test_the_margin_is_a_tenth_of_the_ttl_at_least_5_minutes_at_most_half(
    ttl: float, margin: float
) -> None:
    assert resend_margin_seconds(ttl) == margin


@pytest.mark.parametrize(("ttl", "safe", "unsafe"), [(86_400, 77_000, 78_000), (600, 299, 301)])
def test_a_batch_in_doubt_is_sent_again_only_well_within_the_ttl(
    ttl: float, safe: float, unsafe: float
) -> None:
    sent_at = 1_700_000_000.0
    assert may_resend(sent_at, sent_at + safe, ttl)
    assert not may_resend(sent_at, sent_at + unsafe, ttl)
    assert not may_resend(sent_at, sent_at + ttl, ttl)  # the check had no margin before
