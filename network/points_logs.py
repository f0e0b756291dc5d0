"""The chain's own record of what settlement counts: every ``Earned``, ``Redeemed``, ``Reversed`` and
``Restored`` log of a block range, decoded with web3's ABI machinery straight from ``eth_getLogs`` (no store,
no indexer), with the rate each event carries. ``coalition/crosscheck.py`` feeds them to the
settlement maths (loyalty/settlement.py) to recompute a period independently of the gateway."""

from __future__ import annotations

from typing import Literal, NamedTuple

from web3 import Web3

from network.contracts import load_abi
from network.deployments import AddressBook

# event name, kind, the argument that holds the event's rate
Kind = Literal["earned", "redeemed", "reversed", "restored"]
SETTLEMENT_EVENTS: tuple[tuple[str, Kind, str], ...] = (
    ("Earned", "earned", "issuePrice"),
    ("Redeemed", "redeemed", "reimbursementRate"),
    ("Reversed", "reversed", "issuePrice"),
    ("Restored", "restored", "reimbursementRate"),
)


class PointsLog(NamedTuple):
    """One decoded log: ``rate`` is the issue price (earned, reversed) or the reimbursement rate
    (redeemed, restored) that the event carries, in settlement-token base units per point."""

    kind: Kind
    partner_id: int
    points: int
    rate: int


def points_logs(w3: Web3, book: AddressBook, from_block: int, to_block: int) -> list[PointsLog]:
    """Every settlement-relevant log of ``CoalitionPoints`` in ``from_block..to_block``, by kind."""
    points = w3.eth.contract(address=book.address("CoalitionPoints"), abi=load_abi("CoalitionPoints"))
    found: list[PointsLog] = []
    for name, kind, rate in SETTLEMENT_EVENTS:
        for log in getattr(points.events, name)().get_logs(from_block=from_block, to_block=to_block):
            a = log["args"]
            found.append(PointsLog(kind, int(a["partnerId"]), int(a["points"]), int(a[rate])))
    return found


class ExpiredLog(NamedTuple):
    """One decoded ``Expired`` log: a holder's points burned after its expiry time (no partner's)."""

    holder: str
    points: int
    expires_at: int
    block_number: int


def expired_logs(w3: Web3, book: AddressBook, from_block: int, to_block: int) -> list[ExpiredLog]:
    """Every ``Expired`` log of ``CoalitionPoints`` in ``from_block..to_block``, in chain order."""
    points = w3.eth.contract(address=book.address("CoalitionPoints"), abi=load_abi("CoalitionPoints"))
    return [
        ExpiredLog(str(a["holder"]), int(a["points"]), int(a["expiresAt"]), int(log["blockNumber"]))
        for log in points.events.Expired().get_logs(from_block=from_block, to_block=to_block)
        for a in (log["args"],)
    ]


class SupplyLog(NamedTuple):
    """One decoded log that changes the points' total supply: ``kind`` (earned, restored: in;
    redeemed, reversed, expired: out) and its points, with its block's time."""

    kind: str
    points: int
    block_number: int
    log_index: int
    block_time: int


class RateLog(NamedTuple):
    """One ``PartnerRegistry`` log that sets a partner's reimbursement rate or status, with its block's time."""

    name: str
    partner_id: int
    rate: int | None
    block_number: int
    log_index: int
    block_time: int


SUPPLY_EVENTS = (("Earned", "earned"), ("Restored", "restored"), ("Redeemed", "redeemed"),
                 ("Reversed", "reversed"), ("Expired", "expired"))  # fmt: skip
REGISTRY_EVENTS = ("PartnerOnboarded", "PartnerRerated", "PartnerSuspended", "PartnerReactivated")


def supply_and_rate_logs(
    w3: Web3, book: AddressBook, from_block: int, to_block: int
) -> tuple[list[SupplyLog], list[RateLog]]:
    """Every log of ``from_block..to_block`` that moves the points' supply or a partner's
    reimbursement rate or status, each with its block's timestamp (one ``eth_getBlockByNumber`` per block)."""
    points = w3.eth.contract(address=book.address("CoalitionPoints"), abi=load_abi("CoalitionPoints"))
    registry = w3.eth.contract(address=book.address("PartnerRegistry"), abi=load_abi("PartnerRegistry"))
    times: dict[int, int] = {}

    def at(block: int) -> int:
        if block not in times:
            times[block] = int(w3.eth.get_block(block)["timestamp"])
        return times[block]

    supply = [
        SupplyLog(kind, int(log["args"]["points"]), block, int(log["logIndex"]), at(block))
        for name, kind in SUPPLY_EVENTS
        for log in getattr(points.events, name)().get_logs(from_block=from_block, to_block=to_block)
        for block in (int(log["blockNumber"]),)
    ]
    rates = [
        RateLog(
            name,
            int(log["args"]["partnerId"]),
            int(log["args"]["reimbursementRate"]) if "reimbursementRate" in log["args"] else None,
            int(log["blockNumber"]),
            int(log["logIndex"]),
            at(int(log["blockNumber"])),
        )
        for name in REGISTRY_EVENTS
        for log in getattr(registry.events, name)().get_logs(from_block=from_block, to_block=to_block)
    ]
    return supply, rates
