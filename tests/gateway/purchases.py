"""Purchases in the gateway's in-process tests: bodies, what the store holds, bursts of requests."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from network.store import OutboxPurchase, Partner, Purchase

WALLET = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"  # anvil dev #5, checksummed
OTHER_WALLET = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"  # anvil dev #6


def purchase_body(purchase_id: str = "p-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purchase_id": purchase_id,
        "customer": {"wallet": WALLET},
        "amount": "42.50",
        "currency": "EUR",
        "purchased_at": "2026-11-23T10:00:00Z",
    }
    body.update(changes)
    return body


def stored(sessions: sessionmaker[Session], partner_id: int) -> tuple[list[Purchase], list[OutboxPurchase], int]:
    """(purchases, outbox items, next_seq) of a partner, from the store."""
    with sessions() as session:
        purchases = list(session.scalars(select(Purchase).where(Purchase.partner_id == partner_id).order_by("seq")))
        items = list(
            session.scalars(select(OutboxPurchase).where(OutboxPurchase.partner_id == partner_id).order_by("seq"))
        )
        next_seq = session.scalar(select(Partner.next_seq).where(Partner.id == partner_id))
    return purchases, items, int(next_seq or 0)


def assert_nothing_stored(sessions: sessionmaker[Session], partner_id: int) -> None:
    assert stored(sessions, partner_id) == ([], [], 0)


def burst(app: FastAPI, requests: list[tuple[str, str, dict[str, str], Any]]) -> list[httpx.Response]:
    """Sends ``(method, path, headers, json)`` requests all at once to the ASGI app, in process
    (its threadpool and its session dependency, as under uvicorn); a 500 is an answer, not an
    exception. Fails if they are not all answered within 20 s."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://unit", timeout=60) as c:
            calls = (c.request(method, path, headers=headers, json=body) for method, path, headers, body in requests)
            return await asyncio.wait_for(asyncio.gather(*calls), timeout=20)

    started = time.monotonic()
    try:
        return asyncio.run(run())
    except TimeoutError:
        raise AssertionError(
            f"{len(requests)} concurrent requests not answered after {time.monotonic() - started:.0f} s: "
            "(a deadlock: e.g. pooled connections held while waiting for a worker thread)"
        ) from None


def assert_all(responses: list[httpx.Response], status: int) -> None:
    statuses = Counter(r.status_code for r in responses)
    others = Counter(r.text for r in responses if r.status_code != status)
    assert statuses == {status: len(responses)}, f"{dict(statuses)}: {others.most_common(3)}"
