"""The naive design, for the benchmark's baseline: one mint transaction per purchase, sent from
the request and waited for.

    uvicorn bench.naive_gateway:app   (with the same COALITION_* environment as the gateway)

``POST /v1/purchases`` takes the same body and API key as the real gateway, applies the same
earn rule, then does what a first version would: ``earn(purchase)`` through web3.py's contract
object (gas estimated, nonce read from the node), signed with the partner's minter key, sent,
and its receipt waited for (web3's ``wait_for_transaction_receipt``), one at a time per key
(a lock, or two requests would take the same nonce). It answers 201 with the transaction hash
once mined. No outbox, no batching, no retry: it is the baseline, not a product. Its purchase
seqs start at 10**12 so that they never meet the real pipeline's.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any

from fastapi import FastAPI, Header, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from gateway import auth
from gateway.chain import get_chain
from gateway.connections import get_sessions
from gateway.errors import Unauthorized
from gateway.schemas import PurchaseCreate
from gateway.services.purchases import points_for
from gateway.tasks.context import minter_account as load_minter
from network.purchases import encode_purchase
from network.store import Partner

SEQ_BASE = 10**12
minter_account = lru_cache(load_minter)  # a keystore decrypt (scrypt) takes a second: once a key
app = FastAPI(title="naive earn (benchmark baseline)")
_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
_seqs: defaultdict[int, int] = defaultdict(lambda: SEQ_BASE)


def _partner(authorization: str | None) -> Partner:
    key = (authorization or "").removeprefix("Bearer ").strip()
    with get_sessions()() as session:
        partner = session.scalar(select(Partner).where(Partner.api_key_prefix == auth.prefix_of(key)))
        if partner is None or not auth.matches(key, partner.api_key_hash):
            raise Unauthorized("unknown API key")
        return partner


@app.post("/v1/purchases", status_code=201)
def post_purchase(
    body: PurchaseCreate, response: Response, authorization: Annotated[str | None, Header()] = None
) -> Any:
    partner = _partner(authorization)
    points, _ = points_for(partner, Decimal(body.amount), body.currency)
    assert body.customer.wallet is not None, "the naive way takes wallets only"
    chain = get_chain()
    account = minter_account(partner.id)
    with _locks[partner.id]:
        _seqs[partner.id] += 1
        seq = _seqs[partner.id]
        word = encode_purchase(body.customer.wallet, seq, points)
        tx = chain.contracts.points.functions.earn(word).build_transaction(
            {"from": account.address, "nonce": chain.w3.eth.get_transaction_count(account.address)}
        )
        signed = account.sign_transaction(tx)
        tx_hash = chain.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    return JSONResponse(
        {
            "purchase_id": body.purchase_id,
            "status": "confirmed",
            "seq": seq,
            "points": points,
            "tx_hash": "0x" + bytes(tx_hash).hex(),
            "gas_used": receipt["gasUsed"],
            "block": receipt["blockNumber"],
        },
        status_code=201,
    )
