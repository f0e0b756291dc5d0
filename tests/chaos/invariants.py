"""The invariants of the fault schedule's test (issue 23), checked once the system has been left
alone: each against what the clients were answered (tests/chaos/load.py's ``Book``) and, where it
can be, against a witness independent of the code under test: the chain's raw logs
(``eth_getLogs`` on anvil itself, not through the proxy), the webhook receiver's own log.

Each check returns ``(name, held, detail)``; the test prints them as a table and fails on any
that did not hold.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from coalition.crosscheck import recompute_from_chain
from gateway.services.webhooks import CONSUMER as WEBHOOKS_CONSUMER
from gateway.services.webhooks import EVENT_TYPES
from network.store import (
    OutboxPurchase,
    OutboxReversal,
    Purchase,
    PurchaseStatus,
    Redemption,
    Refund,
    ReversalStatus,
    SettlementPeriod,
    WebhookDelivery,
)
from network.store.events import DomainEvent, EventCursor
from partners.webhooks import verify
from tests.chaos.faults import ChaosStack
from tests.chaos.load import SCARCE_SKU, SCARCE_STOCK, Book
from tests.e2e.stack import OPERATOR_HEADERS
from tests.gateway.webhook_receiver import Receiver

Check = tuple[str, bool, str]
ZERO = "0x" + "00" * 20
OPEN_PURCHASES = (PurchaseStatus.QUEUED, PurchaseStatus.SENT)
OPEN_REVERSALS = (ReversalStatus.QUEUED, ReversalStatus.SENT)
FINAL_REDEMPTIONS = ("fulfilled", "failed")


def open_work(chaos: ChaosStack) -> dict[str, int]:
    """Tasks not in a final state: purchases, reversals, redemptions, webhook deliveries, settlements."""
    with chaos.harness.sessions() as s:
        return {
            "purchases": s.scalar(
                select(func.count()).select_from(OutboxPurchase).where(OutboxPurchase.status.in_(OPEN_PURCHASES))
            )
            or 0,
            "reversals": s.scalar(
                select(func.count()).select_from(OutboxReversal).where(OutboxReversal.status.in_(OPEN_REVERSALS))
            )
            or 0,
            "redemptions": s.scalar(
                select(func.count()).select_from(Redemption).where(Redemption.status.not_in(FINAL_REDEMPTIONS))
            )
            or 0,
            "webhook deliveries": s.scalar(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "pending")
            )
            or 0,
            "webhook events not yet fanned out": _unconsumed_webhook_events(s),
            "settlements": s.scalar(
                select(func.count()).select_from(SettlementPeriod).where(SettlementPeriod.status != "settled")
            )
            or 0,
        }


def _unconsumed_webhook_events(session: Session) -> int:
    """Events of a webhook type that the webhooks consumer has not read yet (after its cursor, or
    in one of the holes it waits for: network/store/events.py)."""
    cursor = session.get(EventCursor, WEBHOOKS_CONSUMER)
    last, gaps = (cursor.last_id, cursor.gaps or []) if cursor is not None else (0, [])
    unread = or_(DomainEvent.id > last, *(DomainEvent.id.between(int(a), int(b)) for a, b, _ in gaps))
    query = select(func.count()).select_from(DomainEvent).where(DomainEvent.type.in_(EVENT_TYPES), unread)
    return session.scalar(query) or 0


def wait_quiet(chaos: ChaosStack, timeout_s: float) -> tuple[float, dict[str, int]]:
    """Waits until no task is open (or ``timeout_s``); returns how long it took and what is still open."""
    began = time.monotonic()
    while True:
        still = {k: v for k, v in open_work(chaos).items() if v}
        if not still or time.monotonic() - began > timeout_s:
            return time.monotonic() - began, still
        time.sleep(1.0)


def reconcile(chaos: ChaosStack, timeout_s: float) -> dict[str, Any]:
    """The operator's reconciliation, once the indexer has reached the chain's head."""
    head = chaos.harness.w3.eth.block_number
    deadline = time.monotonic() + timeout_s
    while True:
        r = chaos.stack.http.post("/v1/operator/reconciliations", headers=OPERATOR_HEADERS)
        if r.status_code == 201 and r.json()["block_number"] >= head:
            return r.json()
        if time.monotonic() > deadline:
            return {"ok": False, "differences": [f"indexer not at block {head}: {r.status_code} {r.text[:300]}"]}
        time.sleep(1.0)


def _logs(chaos: ChaosStack, event: str) -> list[Any]:
    points = chaos.harness.contracts.points
    return list(getattr(points.events, event)().get_logs(from_block=0))


def check_all(
    chaos: ChaosStack, book: Book, receiver: Receiver, secrets: dict[int, str], quiet: tuple[float, dict[str, int]]
) -> list[Check]:
    checks: list[Check] = []
    waited, still = quiet
    checks.append(("no task in a non-final state after the quiet time", not still, f"{waited:.0f} s; open: {still}"))
    h = chaos.harness

    # 1. Every purchase answered 202 minted exactly once: the chain's Earned logs, by (partner, seq).
    with h.sessions() as s:
        rows = s.execute(
            select(Purchase.partner_id, Purchase.purchase_id, Purchase.seq, OutboxPurchase.status).join(
                OutboxPurchase, OutboxPurchase.id == Purchase.outbox_id
            )
        ).all()
    stored = {(p, pid): (seq, status) for p, pid, seq, status in rows}
    minted: Counter[tuple[int, int]] = Counter()
    for log in _logs(chaos, "Earned"):
        for word in log["args"]["purchases"]:
            minted[(log["args"]["partnerId"], (int.from_bytes(word, "big") >> 48) & ((1 << 48) - 1))] += 1
    missing = [k for k in book.purchases if k not in stored]
    not_once = [
        (k, minted[(k[0], stored[k][0])]) for k in book.purchases if k in stored and minted[(k[0], stored[k][0])] != 1
    ]
    unpromised = set(minted) - {(p, seq) for (p, _), (seq, _) in stored.items()}
    checks.append(
        (
            "every purchase answered 202 is minted exactly once (Earned logs)",
            not missing and not not_once and not unpromised and set(minted.values()) <= {1},
            f"{len(book.purchases)} answered ({Counter(book.purchases.values())}); {sum(minted.values())} minted;"
            f" not stored {missing[:5]}; not minted once {not_once[:5]}; minted unasked {sorted(unpromised)[:5]}",
        )
    )

    # 2. Every refund takes effect exactly once: its Reversed log on the chain iff confirmed.
    with h.sessions() as s:
        refunds = s.execute(
            select(Refund.partner_id, Refund.refund_id, Refund.points, OutboxReversal.seq, OutboxReversal.status).join(
                OutboxReversal, OutboxReversal.id == Refund.reversal_id
            )
        ).all()
    reversed_: Counter[tuple[int, int]] = Counter()
    reversed_points: Counter[tuple[int, int]] = Counter()
    for log in _logs(chaos, "Reversed"):
        key = (log["args"]["partnerId"], log["args"]["seq"])
        reversed_[key] += 1
        reversed_points[key] += log["args"]["points"]
    by_refund = {(p, rid): (points, seq, status) for p, rid, points, seq, status in refunds}
    wrong = []
    for key in book.refunds:
        if key not in by_refund:
            wrong.append((key, "not stored"))
            continue
        points, seq, status = by_refund[key]
        want = 1 if status == ReversalStatus.CONFIRMED else 0
        if reversed_[(key[0], seq)] != want or (want and reversed_points[(key[0], seq)] != points):
            wrong.append((key, status, reversed_[(key[0], seq)]))
    checks.append(
        (
            "every refund takes effect exactly once (Reversed logs)",
            not wrong and sum(reversed_.values()) == sum(1 for *_, st in refunds if st == ReversalStatus.CONFIRMED),
            f"{len(book.refunds)} answered, {Counter(str(st) for *_, st in refunds)}; wrong {wrong[:5]}",
        )
    )

    # 3. Every redemption takes effect exactly once: one Redeemed log per ref iff fulfilled, one voucher.
    with h.sessions() as s:
        redemptions = {(r.partner_id, r.redemption_id): r for r in s.scalars(select(Redemption))}
    refs = Counter(log["args"]["ref"].hex() for log in _logs(chaos, "Redeemed"))
    wrong = []
    for key in book.redemptions:
        r = redemptions.get(key)
        if r is None:
            wrong.append((key, "not stored"))
            continue
        want = 1 if r.status == "fulfilled" else 0
        if refs[r.ref.removeprefix("0x")] != want or (want and not r.voucher_code):
            wrong.append((key, r.status, refs[r.ref.removeprefix("0x")]))
    vouchers = [r.voucher_code for r in redemptions.values() if r.voucher_code]
    scarce = [r for r in redemptions.values() if r.sku == SCARCE_SKU and refs[r.ref.removeprefix("0x")]]
    checks.append(
        (
            f"stock never oversold ({SCARCE_STOCK} {SCARCE_SKU}s)",
            len(scarce) <= SCARCE_STOCK and all(r.status == "fulfilled" for r in scarce),
            f"{len(scarce)} burned on chain of {sum(r.sku == SCARCE_SKU for r in redemptions.values())} asked",
        )
    )
    checks.append(
        (
            "every redemption takes effect exactly once (Redeemed logs, one voucher)",
            not wrong and len(vouchers) == len(set(vouchers)) and set(refs.values()) <= {1},
            f"{len(book.redemptions)} answered ({Counter(book.redemptions.values())}),"
            f" {Counter(r.status for r in redemptions.values())}; wrong {wrong[:5]}",
        )
    )

    # 4. Every webhook event delivered at least once, with one id (the receiver's own log).
    delivered: dict[tuple[str, str], set[str]] = defaultdict(set)
    forged = 0
    with receiver.lock:
        received = list(receiver.received)
    for request in received:
        partner_id = int(request.headers.get("Coalition-Partner-Id", "0") or 0)
        event = None
        for secret in [secrets[partner_id]] if partner_id in secrets else secrets.values():
            try:
                event = verify(secret, request.body, request.headers["Coalition-Signature"], tolerance_s=10**9)
                break
            except Exception:  # another partner's secret
                continue
        if event is None or request.headers.get("Coalition-Event-Id") != event["id"]:
            forged += 1
            continue
        data = event["data"]
        subject = data.get("refund_id") or data.get("redemption_id") or data.get("purchase_id")
        delivered[(event["type"], f"{event['partner_id']}/{subject}")].add(event["id"])
    expected = []
    for (p, pid), (_, status) in stored.items():
        if (p, pid) in book.purchases and status in (PurchaseStatus.MINTED, PurchaseStatus.SKIPPED):
            expected.append(("purchase.confirmed", f"{p}/{pid}"))
    for key, (_, _, status) in by_refund.items():
        if status in (ReversalStatus.CONFIRMED, ReversalStatus.FAILED):
            expected.append((f"refund.{status}", f"{key[0]}/{key[1]}"))
    for key, r in redemptions.items():
        if r.status in FINAL_REDEMPTIONS:
            expected.append((f"redemption.{r.status}", f"{key[0]}/{key[1]}"))
    undelivered = [e for e in expected if not delivered.get(e)]
    unstable = [e for e in expected if len(delivered.get(e, ())) > 1]
    checks.append(
        (
            "every webhook event is delivered at least once, with one stable id (receiver's log)",
            not undelivered and not unstable and not forged,
            f"{len(expected)} events, {len(received)} POSTs received; undelivered {undelivered[:5]};"
            f" several ids {unstable[:5]}; unverifiable {forged}",
        )
    )

    # 5. Supply = the sum of the balances replayed from the Transfer logs = balanceOf of each holder.
    points = h.contracts.points
    balances: Counter[str] = Counter()
    for log in points.events.Transfer().get_logs(from_block=0):
        a = log["args"]
        balances[a["from"]] -= a["value"]
        balances[a["to"]] += a["value"]
    holders = {k: v for k, v in balances.items() if k != ZERO and v}
    supply = int(points.functions.totalSupply().call())
    off = [(k, v) for k, v in holders.items() if int(points.functions.balanceOf(k).call()) != v]
    checks.append(
        (
            "total supply = sum of balances from Transfer logs = balanceOf each holder",
            supply == sum(holders.values()) and not off,
            f"supply {supply}, sum {sum(holders.values())} over {len(holders)} holders; off {off[:3]}",
        )
    )

    # 6. Every settlement closed mid-run recomputes from the chain to the unit.
    detail, held = [], bool(book.settlements)
    for period_id in book.settlements:
        r = chaos.stack.http.get(f"/v1/operator/settlements/{period_id}", headers=OPERATOR_HEADERS)
        period = r.json()
        if period.get("status") != "settled":
            held = False
            detail.append(f"period {period_id} {period.get('status')}: {period.get('error')}")
            continue
        nets = {p["partner_id"]: p["net"] for p in period["statement"]["partners"]}
        lines = recompute_from_chain(h.w3, h.book, period["from_block"], period["to_block"])
        again = {line.partner_id: line.net for line in lines}
        held &= nets == again
        detail.append(f"period {period_id} blocks {period['from_block']}-{period['to_block']}: {nets} vs chain {again}")
    checks.append(("the settlement closed mid-run recomputes from the chain", held, "; ".join(detail) or "none closed"))

    # 7. Reconciliation finds no difference.
    report = reconcile(chaos, timeout_s=120)
    checks.append(
        (
            "reconciliation finds no difference",
            bool(report.get("ok")) and not report.get("differences"),
            f"block {report.get('block_number')}, {report.get('customers_checked')} customers;"
            f" differences {report.get('differences')}",
        )
    )

    # 8. No answer a careful client should not get (every retried call was answered in the end).
    checks.append(("no unexpected answer to a client", not book.unexpected, f"{book.unexpected[:5]}"))
    return checks
