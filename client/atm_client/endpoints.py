"""Every endpoint of the API, once for both clients.

Each method builds its `Call` and hands it to the client's `_send` (which, in `Client`,
returns the answer's data and, in `AsyncClient`, a coroutine of it), or to `_operate` for
an operation that may be answered 202 (then a job handle comes back instead of the
result).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from atm_client.requests import Call, Money, moment, money, prefer, tags


class Endpoints:
    """The API's operations; the client supplies `_send` and `_operate`."""

    def _send(self, call: Call, idempotency_key: str | None = None) -> Any:
        raise NotImplementedError

    def _operate(self, call: Call, idempotency_key: str | None = None) -> Any:
        raise NotImplementedError

    # --- accounts ------------------------------------------------------------------------

    def health(self) -> Any:
        return self._send(Call("GET", "/health"))

    def open_account(
        self,
        account_number: str | None = None,
        initial_balance: Money = 0,
        daily_withdrawal_limit: Money | None = None,
        overdraft_limit: Money = 0,
        *,
        idempotency_key: str | None = None,
    ) -> Any:
        body: dict[str, Any] = {
            "initial_balance": money(initial_balance),
            "overdraft_limit": money(overdraft_limit),
        }
        if account_number is not None:
            body["account_number"] = account_number
        if daily_withdrawal_limit is not None:
            body["daily_withdrawal_limit"] = money(daily_withdrawal_limit)
        return self._send(Call("POST", "/accounts", body=body), idempotency_key)

    def account(self, account_number: str) -> Any:
        return self._send(Call("GET", f"/accounts/{account_number}"))

    def balance(self, account_number: str, at: datetime | str | None = None) -> Any:
        """The balance now, or (with `at`) at that past moment."""
        params = {} if at is None else {"at": moment(at)}
        return self._send(Call("GET", f"/accounts/{account_number}/balance", params))

    def update_account(
        self, account_number: str, *, wait: float | None = None, **changes: Any
    ) -> Any:
        """Freeze, unfreeze, close (`status=`), set the daily limit
        (`daily_withdrawal_limit=`, None to lift it) or the overdraft limit
        (`overdraft_limit=`); applied in the account's order."""
        for name in ("daily_withdrawal_limit", "overdraft_limit"):
            if changes.get(name) is not None:
                changes[name] = money(changes[name])
        call = Call("PATCH", f"/accounts/{account_number}", body=changes, headers=prefer(wait))
        return self._operate(call)

    def accounts(self, limit: int = 100, after: str | None = None) -> Any:
        """A page of every account (admin): `{accounts, next_after}`."""
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        return self._send(Call("GET", "/accounts", params))

    def transactions(
        self,
        account_number: str,
        limit: int = 50,
        before: int | None = None,
        type: str | None = None,
        reference: str | None = None,
    ) -> Any:
        params = {"limit": limit, "before": before, "type": type, "reference": reference}
        params = {name: value for name, value in params.items() if value is not None}
        return self._send(Call("GET", f"/accounts/{account_number}/transactions", params))

    def statement(self, account_number: str, start: datetime | str, end: datetime | str) -> Any:
        """The entries dated in (start, end] with the balances at both ends."""
        params = {"from": moment(start), "to": moment(end)}
        return self._send(Call("GET", f"/accounts/{account_number}/statement", params))

    def statement_csv(self, account_number: str, start: datetime | str, end: datetime | str) -> Any:
        params = {"from": moment(start), "to": moment(end)}
        headers = {"Accept": "text/csv"}
        path = f"/accounts/{account_number}/statement"
        return self._send(Call("GET", path, params, headers=headers, raw=True))

    # --- money ---------------------------------------------------------------------------

    def withdraw(self, account_number: str, amount: Money, **options: Any) -> Any:
        """The result (200), or a job handle when the service answered 202 (with
        `respond_async=True`, or when its wait ran out): `handle.wait()`."""
        return self._money(
            f"/accounts/{account_number}/withdraw", {"amount": money(amount)}, **options
        )

    def deposit(self, account_number: str, amount: Money, **options: Any) -> Any:
        return self._money(
            f"/accounts/{account_number}/deposit", {"amount": money(amount)}, **options
        )

    def transfer(self, from_account: str, to_account: str, amount: Money, **options: Any) -> Any:
        body = {"from_account": from_account, "to_account": to_account, "amount": money(amount)}
        return self._money("/transfers", body, **options)

    def place_hold(
        self, account_number: str, amount: Money, expires_in: int | None = None, **options: Any
    ) -> Any:
        body: dict[str, Any] = {"amount": money(amount)}
        if expires_in is not None:
            body["expires_in"] = expires_in
        return self._money(f"/accounts/{account_number}/holds", body, **options)

    def hold(self, hold_id: str) -> Any:
        return self._send(Call("GET", f"/holds/{hold_id}"))

    def capture(self, hold_id: str, amount: Money | None = None, **options: Any) -> Any:
        body = {} if amount is None else {"amount": money(amount)}
        return self._money(f"/holds/{hold_id}/capture", body, **options)

    def void(self, hold_id: str, **options: Any) -> Any:
        return self._money(f"/holds/{hold_id}/void", {}, **options)

    def reverse(self, job_id: str, **options: Any) -> Any:
        return self._money(f"/jobs/{job_id}/reverse", {}, **options)

    def jobs(
        self,
        account: str | None = None,
        status: str | None = None,
        type: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> Any:
        """A page of jobs, newest first: `{jobs, next_before}`. A page may hold fewer than
        `limit` jobs with a `next_before` still to follow (the service bounds the jobs one
        request examines); only `next_before` None is the end."""
        params = {"account": account, "status": status, "type": type, "limit": limit}
        params["before"] = before
        params = {name: value for name, value in params.items() if value is not None}
        return self._send(Call("GET", "/jobs", params))

    def events_page(
        self,
        after: str | None = None,
        limit: int = 100,
        type: str | None = None,
        account: str | None = None,
        wait: float | None = None,
    ) -> Any:
        """One page of the events feed: `{events, next_after}` (see `events()` to follow it)."""
        params = {"after": after, "limit": limit, "type": type, "account": account}
        params = {name: value for name, value in params.items() if value is not None}
        return self._send(Call("GET", "/events", params, headers=prefer(wait)))

    def job(self, job_id: str, wait: float | None = None) -> Any:
        """The job; with `wait`, long-polls up to that many seconds for its outcome."""
        return self._send(Call("GET", f"/jobs/{job_id}", headers=prefer(wait)))

    def _money(
        self,
        path: str,
        body: dict[str, Any],
        *,
        reference: str | None = None,
        metadata: dict[str, Any] | None = None,
        wait: float | None = None,
        respond_async: bool = False,
        idempotency_key: str | None = None,
    ) -> Any:
        call = Call(
            "POST",
            path,
            body={**body, **tags(reference, metadata)},
            headers=prefer(wait, respond_async),
        )
        return self._operate(call, idempotency_key)

    # --- batches -------------------------------------------------------------------------

    def create_batch(
        self,
        operations: list[dict[str, Any]],
        *,
        atomic: bool = False,
        idempotency_key: str | None = None,
    ) -> Any:
        """Submit up to the service's batch limit as one batch: `{batch_id, total, …}`.
        `atomic=True`: all of it applied or none (up to the service's atomic limit).
        `submit_batch` splits any number of plain operations and waits."""
        body: dict[str, Any] = {"operations": [_operation(o) for o in operations]}
        if atomic:
            body["atomic"] = True
        return self._send(Call("POST", "/batches", body=body), idempotency_key)

    def batch(self, batch_id: str, wait: float | None = None) -> Any:
        return self._send(Call("GET", f"/batches/{batch_id}", headers=prefer(wait)))

    def batch_results(self, batch_id: str, offset: int = 0, limit: int = 1000) -> Any:
        params = {"offset": offset, "limit": limit}
        return self._send(Call("GET", f"/batches/{batch_id}/results", params))

    def batches(self, limit: int = 50, before: str | None = None) -> Any:
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        return self._send(Call("GET", "/batches", params))

    # --- access and webhooks -------------------------------------------------------------

    def create_api_key(
        self, name: str, scopes: list[str], accounts: list[str] | None = None
    ) -> Any:
        body: dict[str, Any] = {"name": name, "scopes": scopes}
        if accounts is not None:
            body["accounts"] = accounts
        return self._send(Call("POST", "/api-keys", body=body))

    def api_keys(self) -> Any:
        return self._send(Call("GET", "/api-keys"))

    def revoke_api_key(self, key_id: str) -> Any:
        return self._send(Call("DELETE", f"/api-keys/{key_id}"))

    def create_webhook(self, url: str, events: list[str]) -> Any:
        return self._send(Call("POST", "/webhooks", body={"url": url, "events": events}))

    def webhooks(self) -> Any:
        return self._send(Call("GET", "/webhooks"))

    def delete_webhook(self, webhook_id: str) -> Any:
        return self._send(Call("DELETE", f"/webhooks/{webhook_id}"))

    def webhook_deliveries(self, webhook_id: str, limit: int = 50) -> Any:
        path = f"/webhooks/{webhook_id}/deliveries"
        return self._send(Call("GET", path, {"limit": limit}))


def _operation(operation: dict[str, Any]) -> dict[str, Any]:
    return {**operation, "amount": money(operation["amount"])}
