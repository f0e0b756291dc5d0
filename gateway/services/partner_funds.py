"""Telling partners (and the operator) about their issuance headroom, once per episode.

- Held purchases: a partner is told once when its purchases start to be held for lack of
  headroom (webhook ``partner.funds_exhausted``, and an operator alert), and again when none is
  left (``partner.funds_restored``). What was told lives in a Redis hash.
- Low headroom: every ``HEADROOM_CHECK_S`` each active partner's headroom is read from the
  chain; a partner is told once when it falls below ``headroom_warning_ratio`` of
  min(funds, limit) (``partner.headroom_low``), before purchases start to be held. The episode
  ends when it is above again (a deposit, a settlement, a higher limit); a new fall is told again.

Each function writes its events in one transaction and returns their ids, for
``webhooks.publish_soon`` once committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.chain import Chain
from gateway.services import account
from network.errors import TransientRpcError
from network.headroom import FUNDS_EXHAUSTED
from network.store import OperatorAlert, Partner
from network.store.events import record

log = logging.getLogger(__name__)
HEADROOM_CHECK_S = 5  # how often every active partner's headroom is read from the chain


def tell_held(
    sessions: sessionmaker[Session], client: redis.Redis, chain_id: int, held: dict[int, tuple[int, str]]
) -> list[str]:
    """``held``: partner id -> (purchases held, since when). Events for the partners whose
    purchases started to be held, or stopped being held, since the last call."""
    told_key = f"coalition:funds-exhausted:{chain_id}"
    told = {int(pid) for pid in client.hkeys(told_key)}
    new, restored = set(held) - told, told - set(held)
    if not new and not restored:
        return []
    events: list[str] = []
    with sessions() as session:
        for pid in sorted(new):
            count, since = held[pid]
            data = {"held_purchases": count, "held_since": since, "reason": FUNDS_EXHAUSTED}
            events.append(record(session, "partner.funds_exhausted", payload=data, partner_id=pid))
            session.add(
                OperatorAlert(
                    kind=FUNDS_EXHAUSTED,
                    message=f"partner {pid}: {count} purchase(s) held since {since}: its issuance headroom "
                    "(funds in Clearing, or its issuance limit) is used up; they are minted once it deposits "
                    "or a settlement frees its funds",
                    details={"partner_id": pid, **data},
                )
            )
        for pid in sorted(restored):
            events.append(record(session, "partner.funds_restored", payload={"held_purchases": 0}, partner_id=pid))
        session.commit()
    for pid in new:
        client.hset(told_key, str(pid), held[pid][1])
    if restored:
        client.hdel(told_key, *(str(pid) for pid in restored))
    return events


def low_headroom(sessions: sessionmaker[Session], chain: Chain, ratio: float) -> dict[int, dict[str, str]]:
    """Active partners whose issuance headroom is below ``ratio`` of min(funds, limit), read
    from the chain: partner id -> what the webhook says."""
    if ratio <= 0:
        return {}
    with sessions() as session:
        ids = list(session.scalars(select(Partner.id).where(Partner.status == "active").order_by(Partner.id)))
    low: dict[int, dict[str, str]] = {}
    for pid in ids:
        if not account.headroom_low(*account.read_headroom(chain, pid), ratio):
            continue  # the usual case: three reads, not the eight of the warning's figures
        m = account.read_money(chain, pid)
        if account.headroom_low(m.headroom, m.bound, ratio):
            low[pid] = {
                "issuance_headroom": str(m.headroom),
                "funds": str(m.funds),
                "issuance_limit": str(m.issuance_limit),
                "exposure": str(m.exposure),
                "warning_ratio": str(ratio),
                "token_symbol": m.token_symbol,
                "token_decimals": str(m.token_decimals),
            }
    return low


def tell_headroom_low(
    sessions: sessionmaker[Session], client: redis.Redis, connect: Callable[[], Chain], *, chain_id: int, ratio: float
) -> list[str]:
    """Events for the partners newly below the warning ratio; at most once per
    ``HEADROOM_CHECK_S`` (whoever calls first in that time looks, through the chain handle
    ``connect()`` gives; the others return at once)."""
    if not client.set(f"coalition:headroom-check:{chain_id}", "1", nx=True, ex=HEADROOM_CHECK_S):
        return []
    try:
        low = low_headroom(sessions, connect(), ratio)
    except (TransientRpcError, *account.CHAIN_ERRORS) as exc:
        log.warning("headroom check skipped: the chain cannot be read (%s)", exc)
        return []
    told_key = f"coalition:headroom-low:{chain_id}"
    told = {int(pid) for pid in client.hkeys(told_key)}
    new, over = set(low) - told, told - set(low)
    events: list[str] = []
    if new:
        with sessions() as session:
            for pid in sorted(new):
                events.append(record(session, "partner.headroom_low", payload=low[pid], partner_id=pid))
            session.commit()
        client.hset(told_key, mapping={str(pid): low[pid]["issuance_headroom"] for pid in new})
    if over:
        client.hdel(told_key, *(str(pid) for pid in over))
    return events
