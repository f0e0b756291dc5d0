"""The partner SDK: a typed client of the gateway's partner API, sync and async (httpx).

    from partners.client import PartnerClient

    with PartnerClient("http://127.0.0.1:8000", api_key="ck_...") as coalition:
        purchase = coalition.post_purchase("order-1042", wallet="0xAbc…", amount="42.50", currency="EUR")
        coalition.wait(purchase["status_url"])            # accepted -> submitted -> confirmed

What it does for the integrator:

- Idempotency is built in: every write carries the partner's own id (``purchase_id``,
  ``refund_id``, ``redemption_id``), so a write is retried with the same id and body after a
  timeout, a dropped connection, a 429 or a 5xx, and the gateway answers with the first result.
- Retries back off exponentially with jitter and honour ``Retry-After``.
- Errors are :class:`ProblemError` with the problem's stable ``type`` (``/problems/<slug>``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})
FINAL = frozenset({"confirmed", "fulfilled"})  # succeeded; "failed" raises OperationFailed


class CoalitionError(Exception):
    """Root of the SDK's errors: each carries a problem (``type`` ``/problems/<slug>``, ``title``,
    ``detail``) whose ``slug`` is stable: branch on it."""

    def __init__(self, message: str, problem: Mapping[str, Any]) -> None:
        self.problem = dict(problem)
        self.type: str = str(problem.get("type", "about:blank"))
        self.slug = self.type.rsplit("/", 1)[-1]
        self.title: str = str(problem.get("title", ""))
        self.detail: str = str(problem.get("detail", ""))
        super().__init__(message)


class ProblemError(CoalitionError):
    """An ``application/problem+json`` answer of the gateway: the request was refused."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        slug = str(problem.get("type", "about:blank")).rsplit("/", 1)[-1]
        super().__init__(f"{status} {slug}: {problem.get('detail', '')}", problem)


class OperationFailed(CoalitionError):
    """:meth:`PartnerClient.wait` found the purchase, refund or redemption ``failed``: it was
    accepted, then the chain (or the gateway) refused it. ``problem`` is the answer's ``failure``
    (e.g. ``slug == "partner-funds-exhausted"``), ``resource`` the whole status answer, and
    ``failure_reason`` the raw reason (give it to support)."""

    def __init__(self, resource: Mapping[str, Any]) -> None:
        self.resource = dict(resource)
        self.failure_reason: str | None = resource.get("failure_reason")
        problem = resource.get("failure") or {
            "type": "/problems/transaction-refused",
            "title": "The operation failed",
            "detail": str(self.failure_reason or "no reason given"),
        }
        url = resource.get("status_url", "")
        super().__init__(f"{url} failed: {problem.get('detail', '')}", problem)


class WaitTimeout(CoalitionError, TimeoutError):
    """:meth:`PartnerClient.wait` ran out of time; ``resource`` is the last status answer (a held
    purchase carries its ``failure``: why it waits)."""

    def __init__(self, path: str, resource: Mapping[str, Any], timeout_s: float) -> None:
        self.resource = dict(resource)
        problem = resource.get("failure") or {"type": "about:blank", "title": "Still in progress", "detail": ""}
        why = f": {problem['detail']}" if problem.get("detail") else ""
        super().__init__(f"{path} is still {resource.get('status')} after {timeout_s} s{why}", problem)


def _final(body: Mapping[str, Any]) -> bool:
    """Whether a status answer is final; raises :class:`OperationFailed` when it failed."""
    if body["status"] == "failed":
        raise OperationFailed(body)
    return body["status"] in FINAL


def _raise_for_problem(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"type": "about:blank", "detail": response.text[:200]}
    raise ProblemError(response.status_code, body)


def _backoff(attempt: int, response: httpx.Response | None, base_s: float, cap_s: float) -> float:
    if response is not None and (after := response.headers.get("Retry-After")):
        try:
            return min(float(after), cap_s)
        except ValueError:
            pass
    return min(cap_s, base_s * 2**attempt) * (0.5 + random.random() / 2)


def _retry(attempt: int, retries: int, response: httpx.Response | None) -> bool:
    """Whether to try again: a transport error (``response`` None), a 429 or a 5xx, while
    attempts remain (safe: every write the SDK makes is idempotent)."""
    if attempt >= retries:
        return False
    return response is None or response.status_code in RETRY_STATUSES or response.status_code >= 500


def purchase_body(
    purchase_id: str,
    *,
    amount: str | Decimal,
    currency: str,
    wallet: str | None = None,
    ref: str | None = None,
    purchased_at: datetime | None = None,
) -> dict[str, Any]:
    """The body of ``POST /v1/purchases``: the customer by wallet or by the partner's reference.

    The body is a function of the arguments only, so that a retry of the same order (after a
    crash, on another day) is the same request and is answered the first answer. Give
    ``purchased_at`` as your POS recorded the sale (a timezone-aware datetime), or leave it out
    and the gateway stamps the purchase with the time it first accepts it; never the time of the
    attempt, which would make every retry another body (409 ``idempotency-conflict``)."""
    if (wallet is None) == (ref is None):
        raise ValueError("give the customer's wallet or the partner's customer ref, not both")
    body: dict[str, Any] = {
        "purchase_id": purchase_id,
        "customer": {"wallet": wallet} if wallet is not None else {"ref": ref},
        "amount": str(amount),
        "currency": currency,
    }
    if purchased_at is not None:
        if purchased_at.tzinfo is None:
            raise ValueError("purchased_at must be timezone-aware (e.g. datetime.now(UTC) when the sale happened)")
        body["purchased_at"] = purchased_at.isoformat()
    return body


def customer(wallet: str | None = None, ref: str | None = None) -> dict[str, str]:
    """The ``customer`` field of a body: the wallet, or the partner's own reference linked to one."""
    if (wallet is None) == (ref is None):
        raise ValueError("give the customer's wallet or the partner's customer ref, not both")
    return {"wallet": wallet} if wallet is not None else {"ref": ref}  # type: ignore[dict-item]


def signed_consent(prepared: Mapping[str, Any], signature: bytes | str) -> dict[str, Any]:
    """The ``consent`` of ``POST /v1/redemptions`` from the answer of ``/v1/redemptions/consent``
    and the customer's signature of its ``typed_data`` (EIP-712, e.g. eth_account's
    ``Account.sign_typed_data(key, full_message=prepared["typed_data"])``)."""
    hex_signature = signature if isinstance(signature, str) else "0x" + signature.hex()
    return {"nonce": int(prepared["nonce"]), "deadline": prepared["deadline"], "signature": hex_signature}


class _Base:
    """The partner API's calls, written once: each returns what :meth:`request` returns, a value
    for :class:`PartnerClient` and an awaitable for :class:`AsyncPartnerClient`."""

    def __init__(self, base_url: str, api_key: str, *, retries: int = 5, backoff_s: float = 0.2, cap_s: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "coalition-partner-sdk/0.1"}
        self.retries = retries
        self.backoff_s = backoff_s
        self.cap_s = cap_s

    def request(self, method: str, path: str, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        raise NotImplementedError

    # -------------------------------------------------------------- refunds

    def refund(self, purchase_id: str, refund_id: str, *, amount: str | None = None, reason: str | None = None) -> Any:
        """Refunds a purchase, whole (no amount) or in part; idempotent on ``refund_id``."""
        body = {"refund_id": refund_id, "amount": amount, "reason": reason}
        body = {k: v for k, v in body.items() if v is not None}
        return self.request("POST", f"/v1/purchases/{purchase_id}/refunds", json=body)

    def get_refund(self, purchase_id: str, refund_id: str) -> Any:
        return self.request("GET", f"/v1/purchases/{purchase_id}/refunds/{refund_id}")

    # -------------------------------------------------------------- rewards and redemptions

    def add_reward(self, sku: str, name: str, points: int, *, stock: int | None = None, active: bool = True) -> Any:
        body = {"sku": sku, "name": name, "points": points, "stock": stock, "active": active}
        return self.request("POST", "/v1/rewards", json=body)

    def rewards(self) -> Any:
        return self.request("GET", "/v1/rewards")

    def redemption_consent(
        self, redemption_id: str, sku: str, *, wallet: str | None = None, ref: str | None = None, quantity: int = 1
    ) -> Any:
        """The EIP-712 typed data the customer's wallet signs (see :func:`signed_consent`)."""
        body = {"redemption_id": redemption_id, "sku": sku, "quantity": quantity, "customer": customer(wallet, ref)}
        return self.request("POST", "/v1/redemptions/consent", json=body)

    def redeem(
        self,
        redemption_id: str,
        sku: str,
        *,
        wallet: str | None = None,
        ref: str | None = None,
        quantity: int = 1,
        consent: Mapping[str, Any] | None = None,
    ) -> Any:
        """Redeems a reward with the customer's ``consent``; a custodial customer, named by your
        own ``ref`` (you created its wallet), needs none (within the gateway's daily limit)."""
        body: dict[str, Any] = {
            "redemption_id": redemption_id,
            "sku": sku,
            "quantity": quantity,
            "customer": customer(wallet, ref),
        }
        if consent is not None:
            body["consent"] = dict(consent)
        return self.request("POST", "/v1/redemptions", json=body)

    def redemption(self, redemption_id: str) -> Any:
        return self.request("GET", f"/v1/redemptions/{redemption_id}")

    # -------------------------------------------------------------- customers

    def wallet_challenge(self, ref: str, wallet: str) -> Any:
        """The EIP-4361 message the customer signs (personal_sign) to link ``wallet`` to ``ref``."""
        return self.request("POST", f"/v1/customers/{ref}/wallet-challenge", json={"wallet": wallet})

    def link_wallet(self, ref: str, message: str, signature: str) -> Any:
        return self.request("PUT", f"/v1/customers/{ref}/wallet", json={"message": message, "signature": signature})

    def custodial_wallet(self, ref: str) -> Any:
        """A wallet the gateway keeps for a customer who has none (it signs redemptions for them)."""
        return self.request("POST", f"/v1/customers/{ref}/custodial-wallet")

    def release_custodial_wallet(self, ref: str, password: str) -> Any:
        """Hands a custodial wallet's key to your customer, in two calls. The first asks: the
        answer is ``{"status": "release-pending", "available_at": ...}`` and no key (the gateway
        tells you by the ``customer.custodial_release_requested`` webhook event, and the
        operator). A call before ``available_at`` raises :class:`ProblemError`
        ``custodial-release-pending`` (its ``problem["available_at"]`` says when); the first one
        from then on answers ``{"status": "released", "keystore": ...}``, encrypted with
        ``password`` (the customer's), once: keep it before anything else."""
        return self.request("POST", f"/v1/customers/{ref}/custodial-wallet/release", json={"password": password})

    def cancel_custodial_release(self, ref: str) -> Any:
        """Withdraws a release that was asked for and not yet handed over (one you did not ask
        for: your API key may be in other hands; tell the operator)."""
        return self.request("DELETE", f"/v1/customers/{ref}/custodial-wallet/release")

    def customer(self, ref: str) -> Any:
        return self.request("GET", f"/v1/customers/{ref}")

    def customer_balance(self, ref: str) -> Any:
        return self.request("GET", f"/v1/customers/{ref}/balance")

    # -------------------------------------------------------------- webhooks

    def add_webhook(self, url: str, event_types: list[str], *, description: str | None = None) -> Any:
        """Registers an endpoint; the answer carries its secret once (verify with partners.webhooks.verify)."""
        body = {"url": url, "event_types": event_types, "description": description}
        return self.request("POST", "/v1/webhooks", json=body)

    def webhooks(self) -> Any:
        return self.request("GET", "/v1/webhooks")

    def delete_webhook(self, webhook_id: int) -> Any:
        return self.request("DELETE", f"/v1/webhooks/{webhook_id}")


class PartnerClient(_Base):
    """Synchronous client (a POS, a script). Use as a context manager or call :meth:`close`."""

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 30.0, **retry: Any) -> None:
        super().__init__(base_url, api_key, **retry)
        self.http = httpx.Client(base_url=self.base_url, headers=self.headers, timeout=timeout_s)

    def __enter__(self) -> PartnerClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """One call with retries of transport errors, 429 and 5xx (safe: every write is idempotent)."""
        attempt = 0
        while True:
            try:
                response: httpx.Response | None = self.http.request(method, path, json=json, params=params)
            except httpx.TransportError:
                if not _retry(attempt, self.retries, None):
                    raise
                response = None
            if not _retry(attempt, self.retries, response):
                break
            time.sleep(_backoff(attempt, response, self.backoff_s, self.cap_s))
            attempt += 1
        assert response is not None
        _raise_for_problem(response)
        return response.json() if response.content else None

    # -------------------------------------------------------------- purchases

    def post_purchase(self, purchase_id: str, **fields: Any) -> dict[str, Any]:
        """Posts a purchase (see :func:`purchase_body`); answers its status (202: accepted)."""
        return self.request("POST", "/v1/purchases", json=purchase_body(purchase_id, **fields))

    def purchase(self, purchase_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/purchases/{purchase_id}")

    def wait(self, status_url: str, *, timeout_s: float = 60.0, poll_s: float = 0.2) -> dict[str, Any]:
        """Polls a status URL (a purchase's, a refund's, a redemption's) until it succeeded and
        returns the answer; raises :class:`OperationFailed` (with the problem) if it failed, and
        :class:`WaitTimeout` after ``timeout_s``."""
        path = status_url.removeprefix(self.base_url)
        deadline = time.monotonic() + timeout_s
        while True:
            body = self.request("GET", path)
            if _final(body):
                return body
            if time.monotonic() > deadline:
                raise WaitTimeout(path, body, timeout_s)
            time.sleep(poll_s)


class AsyncPartnerClient(_Base):
    """Asynchronous client (an e-shop backend, the benchmarks): the same calls, awaited."""

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 30.0, **retry: Any) -> None:
        super().__init__(base_url, api_key, **retry)
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self.headers,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
        )

    async def __aenter__(self) -> AsyncPartnerClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        attempt = 0
        while True:
            try:
                response: httpx.Response | None = await self.http.request(method, path, json=json, params=params)
            except httpx.TransportError:
                if not _retry(attempt, self.retries, None):
                    raise
                response = None
            if not _retry(attempt, self.retries, response):
                break
            await asyncio.sleep(_backoff(attempt, response, self.backoff_s, self.cap_s))
            attempt += 1
        assert response is not None
        _raise_for_problem(response)
        return response.json() if response.content else None

    async def post_purchase(self, purchase_id: str, **fields: Any) -> dict[str, Any]:
        return await self.request("POST", "/v1/purchases", json=purchase_body(purchase_id, **fields))

    async def purchase(self, purchase_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/v1/purchases/{purchase_id}")

    async def wait(self, status_url: str, *, timeout_s: float = 60.0, poll_s: float = 0.2) -> dict[str, Any]:
        path = status_url.removeprefix(self.base_url)
        deadline = time.monotonic() + timeout_s
        while True:
            body = await self.request("GET", path)
            if _final(body):
                return body
            if time.monotonic() > deadline:
                raise WaitTimeout(path, body, timeout_s)
            await asyncio.sleep(poll_s)
