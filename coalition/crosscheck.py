"""A period's settlement recomputed by anyone from the chain alone: the chain's logs
(network/points_logs.py) through the settlement maths (loyalty/settlement.py), without the store
or the gateway's decoder. The demo, the end-to-end tests and the benchmarks compare the gateway's
statements with it."""

from __future__ import annotations

from web3 import Web3

from loyalty.expiry import Expiry, points_expired
from loyalty.settlement import PartnerLine, PointsEvent, partner_lines
from network.deployments import AddressBook
from network.points_logs import expired_logs, points_logs


def recompute_from_chain(w3: Web3, book: AddressBook, from_block: int, to_block: int) -> list[PartnerLine]:
    """The period's lines straight from the chain's logs of ``from_block..to_block``."""
    logs = points_logs(w3, book, from_block, to_block)
    return partner_lines(PointsEvent(log.kind, log.partner_id, log.points, log.rate) for log in logs)


def points_expired_from_chain(w3: Web3, book: AddressBook, from_block: int, to_block: int) -> int:
    """The period's expired points (a statement's ``points_expired``) straight from the chain's logs."""
    logs = expired_logs(w3, book, from_block, to_block)
    return points_expired(Expiry(log.holder, log.points, log.expires_at) for log in logs)
