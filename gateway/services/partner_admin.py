"""The operator's changes to a partner: suspend, reactivate, re-rate.

The registry on chain is the authority (it is what the contracts enforce), so each change is
made there first with the operator's key, then mirrored in the store. A crash between the two
leaves the store behind, never ahead; the next call for the partner re-reads the chain and
mirrors it (every call ends with the store equal to the chain's record). Suspending a suspended
partner, or reactivating an active one, changes nothing and answers the partner as it is.

New prices move the partner's money, so the registry takes them only after its notice period
(``PartnerRegistry.noticePeriod``, at least a day): a re-rate is scheduled on chain, shown on
the partner as ``scheduled_rerate``, and put in force by :func:`apply_due` (beat) once due.
The issuance limit and the gateway's earn rule change at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.chain import Chain
from gateway.errors import ChainRejected, ChainUnavailable, NotFound
from gateway.operator_key import transact_as_operator
from network.errors import ChainError, TransientRpcError, failure_name
from network.store import Partner

STATUS_NAMES = {0: "none", 1: "active", 2: "suspended"}  # PartnerRegistry.PartnerStatus


def get_partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(f"no partner {partner_id}")
    return partner


def list_partners(session: Session) -> list[Partner]:
    """Every partner, in the order of onboarding."""
    return list(session.scalars(select(Partner).order_by(Partner.id)))


def _mirror(chain: Chain, partner: Partner) -> None:
    """Copies the chain's record of the partner (status, keys, prices, limit, scheduled rerate)
    into the store row."""
    registry = chain.contracts.registry.functions
    p = registry.partner(partner.id).call()
    record = dict(
        zip(("minter", "status", "treasury", "issuePrice", "reimbursementRate", "issuanceLimit"), p, strict=True)
    )
    partner.status = STATUS_NAMES.get(int(record["status"]), "unknown")
    partner.minter, partner.treasury = str(record["minter"]), str(record["treasury"])
    partner.issue_price = int(record["issuePrice"])
    partner.reimbursement_rate = int(record["reimbursementRate"])
    partner.issuance_limit = int(record["issuanceLimit"])
    price, rate, effective_at = registry.pendingRerate(partner.id).call()
    partner.scheduled_rerate = (
        {
            "issue_price": int(price),
            "reimbursement_rate": int(rate),
            "effective_at": datetime.fromtimestamp(int(effective_at), UTC).isoformat(),
        }
        if effective_at
        else None
    )


@contextlib.contextmanager
def chain_errors(session: Session) -> Iterator[None]:
    """An unreachable node is a 503 (retry later), a refused transaction a 409."""
    try:
        yield
    except TransientRpcError as exc:
        session.rollback()
        raise ChainUnavailable(f"the chain cannot be reached ({failure_name(exc)}); retry later") from exc
    except ChainError as exc:
        session.rollback()
        raise ChainRejected(str(exc)) from exc


def _on_chain(chain: Chain, fn: object) -> None:
    transact_as_operator(chain, fn)  # type: ignore[arg-type]


def set_status(session: Session, chain: Chain, partner_id: int, *, active: bool) -> Partner:
    """Suspends (``active=False``) or reactivates the partner, on chain then in the store."""
    partner = get_partner(session, partner_id)
    registry = chain.contracts.registry.functions
    with chain_errors(session):
        status = STATUS_NAMES.get(int(registry.partner(partner_id).call()[1]))
        if active and status == "suspended":
            _on_chain(chain, registry.reactivate(partner_id))
        elif not active and status == "active":
            _on_chain(chain, registry.suspend(partner_id))
        _mirror(chain, partner)
    session.commit()
    return partner


def rerate(
    session: Session,
    chain: Chain,
    partner_id: int,
    *,
    issue_price: int | None = None,
    reimbursement_rate: int | None = None,
    issuance_limit: int | None = None,
    points_per_unit: Decimal | None = None,
) -> Partner:
    """Schedules new prices on chain (in force after the registry's notice period; a price not
    given keeps the chain's value, or the one already scheduled), sets the issuance limit on
    chain at once, and the earn rule (``points_per_unit``, the gateway's alone) in the store.
    Points issued before keep their price: each event carries the rate in force when it happened."""
    partner = get_partner(session, partner_id)
    with chain_errors(session):
        registry = chain.contracts.registry.functions
        if issuance_limit is not None:
            _on_chain(chain, registry.setIssuanceLimit(partner_id, issuance_limit))
        if (issue_price, reimbursement_rate) != (None, None):
            current = registry.partner(partner_id).call()
            pending = registry.pendingRerate(partner_id).call()
            base_price, base_rate = (pending[0], pending[1]) if pending[2] else (current[3], current[4])
            _on_chain(
                chain,
                registry.scheduleRerate(
                    partner_id,
                    base_price if issue_price is None else issue_price,
                    base_rate if reimbursement_rate is None else reimbursement_rate,
                ),
            )
        _mirror(chain, partner)
    if points_per_unit is not None:
        partner.points_per_unit = points_per_unit
    session.commit()
    return partner


def cancel_scheduled(session: Session, chain: Chain, partner_id: int) -> Partner:
    """Cancels every change scheduled on chain for the partner (prices, treasury, minter)."""
    partner = get_partner(session, partner_id)
    with chain_errors(session):
        _on_chain(chain, chain.contracts.registry.functions.cancelScheduled(partner_id))
        _mirror(chain, partner)
    session.commit()
    return partner


def apply_due(session: Session, chain: Chain) -> list[int]:
    """Puts in force every scheduled change whose notice is over (anyone may; the operator's key
    sends them) and mirrors the partners concerned. Returns their ids."""
    registry = chain.contracts.registry.functions
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    applied: list[int] = []
    for partner in session.scalars(select(Partner).order_by(Partner.id)):
        due = [
            apply
            for pending, apply in (
                (registry.pendingRerate(partner.id).call()[2], registry.applyRerate),
                (registry.pendingTreasury(partner.id).call()[1], registry.applyTreasury),
                (registry.pendingMinter(partner.id).call()[1], registry.applyMinter),
            )
            if 0 < pending <= now
        ]
        with chain_errors(session):
            for apply in due:
                _on_chain(chain, apply(partner.id))
            if due or partner.scheduled_rerate is not None:
                _mirror(chain, partner)
        session.commit()
        if due:
            applied.append(partner.id)
    return applied
