"""The restore outbox: points of a till capture that a refund gives back, minted again by the
capturing partner's minter with ``CoalitionPoints.restore``.

A restore is written by the gateway in the refund's database transaction
(gateway/services/points_holds.py ``give_back``) and sent by the partner's sender after its
reversals (network/sender.py), once the capture's own burn is on chain: one ``restore``
transaction per row, signed and stored before it is broadcast like every transaction of the key.
The contract bounds what is restored per capture (never more than it burned) and values it at
the capture's own reimbursement rate, so a resend after a crash can only revert, never give back
twice, and the partner's settlement line debits exactly what the capture credited.
"""

from __future__ import annotations

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak
from sqlalchemy import select
from sqlalchemy.orm import Session

from network.outbox_flow import OutboxFlow
from network.store import OutboxRestore, Redemption, ReversalStatus

KIND = "restore"
RESTORE_SELECTOR = function_signature_to_4byte_selector("restore(bytes32,address,uint256,bytes32)")
BURNED = ("burned", "fulfilled")  # a redemption whose Redeemed event is on chain


def refund_ref(partner_id: int, refund_id: str) -> str:
    """The bytes32 a ``Restored`` event names its refund by: keccak256(abi.encode(partnerId, refundId))."""
    return "0x" + keccak(abi_encode(["uint32", "string"], [partner_id, refund_id])).hex()


def enqueue_restore(
    session: Session,
    *,
    partner_id: int,
    give_back_id: int,
    redemption: Redemption,
    refund_ref: str,
    points: int,
) -> OutboxRestore:
    """Adds a restore of ``points`` of the capture whose burn is ``redemption`` to the caller's
    transaction (the caller commits)."""
    if points <= 0:
        raise ValueError("a restore gives back at least one point")
    item = OutboxRestore(
        partner_id=partner_id,
        give_back_id=give_back_id,
        redemption_pk=redemption.id,
        customer=redemption.customer_wallet,
        ref=redemption.ref,
        refund_ref=refund_ref,
        points=points,
        status=ReversalStatus.QUEUED,
        attempts=0,
    )
    session.add(item)
    session.flush()
    return item


def encode_restore(item: OutboxRestore) -> bytes:
    """Calldata of ``restore(ref, customer, points, refundRef)``."""
    args = [bytes.fromhex(item.ref[2:]), item.customer, item.points, bytes.fromhex(item.refund_ref[2:])]
    return RESTORE_SELECTOR + abi_encode(["bytes32", "address", "uint256", "bytes32"], args)


def ready_restores(session: Session, partner_id: int, limit: int) -> list[OutboxRestore]:
    """The partner's queued restores whose capture is burned on chain, oldest first (one read;
    nothing is written unless some are found). Those whose capture's burn failed fail with it
    (nothing was captured, nothing is given back); those whose burn is still on its way wait."""
    if limit <= 0:
        return []
    rows = session.execute(
        select(OutboxRestore, Redemption.status)
        .join(Redemption, Redemption.id == OutboxRestore.redemption_pk)
        .where(OutboxRestore.partner_id == partner_id, OutboxRestore.status == ReversalStatus.QUEUED)
        .order_by(OutboxRestore.id)
        .limit(limit)
    ).all()
    ready = []
    for item, burn in rows:
        if burn == "failed":
            item.status, item.error = ReversalStatus.FAILED, "the capture's burn failed: nothing to give back"
        elif burn in BURNED:
            ready.append(item)
    return ready


class RestoreFlow(OutboxFlow):
    """The hooks of the ``restore`` transactions of one partner's minter key: each restore
    follows its transaction."""

    def __init__(self) -> None:
        super().__init__(OutboxRestore)
