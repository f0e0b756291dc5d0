"""A period's settlement recomputed by anyone from the chain alone: the chain's logs
(network/points_logs.py) through the settlement maths (loyalty/settlement.py), without the store
or the gateway's decoder. The demo, the end-to-end tests and the benchmarks compare the gateway's
statements with it, and the operator API's liability over time (``liability_from_chain``) with its
recomputation from the supply's and the registry's logs."""

from __future__ import annotations

from datetime import date

from web3 import Web3

from loyalty.expiry import Expiry, points_expired
from loyalty.liability import LiabilityDay, Movement, RateEvent, business_days, liability_by_day
from loyalty.settlement import PartnerLine, PointsEvent, partner_lines
from network.deployments import AddressBook
from network.points_logs import expired_logs, points_logs, supply_and_rate_logs


def recompute_from_chain(w3: Web3, book: AddressBook, from_block: int, to_block: int) -> list[PartnerLine]:
    """The period's lines straight from the chain's logs of ``from_block..to_block``."""
    logs = points_logs(w3, book, from_block, to_block)
    return partner_lines(PointsEvent(log.kind, log.partner_id, log.points, log.rate) for log in logs)


def points_expired_from_chain(w3: Web3, book: AddressBook, from_block: int, to_block: int) -> int:
    """The period's expired points (a statement's ``points_expired``) straight from the chain's logs."""
    logs = expired_logs(w3, book, from_block, to_block)
    return points_expired(Expiry(log.holder, log.points, log.expires_at) for log in logs)


def liability_from_chain(
    w3: Web3, book: AddressBook, *, start: date, end: date, tz: str, to_block: int | None = None
) -> list[LiabilityDay]:
    """The liability per day of ``start..end`` (days of ``tz``: the operator API's
    ``/v1/operator/liability``) straight from the chain's logs since the deployment, up to
    ``to_block`` (default: the latest block)."""
    last = w3.eth.block_number if to_block is None else to_block
    supply, rates = supply_and_rate_logs(w3, book, book.deployed_at_block, last)
    return liability_by_day(
        business_days(start, end, tz),
        [Movement(log.block_time, log.kind, log.points) for log in supply],
        [RateEvent(r.block_time, (r.block_number, r.log_index), r.partner_id, r.name, r.rate) for r in rates],
    )
