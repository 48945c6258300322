"""The money rules applied to a chunk held in memory: no database, no broker, no clock."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import (
    AccountClosed,
    AccountFrozen,
    AccountNotEmpty,
    AccountNotFound,
    AlreadyReversed,
    HoldNotActive,
    HoldNotFound,
    InsufficientFunds,
    InvalidAmount,
    JobNotFound,
    LimitExceeded,
    NotReversible,
)
from shared.ledger.chunk import AccountState, Chunk, Outcome, QueuedJob, TargetJob
from shared.ledger.rules import decide, expire_due_holds
from shared.store.models import (
    ACTIVE,
    CAPTURE,
    CAPTURED,
    CLOSED,
    CREDIT,
    DEBIT,
    DEPOSIT,
    EXPIRED,
    FAILED,
    FROZEN,
    HOLD,
    REVERSAL,
    SUCCEEDED,
    TRANSFER,
    TRANSFER_IN,
    TRANSFER_OUT,
    UPDATE_ACCOUNT,
    VOID,
    VOIDED,
    WITHDRAW,
)
from shared.timestamps import utc_day

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TODAY = utc_day(NOW)  # "2024-05-01"
YESTERDAY = "2024-04-30"
REF, META = "atm-7", '{"terminal": "T1"}'

_ids = itertools.count(1)


# --- building jobs, accounts and chunks -------------------------------------------------


def job(
    op_type: str,
    account_number: str = "A",
    amount: int = 0,
    *,
    to_account: str | None = None,
    target_id: str | None = None,
    details: dict[str, object] | None = None,
) -> QueuedJob:
    """A queued job as the applier reads it, with a fresh job id."""
    return QueuedJob(
        id=None,
        job_id=f"job-{next(_ids)}",
        partition=0,
        account_number=account_number,
        type=op_type,
        amount=amount,
        batch_id=None,
        reference=REF,
        metadata=META,
        request_id=None,
        to_account=to_account,
        target_id=target_id,
        details=None if details is None else json.dumps(details),
        batch_index=None,
        submitted_by=None,
    )


def withdraw(amount: int, account_number: str = "A") -> QueuedJob:
    return job(WITHDRAW, account_number, amount)


def deposit(amount: int, account_number: str = "A") -> QueuedJob:
    return job(DEPOSIT, account_number, amount)


def transfer(amount: int, source: str = "A", destination: str = "B") -> QueuedJob:
    return job(TRANSFER, source, amount, to_account=destination)


def hold(amount: int, hold_id: str = "h1", expires_in: int | None = None) -> QueuedJob:
    details = None if expires_in is None else {"expires_in": expires_in}
    return job(HOLD, "A", amount, target_id=hold_id, details=details)


def capture(amount: int, hold_id: str = "h1") -> QueuedJob:
    return job(CAPTURE, "A", amount, target_id=hold_id)


def void(hold_id: str = "h1") -> QueuedJob:
    return job(VOID, "A", target_id=hold_id)


def reverse(target_id: str, account_number: str = "A", other: str | None = None) -> QueuedJob:
    """A reversal routed as the web routes it: to the account credited back, or debited
    (a transfer's destination, with its source as `to_account`)."""
    return job(REVERSAL, account_number, to_account=other, target_id=target_id)


def update(account_number: str = "A", **changes: object) -> QueuedJob:
    return job(UPDATE_ACCOUNT, account_number, details=changes)


def account(
    number: str = "A",
    balance: int = 10_000,
    *,
    held: int = 0,
    status: str = ACTIVE,
    daily_limit: int | None = None,
    limit_day: str | None = None,
    withdrawn: int = 0,
    overdraft: int = 0,
) -> AccountState:
    return AccountState(number, balance, held, status, daily_limit, limit_day, withdrawn, overdraft)


def target(
    job_id: str,
    op_type: str,
    amount: int,
    *,
    status: str = SUCCEEDED,
    account_number: str = "A",
    to_account: str | None = None,
    reversed_by: str | None = None,
) -> TargetJob:
    return TargetJob(job_id, op_type, status, account_number, to_account, amount, reversed_by)


def chunk(
    *accounts: AccountState, targets: tuple[TargetJob, ...] = (), now: datetime = NOW
) -> Chunk:
    """What the applier builds from the rows it read (see apply_pending)."""
    return Chunk(
        now,
        utc_day(now),
        {a.number: a for a in accounts},
        {},
        {t.job_id: t for t in targets},
    )


def at(c: Chunk, now: datetime) -> Chunk:
    """The same rows seen by a later apply, at another clock."""
    c.now, c.today = now, utc_day(now)
    return c


def ok(c: Chunk, j: QueuedJob) -> Outcome:
    outcome = decide(j, c)
    assert (outcome.status, outcome.error_type) == (SUCCEEDED, None), outcome.error_message
    return outcome


def refused(c: Chunk, j: QueuedJob) -> str:
    """Decide a job that must fail; it must change nothing at all. Returns the error type."""
    before = copy.deepcopy(c)
    outcome = decide(j, c)
    assert outcome.status == FAILED
    assert outcome.error_message
    assert (outcome.new_balance, outcome.to_balance, outcome.result) == (None, None, None)
    assert c == before
    return outcome.error_type or ""


# --- withdraw ---------------------------------------------------------------------------


def test_withdraw_debits_the_balance_with_one_entry() -> None:
    a = account(balance=10_000)
    c = chunk(a)
    j = withdraw(2_500)
    outcome = ok(c, j)
    assert outcome.new_balance == 7_500
    assert (a.balance, a.held, a.changed) == (7_500, 0, True)
    assert c.entries == [("A", j.job_id, WITHDRAW, 2_500, 7_500, REF, META, None, None)]
    assert (a.limit_day, a.withdrawn) == (TODAY, 2_500)


def test_withdraw_may_take_exactly_the_available_balance() -> None:
    a = account(balance=10_000, held=3_000)
    ok(chunk(a), withdraw(7_000))
    assert (a.balance, a.available) == (3_000, 0)


def test_withdraw_beyond_the_available_balance_is_insufficient_funds() -> None:
    # 7,001 is within the balance but not within balance - held
    c = chunk(account(balance=10_000, held=3_000))
    assert refused(c, withdraw(7_001)) == InsufficientFunds.type
    assert refused(c, withdraw(10_001)) == InsufficientFunds.type


def test_insufficient_funds_message_names_amount_and_available() -> None:
    outcome = decide(withdraw(7_001), chunk(account(balance=10_000, held=3_000)))
    assert outcome.error_message == "insufficient funds for 70.01: 70.00 available"


def test_an_overdraft_limit_lets_debits_go_that_far_below_zero_and_no_further() -> None:
    a = account(balance=1_000, held=500, overdraft=2_000)
    c = chunk(a, account("B", 0))
    assert refused(c, withdraw(2_501)) == InsufficientFunds.type  # 5.00 + 20.00 available
    assert ok(c, withdraw(2_500)).new_balance == -1_500
    # The entry that took the available balance below zero records the limit it used.
    assert c.entries[-1] == ("A", c.entries[-1][1], WITHDRAW, 2_500, -1_500, REF, META, None, 2_000)
    assert refused(c, transfer(1)) == InsufficientFunds.type
    assert refused(c, hold(1)) == InsufficientFunds.type
    message = decide(withdraw(1), c).error_message
    assert (
        message == "insufficient funds for 0.01: -20.00 available with an overdraft limit of 20.00"
    )
    assert ok(c, deposit(600)).new_balance == -900
    assert c.entries[-1][-1] == 2_000  # still below zero available: the limit is noted


def test_a_lowered_overdraft_limit_refuses_debits_until_the_account_is_back_within_it() -> None:
    a = account(balance=-1_500, overdraft=2_000)
    c = chunk(a)
    assert ok(c, update(overdraft_limit=500)).result["overdraft_limit"] == 5.0
    assert refused(c, withdraw(1)) == InsufficientFunds.type
    ok(c, deposit(1_100))  # -4.00: within 5.00 again
    assert ok(c, withdraw(100)).new_balance == -500
    assert refused(c, withdraw(1)) == InsufficientFunds.type


def test_a_capture_takes_what_its_hold_reserved_whatever_the_limit_is_now() -> None:
    a = account(balance=1_000, overdraft=3_000)
    c = chunk(a)
    ok(c, hold(3_500))
    ok(c, update(overdraft_limit=0))
    assert ok(c, capture(3_500)).new_balance == -2_500


def test_withdraw_up_to_the_daily_limit_and_not_a_cent_more() -> None:
    a = account(balance=100_000, daily_limit=5_000, limit_day=TODAY, withdrawn=4_000)
    c = chunk(a)
    assert refused(c, withdraw(1_001)) == LimitExceeded.type
    ok(c, withdraw(1_000))
    assert (a.balance, a.withdrawn) == (99_000, 5_000)
    assert refused(c, withdraw(1)) == LimitExceeded.type


def test_the_daily_limit_counts_per_utc_day() -> None:
    a = account(balance=100_000, daily_limit=5_000)
    c = chunk(a, now=datetime(2024, 5, 1, 23, 59, 59, tzinfo=UTC))
    ok(c, withdraw(5_000))
    assert refused(c, withdraw(1)) == LimitExceeded.type
    at(c, datetime(2024, 5, 2, 0, 0, 0, tzinfo=UTC))
    ok(c, withdraw(5_000))
    assert (a.limit_day, a.withdrawn, a.balance) == ("2024-05-02", 5_000, 90_000)


def test_a_count_left_from_an_earlier_day_does_not_hold_today_back() -> None:
    a = account(daily_limit=5_000, limit_day=YESTERDAY, withdrawn=5_000)
    ok(chunk(a), withdraw(5_000))
    assert (a.limit_day, a.withdrawn) == (TODAY, 5_000)


def test_a_limit_set_later_in_the_day_sees_the_days_withdrawals() -> None:
    a = account(balance=100_000)
    c = chunk(a)
    ok(c, withdraw(3_000))
    ok(c, update(daily_withdrawal_limit=5_000))
    assert refused(c, withdraw(2_001)) == LimitExceeded.type
    ok(c, withdraw(2_000))
    assert (a.balance, a.withdrawn) == (95_000, 5_000)


@pytest.mark.parametrize(
    ("status", "error"), [(FROZEN, AccountFrozen.type), (CLOSED, AccountClosed.type)]
)
def test_withdraw_from_a_frozen_or_closed_account_is_refused(status: str, error: str) -> None:
    assert refused(chunk(account(status=status)), withdraw(100)) == error


def test_withdraw_from_an_unknown_account_is_refused() -> None:
    assert refused(chunk(account("A")), withdraw(100, "Z")) == AccountNotFound.type


# --- deposit ----------------------------------------------------------------------------


def test_deposit_credits_the_balance_with_one_entry() -> None:
    a = account(balance=1_000, daily_limit=5_000, limit_day=TODAY, withdrawn=5_000)
    c = chunk(a)
    j = deposit(500)
    assert ok(c, j).new_balance == 1_500
    assert a.balance == 1_500
    assert c.entries == [("A", j.job_id, DEPOSIT, 500, 1_500, REF, META, None, None)]
    assert a.withdrawn == 5_000  # a deposit gives no limit room back


@pytest.mark.parametrize(
    ("status", "error"), [(FROZEN, AccountFrozen.type), (CLOSED, AccountClosed.type)]
)
def test_deposit_to_a_frozen_or_closed_account_is_refused(status: str, error: str) -> None:
    assert refused(chunk(account(status=status)), deposit(100)) == error


def test_deposit_to_an_unknown_account_is_refused() -> None:
    assert refused(chunk(account("A")), deposit(100, "Z")) == AccountNotFound.type


# --- transfer ---------------------------------------------------------------------------


def test_transfer_debits_the_source_then_credits_the_destination() -> None:
    a, b = account("A", 10_000), account("B", 1_000)
    c = chunk(a, b)
    j = transfer(2_500)
    outcome = ok(c, j)
    assert (outcome.new_balance, outcome.to_balance) == (7_500, 3_500)
    assert (a.balance, b.balance) == (7_500, 3_500)
    assert c.entries == [
        ("A", j.job_id, TRANSFER_OUT, 2_500, 7_500, REF, META, None, None),
        ("B", j.job_id, TRANSFER_IN, 2_500, 3_500, REF, META, None, None),
    ]
    assert (a.withdrawn, b.withdrawn, b.limit_day) == (2_500, 0, None)


def test_transfer_beyond_the_sources_available_balance_is_refused() -> None:
    c = chunk(account("A", 10_000, held=3_000), account("B", 0))
    assert refused(c, transfer(7_001)) == InsufficientFunds.type


@pytest.mark.parametrize(
    ("side", "status", "error"),
    [
        ("A", FROZEN, AccountFrozen.type),
        ("A", CLOSED, AccountClosed.type),
        ("B", FROZEN, AccountFrozen.type),
        ("B", CLOSED, AccountClosed.type),
    ],
)
def test_transfer_from_or_to_a_frozen_or_closed_account_is_refused(
    side: str, status: str, error: str
) -> None:
    accounts = {"A": account("A", 10_000), "B": account("B", 0)}
    accounts[side].status = status
    assert refused(chunk(*accounts.values()), transfer(100)) == error


def test_transfer_to_an_unknown_account_is_refused() -> None:
    assert refused(chunk(account("A")), transfer(100, "A", "Z")) == AccountNotFound.type


def test_transfer_counts_against_the_sources_daily_limit() -> None:
    a, b = account("A", 100_000, daily_limit=5_000), account("B", 0, daily_limit=1)
    c = chunk(a, b)
    ok(c, withdraw(3_000))
    assert refused(c, transfer(2_001)) == LimitExceeded.type
    ok(c, transfer(2_000))
    assert (a.withdrawn, b.balance) == (5_000, 2_000)
    assert refused(c, withdraw(1)) == LimitExceeded.type


# --- holds ------------------------------------------------------------------------------


def test_hold_reduces_the_available_balance_but_not_the_balance() -> None:
    a = account(balance=10_000)
    c = chunk(a)
    j = hold(3_000, "h1", expires_in=60)
    outcome = ok(c, j)
    assert (a.balance, a.held, a.available) == (10_000, 3_000, 7_000)
    assert outcome.new_balance == 10_000
    assert outcome.result is not None
    assert (outcome.result["available_balance"], outcome.result["balance"]) == (70.0, 100.0)
    assert c.entries == []  # a hold moves no money
    h = c.holds["h1"]
    assert (h.job_id, h.account_number, h.amount, h.status) == (j.job_id, "A", 3_000, ACTIVE)
    assert (h.limit_day, h.expires_at, h.new) == (TODAY, NOW + timedelta(seconds=60), True)
    assert a.withdrawn == 3_000  # a hold counts against the limit when placed
    assert refused(c, withdraw(7_001)) == InsufficientFunds.type
    ok(c, withdraw(7_000))


def test_a_hold_expires_in_ten_minutes_unless_told() -> None:
    c = chunk(account())
    ok(c, hold(100))
    assert c.holds["h1"].expires_at == NOW + timedelta(seconds=600)


def test_hold_beyond_the_available_balance_or_the_limit_is_refused() -> None:
    c = chunk(account(balance=10_000, held=2_000, daily_limit=5_000))
    assert refused(c, hold(8_001)) == InsufficientFunds.type
    assert refused(c, hold(5_001)) == LimitExceeded.type


def test_capture_of_the_whole_hold_debits_it_once() -> None:
    a = account(balance=10_000, daily_limit=5_000)
    c = chunk(a)
    ok(c, hold(3_000))
    j = capture(3_000)
    outcome = ok(c, j)
    assert outcome.new_balance == 7_000
    assert (a.balance, a.held, a.available) == (7_000, 0, 7_000)
    assert c.entries == [("A", j.job_id, CAPTURE, 3_000, 7_000, REF, META, None, None)]
    h = c.holds["h1"]
    assert (h.status, h.captured_amount, h.completed_at) == (CAPTURED, 3_000, NOW)
    assert a.withdrawn == 3_000  # counted when held, not again when captured


def test_capture_for_less_frees_the_rest_and_its_limit_room() -> None:
    a = account(balance=10_000, daily_limit=5_000)
    c = chunk(a)
    ok(c, hold(4_000))
    ok(c, capture(1_500))
    assert (a.balance, a.held, a.available, a.withdrawn) == (8_500, 0, 8_500, 1_500)
    assert c.holds["h1"].captured_amount == 1_500
    ok(c, withdraw(3_500))
    assert refused(c, withdraw(1)) == LimitExceeded.type


@pytest.mark.parametrize("on_other_account", [capture, void], ids=["capture", "void"])
def test_a_hold_is_captured_or_voided_only_by_its_own_account(on_other_account) -> None:
    c = chunk(account(balance=10_000), account("B", balance=10_000))
    ok(c, hold(3_000))
    named_elsewhere = on_other_account(*([3_000] if on_other_account is capture else []))
    assert refused(c, named_elsewhere._replace(account_number="B")) == HoldNotFound.type


def test_capture_of_more_than_the_hold_is_refused() -> None:
    c = chunk(account(balance=10_000))
    ok(c, hold(3_000))
    assert refused(c, capture(3_001)) == InvalidAmount.type


def test_void_releases_the_hold_and_its_limit_room() -> None:
    a = account(balance=10_000, daily_limit=5_000)
    c = chunk(a)
    ok(c, hold(3_000))
    outcome = ok(c, void())
    assert outcome.new_balance == 10_000
    assert (a.balance, a.held, a.withdrawn) == (10_000, 0, 0)
    assert c.entries == []
    assert (c.holds["h1"].status, c.holds["h1"].completed_at) == (VOIDED, NOW)
    ok(c, withdraw(5_000))


def test_a_hold_ends_once() -> None:
    c = chunk(account(balance=10_000))
    ok(c, hold(3_000))
    ok(c, void())
    assert refused(c, capture(3_000)) == HoldNotActive.type
    assert refused(c, void()) == HoldNotActive.type


def test_capture_or_void_of_an_unknown_hold_is_refused() -> None:
    c = chunk(account())
    assert refused(c, capture(100, "nope")) == HoldNotFound.type
    assert refused(c, void("nope")) == HoldNotFound.type


def test_capture_just_before_expiry_succeeds() -> None:
    c = chunk(account(balance=10_000))
    ok(c, hold(3_000, expires_in=60))
    at(c, NOW + timedelta(seconds=59))
    ok(c, capture(3_000))
    assert c.holds["h1"].status == CAPTURED


@pytest.mark.parametrize("make", [lambda: capture(3_000), void], ids=["capture", "void"])
def test_a_hold_met_at_its_expiry_is_expired_and_not_capturable(
    make: Callable[[], QueuedJob],
) -> None:
    a = account(balance=10_000, daily_limit=5_000)
    c = chunk(a)
    ok(c, hold(3_000, expires_in=60))
    expiry = NOW + timedelta(seconds=60)
    at(c, expiry)
    outcome = decide(make(), c)
    assert (outcome.status, outcome.error_type) == (FAILED, HoldNotActive.type)
    # The one change a failed job leaves: the hold it met is ended by this clock.
    h = c.holds["h1"]
    assert (h.status, h.completed_at, h.captured_amount) == (EXPIRED, expiry, 0)
    assert (a.balance, a.held, a.withdrawn) == (10_000, 0, 0)
    assert c.entries == []
    assert refused(c, capture(3_000)) == HoldNotActive.type


def test_expire_due_holds_ends_only_active_holds_that_are_due() -> None:
    a = account(balance=10_000)
    c = chunk(a)
    ok(c, hold(1_000, "due", expires_in=60))
    ok(c, hold(2_000, "later", expires_in=61))
    ok(c, hold(500, "captured", expires_in=10))
    ok(c, capture(500, "captured"))
    at(c, NOW + timedelta(seconds=60))
    assert expire_due_holds(c) == 1
    statuses = {h.hold_id: h.status for h in c.holds.values()}
    assert statuses == {"due": EXPIRED, "later": ACTIVE, "captured": CAPTURED}
    assert (a.balance, a.held, a.withdrawn) == (9_500, 2_000, 2_500)
    assert expire_due_holds(c) == 0


def test_a_hold_expiring_on_a_later_day_gives_no_room_to_that_day() -> None:
    a = account(balance=100_000, daily_limit=5_000)
    c = chunk(a, now=datetime(2024, 5, 1, 23, 0, tzinfo=UTC))
    ok(c, hold(5_000, expires_in=7_200))
    at(c, datetime(2024, 5, 2, 0, 30, tzinfo=UTC))
    ok(c, withdraw(1_000))
    at(c, datetime(2024, 5, 2, 1, 0, tzinfo=UTC))
    assert expire_due_holds(c) == 1
    assert (a.limit_day, a.withdrawn, a.held) == ("2024-05-02", 1_000, 0)


# --- reversals --------------------------------------------------------------------------


@pytest.mark.parametrize("reversed_type", [WITHDRAW, CAPTURE])
def test_reversal_of_a_withdrawal_or_capture_credits_it_back(reversed_type: str) -> None:
    a = account(balance=7_500, daily_limit=5_000, limit_day=TODAY, withdrawn=2_500)
    c = chunk(a, targets=(target("w1", reversed_type, 2_500),))
    j = reverse("w1")
    outcome = ok(c, j)
    assert outcome.new_balance == a.balance == 10_000
    assert c.entries == [("A", j.job_id, REVERSAL, 2_500, 10_000, REF, META, CREDIT, None)]
    assert c.reversed == {"w1": j.job_id}
    assert outcome.result is not None
    assert (outcome.result["reversed_job_id"], outcome.result["amount"]) == ("w1", 25.0)
    assert a.withdrawn == 2_500  # reversals give no limit room back


def test_reversal_of_a_deposit_debits_it_without_counting_against_the_limit() -> None:
    a = account(balance=10_000, daily_limit=1_000, limit_day=TODAY, withdrawn=1_000)
    c = chunk(a, targets=(target("d1", DEPOSIT, 4_000),))
    j = reverse("d1")
    assert ok(c, j).new_balance == 6_000
    assert c.entries == [("A", j.job_id, REVERSAL, 4_000, 6_000, REF, META, DEBIT, None)]
    assert a.withdrawn == 1_000


def test_reversal_of_a_deposit_needs_the_money_available() -> None:
    c = chunk(account(balance=5_000, held=2_000), targets=(target("d1", DEPOSIT, 4_000),))
    assert refused(c, reverse("d1")) == InsufficientFunds.type


def test_reversal_of_a_transfer_moves_the_money_back_to_the_source() -> None:
    a, b = account("A", 7_500), account("B", 3_500)
    c = chunk(a, b, targets=(target("t1", TRANSFER, 2_500, account_number="A", to_account="B"),))
    j = reverse("t1", "B", other="A")
    assert ok(c, j).new_balance == 1_000
    assert (a.balance, b.balance) == (10_000, 1_000)
    assert c.entries == [
        ("B", j.job_id, REVERSAL, 2_500, 1_000, REF, META, DEBIT, None),
        ("A", j.job_id, REVERSAL, 2_500, 10_000, REF, META, CREDIT, None),
    ]


@pytest.mark.parametrize(
    ("b_balance", "a_status", "error"),
    [
        (2_499, ACTIVE, InsufficientFunds.type),
        (3_500, FROZEN, AccountFrozen.type),
        (3_500, CLOSED, AccountClosed.type),
    ],
)
def test_reversal_of_a_transfer_is_refused_when_either_side_cannot_move(
    b_balance: int, a_status: str, error: str
) -> None:
    a, b = account("A", 7_500, status=a_status), account("B", b_balance)
    c = chunk(a, b, targets=(target("t1", TRANSFER, 2_500, account_number="A", to_account="B"),))
    assert refused(c, reverse("t1", "B", other="A")) == error


def test_reversal_credit_to_a_frozen_account_is_refused() -> None:
    c = chunk(account(status=FROZEN), targets=(target("w1", WITHDRAW, 100),))
    assert refused(c, reverse("w1")) == AccountFrozen.type


def test_reversal_of_an_unknown_job_is_refused() -> None:
    assert refused(chunk(account()), reverse("nope")) == JobNotFound.type


@pytest.mark.parametrize(
    ("reversed_type", "status"),
    [
        (WITHDRAW, FAILED),
        (DEPOSIT, FAILED),
        (HOLD, SUCCEEDED),
        (VOID, SUCCEEDED),
        (REVERSAL, SUCCEEDED),
        (UPDATE_ACCOUNT, SUCCEEDED),
    ],
)
def test_only_a_succeeded_money_movement_is_reversible(reversed_type: str, status: str) -> None:
    c = chunk(account(), targets=(target("x1", reversed_type, 100, status=status),))
    assert refused(c, reverse("x1")) == NotReversible.type


def test_a_job_already_reversed_is_not_reversed_again() -> None:
    c = chunk(account(), targets=(target("w1", WITHDRAW, 100, reversed_by="r0"),))
    assert refused(c, reverse("w1")) == AlreadyReversed.type


def test_of_two_reversals_in_one_chunk_only_the_first_succeeds() -> None:
    a = account(balance=7_500)
    c = chunk(a, targets=(target("w1", WITHDRAW, 2_500),))
    first = reverse("w1")
    ok(c, first)
    assert refused(c, reverse("w1")) == AlreadyReversed.type
    assert a.balance == 10_000
    assert c.reversed == {"w1": first.job_id}


# --- account controls -------------------------------------------------------------------


def test_a_frozen_account_refuses_money_but_still_releases_holds() -> None:
    a = account(balance=10_000)
    c = chunk(a)
    ok(c, hold(1_000, "h1"))
    ok(c, hold(1_000, "h2"))
    ok(c, update(status=FROZEN))
    assert a.status == FROZEN
    for refused_job in (withdraw(1), deposit(1), hold(1, "h3"), capture(1_000, "h1")):
        assert refused(c, refused_job) == AccountFrozen.type
    ok(c, void("h2"))
    assert a.held == 1_000
    ok(c, update(status=ACTIVE))
    ok(c, withdraw(1))
    assert a.balance == 9_999


@pytest.mark.parametrize(("balance", "held"), [(1, 0), (1_000, 1_000), (0, 1)])
def test_an_account_closes_only_with_zero_balance_and_no_hold(balance: int, held: int) -> None:
    # (0, 1) cannot arise through the rules; the check stands on its own all the same
    c = chunk(account(balance=balance, held=held))
    assert refused(c, update(status=CLOSED)) == AccountNotEmpty.type


def test_a_closed_account_refuses_everything() -> None:
    a = account(balance=0)
    c = chunk(a, account("B", 10_000))
    outcome = ok(c, update(status=CLOSED))
    assert outcome.result is not None and outcome.result["status"] == CLOSED
    assert (a.status, a.controls_changed) == (CLOSED, True)
    for closed_job in (
        withdraw(1),
        deposit(1),
        hold(1),
        update(status=ACTIVE),
        update(daily_withdrawal_limit=100),
    ):
        assert refused(c, closed_job) == AccountClosed.type
    assert refused(c, transfer(1, "B", "A")) == AccountClosed.type


def test_setting_and_removing_the_daily_limit() -> None:
    a = account(balance=100_000)
    c = chunk(a)
    outcome = ok(c, update(daily_withdrawal_limit=5_000))
    assert (a.daily_limit, a.status, a.controls_changed) == (5_000, ACTIVE, True)
    assert outcome.result == a.view()
    assert outcome.result["daily_withdrawal_limit"] == 50.0
    assert refused(c, withdraw(5_001)) == LimitExceeded.type
    ok(c, update(daily_withdrawal_limit=None))
    ok(c, withdraw(5_001))
    assert a.daily_limit is None


def test_an_empty_update_changes_nothing_that_matters() -> None:
    a = account(balance=100, status=FROZEN, daily_limit=700)
    assert ok(chunk(a), update()).new_balance == 100
    assert (a.balance, a.status, a.daily_limit) == (100, FROZEN, 700)


# --- order within a chunk ---------------------------------------------------------------


def test_jobs_on_one_account_see_each_others_effects_in_order() -> None:
    a = account(balance=500, daily_limit=1_000)
    c = chunk(a)
    jobs = [
        withdraw(600),  # insufficient: 500
        deposit(700),  # 1,200
        hold(400),  # available 800
        withdraw(801),  # insufficient: 800 available
        withdraw(700),  # limit: 400 held + 700 > 1,000
        withdraw(500),  # 700; 900 counted
        capture(300),  # 400; 100 given back, 800 counted
        withdraw(200),  # 200; 1,000 counted
    ]
    outcomes = [decide(j, c) for j in jobs]
    assert [(o.status, o.new_balance, o.error_type) for o in outcomes] == [
        (FAILED, None, InsufficientFunds.type),
        (SUCCEEDED, 1_200, None),
        (SUCCEEDED, 1_200, None),
        (FAILED, None, InsufficientFunds.type),
        (FAILED, None, LimitExceeded.type),
        (SUCCEEDED, 700, None),
        (SUCCEEDED, 400, None),
        (SUCCEEDED, 200, None),
    ]
    assert [(e[2], e[3], e[4]) for e in c.entries] == [
        (DEPOSIT, 700, 1_200),
        (WITHDRAW, 500, 700),
        (CAPTURE, 300, 400),
        (WITHDRAW, 200, 200),
    ]
    assert (a.balance, a.held, a.withdrawn) == (200, 0, 1_000)


def test_money_transferred_in_is_spendable_by_the_next_job() -> None:
    a, b = account("A", 1_000), account("B", 0)
    c = chunk(a, b)
    assert refused(c, withdraw(1, "B")) == InsufficientFunds.type
    ok(c, transfer(1_000))
    assert ok(c, withdraw(1_000, "B")).new_balance == 0
    assert refused(c, withdraw(1, "A")) == InsufficientFunds.type
