"""What the partner's customer routes (gateway/routes/customers.py) and the customer's own API
(gateway/routes/me_api.py) share: paging parameters, the problems of a signed message, and the
answer of a history page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from gateway.schemas_customers import HistoryEntry, HistoryPublic
from gateway.services import history

Cursor = Annotated[int | None, Query(ge=1, lt=2**62, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=200)]
SIGNED_PROBLEMS = (
    "challenge-unknown",
    "challenge-mismatch",
    "challenge-expired",
    "challenge-used",
    "wallet-signature-invalid",
    "validation-error",
)


def history_public(page: history.HistoryPage, *, wallet: str, balance: int) -> HistoryPublic:
    return HistoryPublic(
        wallet=wallet,
        balance=balance,
        entries=[
            HistoryEntry(
                kind=e.kind,
                points=e.points,
                partner_id=e.partner_id,
                partner_name=name,
                seq=e.seq,
                ref=e.ref,
                block_number=e.block_number,
                block_time=e.block_time,
                tx_hash=e.tx_hash,
                purchase_id=earn.purchase_id if (earn := page.earns.get(e.id)) else None,
                breakdown=earn.breakdown if earn else None,
            )
            for e, name in page.entries
        ],
        next_cursor=page.next_cursor,
    )
