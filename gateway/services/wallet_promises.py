"""What a customer's wallet has promised and not burned yet, and the lock that makes checking it
safe: redemptions in flight (accepted, burning) and points holds still open (authorised, not
expired). Every acceptance that promises points (a redemption, a hold) first writes the wallet's
row of ``points_wallet_locks`` (``lock_wallet``), so that two of them on one wallet check the
balance one after the other and never both count the same points as free.

Order matters against the burns, which leave the in-flight sums without that lock: read the
promises first and the chain's balance after. A burn mined in between lowers the balance while
its redemption still counts as promised (points counted twice: a refusal at worst, never an
overspend); the other order could count a burn's points as neither burned nor promised, unless
the redemptions burned since the balance was read count as promised too (``balance_read_at``),
which lets a caller read the balance before it takes the lock (points holds: the till's answer
does not wait on the chain while it holds the wallet's lock).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, String, bindparam, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from network.store import PointsHold, PointsWalletLock, Redemption, utcnow

IN_FLIGHT = ("accepted", "burning")  # as gateway/services/redemptions.py IN_FLIGHT: not burned yet


def lock_wallet(session: Session, wallet: str) -> None:
    """Writes the wallet's lock row in the caller's transaction (held until it commits or rolls
    back): PostgreSQL locks the row, SQLite takes its one write lock."""
    values = {"wallet": wallet, "touched_at": utcnow()}
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    insert = dialect.insert(PointsWalletLock).values(values)
    session.execute(insert.on_conflict_do_update(index_elements=["wallet"], set_={"touched_at": values["touched_at"]}))


def _promised_statement(*, since_read: bool) -> Select[tuple[int, int]]:
    """(in flight, held) of the wallet ``:wallet`` at ``:now``; ``since_read``: redemptions marked
    burned after ``:read_at`` count as in flight too. Built once (its SQL compiled once, its cache
    key memoised): building it again for every call cost more than running it."""
    wallet = bindparam("wallet", type_=String)
    not_burned = Redemption.status.in_(IN_FLIGHT)
    if since_read:
        not_burned = or_(not_burned, Redemption.burned_at > bindparam("read_at"))
    in_flight = (
        select(func.coalesce(func.sum(Redemption.points), 0))
        .where(Redemption.customer_wallet == wallet, not_burned, Redemption.status != "failed")
        .scalar_subquery()
    )
    held = (
        select(func.coalesce(func.sum(PointsHold.points), 0))
        .where(
            PointsHold.customer_wallet == wallet,
            PointsHold.status == "authorised",
            PointsHold.expires_at > bindparam("now"),
        )
        .scalar_subquery()
    )
    return select(in_flight, held)


_PROMISED = _promised_statement(since_read=False)
_PROMISED_SINCE_READ = _promised_statement(since_read=True)


def promised(
    session: Session, wallet: str, *, now: datetime, balance_read_at: datetime | None = None
) -> tuple[int, int]:
    """(points of redemptions in flight, points of open holds) of ``wallet``. With
    ``balance_read_at`` (the balance was read before this, outside the lock), redemptions marked
    burned since then count as in flight too: the balance read may not show their burn yet. (The
    caller gives it a margin for the workers' clocks; a margin too wide only refuses more.)"""
    if balance_read_at is None:
        row = session.execute(_PROMISED, {"wallet": wallet, "now": now})
    else:
        row = session.execute(_PROMISED_SINCE_READ, {"wallet": wallet, "now": now, "read_at": balance_read_at})
    in_flight, held = row.one()  # one round trip
    return int(in_flight or 0), int(held or 0)
