"""The load of the fault schedule's test (issue 23): partners' tills and customers doing business
while tests/chaos/faults.py breaks the stack under them.

Every client here behaves as a careful real one: a transport error, a 5xx or a 429 is retried
with the same idempotency key (purchase id, refund id, redemption id) until it is answered, and
what was answered 202 (or ``accepted``/``duplicate`` in a batch) is written into ``Book``: what
the system promised, which the invariants hold it to.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner

RETRYABLE = frozenset({429, 500, 502, 503, 504})
REWARD_POINTS = 5
SCARCE_SKU, SCARCE_STOCK = "mug", 6  # every third redemption asks for it: more than its stock


class GaveUp(AssertionError):
    pass


@dataclass
class Book:
    """What the system answered: the promises to check at the end."""

    purchases: dict[tuple[int, str], str] = field(default_factory=dict)  # (partner id, purchase id) -> how posted
    refunds: dict[tuple[int, str], str] = field(default_factory=dict)  # (partner id, refund id) -> purchase id
    redemptions: dict[tuple[int, str], str] = field(default_factory=dict)  # (partner id, redemption id) -> kind
    settlements: list[int] = field(default_factory=list)  # period ids started
    unexpected: list[str] = field(default_factory=list)  # answers no careful client should get
    retries: Counter[str] = field(default_factory=Counter)  # transport errors and 5xx/429 retried, per call
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str) -> None:
        with self.lock:
            self.unexpected.append(what)


def call(
    http: httpx.Client,
    book: Book,
    name: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    json: Any = None,
    give_up_s: float = 600,
) -> httpx.Response:
    """The request, retried as a careful client retries it (same body, same key) until the
    gateway answers anything but a transport error, a 5xx or a 429."""
    deadline = time.monotonic() + give_up_s
    while True:
        try:
            r = http.request(method, path, headers=headers, json=json)
            if r.status_code not in RETRYABLE:
                return r
        except httpx.TransportError:
            pass
        with book.lock:
            book.retries[name] += 1
        if time.monotonic() > deadline:
            raise GaveUp(f"{method} {path} unanswered after {give_up_s} s")
        time.sleep(0.3)


@dataclass
class Load:
    """Threads of business, each looping until ``stop``: single purchases (wallets and custodial
    refs), batches of purchases, refunds of confirmed purchases, redemptions signed by customers'
    keys, custodial redemptions (the gateway signs), and one settlement closed mid-run."""

    url: str
    grocer: OnboardedPartner  # single purchases, refunds
    fuel: OnboardedPartner  # batches (a third to its custodial refs); its rewards "coffee" and "mug" redeemed
    customers: list[LocalAccount]
    custodial_refs: list[str]
    book: Book = field(default_factory=Book)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)
    batch_size: int = 10
    pause_s: float = 0.05

    def threads(self) -> list[threading.Thread]:
        loops = [self._singles, self._batches, self._refunds, self._signed_redemptions, self._custodial_redemptions]
        return [threading.Thread(target=self._guard, args=(loop,), daemon=True, name=loop.__name__) for loop in loops]

    def _guard(self, loop: Any) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=120) as http:
                loop(http)
        except BaseException as exc:  # reported by the test
            self.errors.append(f"{loop.__name__}: {type(exc).__name__}: {exc}")

    def _purchase_body(self, purchase_id: str, n: int, amount: str, *, custodial: bool = False) -> dict[str, Any]:
        if custodial and n % 3 == 2:  # a custodial wallet of the fuel partner's (it alone may name it)
            customer: dict[str, str] = {"ref": self.custodial_refs[n % len(self.custodial_refs)]}
        else:
            customer = {"wallet": self.customers[n % len(self.customers)].address}
        return {
            "purchase_id": purchase_id,
            "customer": customer,
            "amount": amount,
            "currency": "EUR",
            "purchased_at": "2026-11-23T10:00:00Z",
        }

    def _singles(self, http: httpx.Client) -> None:
        for n in itertools.count():
            if self.stop.is_set():
                return
            purchase_id = f"s-{n}"
            body = self._purchase_body(purchase_id, n, "10")
            r = call(http, self.book, "purchase", "POST", "/v1/purchases", headers=self.grocer.headers, json=body)
            if r.status_code == 202:
                with self.book.lock:
                    self.book.purchases[(self.grocer.id, purchase_id)] = "single"
            else:
                self.book.note(f"purchase {purchase_id}: {r.status_code} {r.text[:300]}")
            time.sleep(self.pause_s)

    def _batches(self, http: httpx.Client) -> None:
        for b in itertools.count():
            if self.stop.is_set():
                return
            ids = [f"b-{b}-{i}" for i in range(self.batch_size)]
            body = {"purchases": [self._purchase_body(pid, b + i, "10", custodial=True) for i, pid in enumerate(ids)]}
            r = call(http, self.book, "batch", "POST", "/v1/purchases/batch", headers=self.fuel.headers, json=body)
            if r.status_code != 200:
                self.book.note(f"batch {b}: {r.status_code} {r.text[:300]}")
                continue
            for pid, result in zip(ids, r.json()["results"], strict=True):
                if result["outcome"] in ("accepted", "duplicate"):
                    with self.book.lock:
                        self.book.purchases[(self.fuel.id, pid)] = "batch"
                else:
                    self.book.note(f"batch purchase {pid}: {result}")
            time.sleep(self.pause_s * self.batch_size)

    def _refunds(self, http: httpx.Client) -> None:
        """A partial refund (half: 5 of 10 points) of every fifth single purchase, once it is confirmed."""
        n = 0
        while not self.stop.is_set():
            purchase_id = f"s-{n}"
            with self.book.lock:
                posted = (self.grocer.id, purchase_id) in self.book.purchases
            if not posted:
                time.sleep(0.5)
                continue
            path = f"/v1/purchases/{purchase_id}"
            r = call(http, self.book, "purchase status", "GET", path, headers=self.grocer.headers)
            status = r.json().get("status") if r.status_code == 200 else None
            if status == "confirmed":
                refund_id = f"rf-{purchase_id}"
                body = {"refund_id": refund_id, "amount": "5.00", "reason": "chaos"}
                r = call(http, self.book, "refund", "POST", f"{path}/refunds", headers=self.grocer.headers, json=body)
                if r.status_code == 202:
                    with self.book.lock:
                        self.book.refunds[(self.grocer.id, refund_id)] = purchase_id
                else:
                    self.book.note(f"refund {refund_id}: {r.status_code} {r.text[:300]}")
            elif status in ("failed", None):
                self.book.note(f"purchase {purchase_id} is {status}: {r.text[:300]}")
            else:  # not confirmed yet: come back to it
                time.sleep(0.5)
                continue
            n += 5

    def _redeem(
        self, http: httpx.Client, redemption_id: str, sku: str, customer: dict[str, str], kind: str, consent: Any
    ) -> None:
        body = {"redemption_id": redemption_id, "sku": sku, "quantity": 1, "customer": customer}
        if consent is not None:
            body["consent"] = consent
        r = call(http, self.book, f"{kind} redemption", "POST", "/v1/redemptions", headers=self.fuel.headers, json=body)
        if r.status_code == 202:
            with self.book.lock:
                self.book.redemptions[(self.fuel.id, redemption_id)] = kind
        elif r.status_code not in (409, 422):  # e.g. not enough points yet: refused, never accepted
            self.book.note(f"redemption {redemption_id}: {r.status_code} {r.text[:300]}")

    def _signed_redemptions(self, http: httpx.Client) -> None:
        for n in itertools.count():
            if self.stop.wait(1.0):
                return
            customer = self.customers[n % len(self.customers)]
            redemption_id = f"sr-{n}"
            ask = {
                "redemption_id": redemption_id,
                "sku": SCARCE_SKU if n % 3 == 0 else "coffee",
                "quantity": 1,
                "customer": {"wallet": customer.address},
            }
            r = call(http, self.book, "consent", "POST", "/v1/redemptions/consent", headers=self.fuel.headers, json=ask)
            if r.status_code != 200:
                if r.status_code not in (409, 422):
                    self.book.note(f"consent {redemption_id}: {r.status_code} {r.text[:300]}")
                continue
            typed = r.json()
            signature = Account.sign_typed_data(customer.key, full_message=typed["typed_data"]).signature
            consent = {"nonce": int(typed["nonce"]), "deadline": typed["deadline"], "signature": "0x" + signature.hex()}
            self._redeem(http, redemption_id, ask["sku"], {"wallet": customer.address}, "signed", consent)

    def _custodial_redemptions(self, http: httpx.Client) -> None:
        for n in itertools.count():
            if self.stop.wait(1.0):
                return
            ref = self.custodial_refs[n % len(self.custodial_refs)]
            self._redeem(http, f"cr-{n}", SCARCE_SKU if n % 3 == 0 else "coffee", {"ref": ref}, "custodial", None)

    def close_settlement(self, http: httpx.Client, *, within_s: float = 120) -> None:
        """The operator closes the period now (once, mid-run); ``nothing-to-settle`` (the indexer has
        not seen the first points yet) is asked again a second later."""
        deadline = time.monotonic() + within_s
        while True:
            r = call(http, self.book, "settlement", "POST", "/v1/operator/settlements", headers=OPERATOR_HEADERS)
            if r.status_code == 202:
                self.book.settlements.append(int(r.json()["period_id"]))
                return
            if r.status_code != 409 or time.monotonic() > deadline:
                self.book.note(f"settlement: {r.status_code} {r.text[:300]}")
                return
            time.sleep(1.0)
