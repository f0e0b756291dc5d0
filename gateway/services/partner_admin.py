"""The operator's changes to a partner: suspend, reactivate, re-rate.

The registry on chain is the authority (it is what the contracts enforce), so each change is
made there first with the operator's key, then mirrored in the store. A crash between the two
leaves the store behind, never ahead; the next call for the partner re-reads the chain and
mirrors it (every call ends with the store equal to the chain's record). Suspending a suspended
partner, or reactivating an active one, changes nothing and answers the partner as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal

import requests
from sqlalchemy.orm import Session

from gateway.chain import Chain
from gateway.errors import ChainRejected, ChainUnavailable, NotFound
from gateway.models import Partner
from gateway.operator_key import transact_as_operator
from network.errors import ChainError, TransientRpcError

STATUS_NAMES = {0: "none", 1: "active", 2: "suspended"}  # PartnerRegistry.PartnerStatus


def _partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(f"no partner {partner_id}")
    return partner


def _mirror(chain: Chain, partner: Partner) -> None:
    """Copies the chain's record of the partner (status, prices, limit) into the store row."""
    p = chain.contracts.registry.functions.partner(partner.id).call()
    record = dict(
        zip(("minter", "status", "treasury", "issuePrice", "reimbursementRate", "issuanceLimit"), p, strict=True)
    )
    partner.status = STATUS_NAMES.get(int(record["status"]), "unknown")
    partner.issue_price = int(record["issuePrice"])
    partner.reimbursement_rate = int(record["reimbursementRate"])
    partner.issuance_limit = int(record["issuanceLimit"])


@contextlib.contextmanager
def _chain_errors(session: Session) -> Iterator[None]:
    """An unreachable node is a 503 (retry later), a refused transaction a 409."""
    try:
        yield
    except (requests.ConnectionError, requests.Timeout, TransientRpcError) as exc:
        session.rollback()
        raise ChainUnavailable(f"the chain cannot be reached ({type(exc).__name__}); retry later") from exc
    except ChainError as exc:
        session.rollback()
        raise ChainRejected(str(exc)) from exc


def _on_chain(chain: Chain, fn: object) -> None:
    transact_as_operator(chain, fn)  # type: ignore[arg-type]


def set_status(session: Session, chain: Chain, partner_id: int, *, active: bool) -> Partner:
    """Suspends (``active=False``) or reactivates the partner, on chain then in the store."""
    partner = _partner(session, partner_id)
    registry = chain.contracts.registry.functions
    with _chain_errors(session):
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
    """Changes the partner's prices and limit on chain (fields not given keep the chain's
    values) and its earn rule (``points_per_unit``, the gateway's alone) in the store. Points
    issued before keep their price: each event carries the rate in force when it happened."""
    partner = _partner(session, partner_id)
    with _chain_errors(session):
        if (issue_price, reimbursement_rate, issuance_limit) != (None, None, None):
            registry = chain.contracts.registry.functions
            current = registry.partner(partner_id).call()
            _on_chain(
                chain,
                registry.rerate(
                    partner_id,
                    current[3] if issue_price is None else issue_price,
                    current[4] if reimbursement_rate is None else reimbursement_rate,
                    current[5] if issuance_limit is None else issuance_limit,
                ),
            )
        _mirror(chain, partner)
    if points_per_unit is not None:
        partner.points_per_unit = points_per_unit
    session.commit()
    return partner
