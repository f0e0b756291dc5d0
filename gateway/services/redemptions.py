"""A redemption once accepted (gateway/services/redemption_acceptance.py accepts it): its
``ref`` on chain, what the gateway reads of the points contract for it, and its later steps
(burning, burned, fulfilled, failed), each one conditional on the step before, so that a task
delivered twice never does a step twice.

The redeem ``ref`` (bytes32 of the ``Redeemed`` event) is keccak256(abi.encode(chain id,
partner id, redemption_id)): deterministic, so the event of a redemption can always be found.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from web3.exceptions import Web3Exception

from gateway.chain import Chain
from gateway.errors import ChainUnavailable
from gateway.failures import failure_of
from gateway.services import webhooks
from gateway.services.rewards import release_stock
from gateway.settings import GatewaySettings
from network.errors import TransientRpcError, failure_name
from network.eth_calls import eth_caller
from network.store import Partner, Redemption
from network.store.events import record

BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")
NONCE_USED = function_signature_to_4byte_selector("redeemNonceUsed(address,uint256)")
IN_FLIGHT = ("accepted", "burning")  # points not yet burned on chain: still in the customer's balance
OPEN = ("accepted", "burning", "burned")  # not final: the worker (or the sweep) has more to do


class PointsView(Protocol):
    """What acceptance reads from the points contract (the unit tests give a fake)."""

    chain_id: int
    points_address: str

    def balance_of(self, wallet: str) -> int: ...
    def nonce_used(self, wallet: str, nonce: int) -> bool: ...
    def balance_and_nonce_used(self, wallet: str, nonce: int) -> tuple[int, bool]: ...
    def chain_time(self) -> int: ...


CHAIN_CLOCK_TTL_S = 10.0
_chain_clocks: dict[str, tuple[float, int]] = {}  # endpoint -> (monotonic time read, chain time - wall time)


def consent_now(view: PointsView) -> int:
    """Now, to date a consent's deadline by: the wall clock, or the chain's where the chain runs ahead
    of it (a local chain whose clock a demo or a test moved forward with ``evm_increaseTime``: the
    contract checks deadlines against ``block.timestamp``, so one dated by the wall clock would
    already have passed there). On a public chain the two agree and this is the wall clock."""
    return max(int(time.time()), view.chain_time())


class ChainPointsView:
    """The points contract on the gateway's chain; an unreachable node is a 503.

    The view calls are bare ``eth_call`` requests with their calldata encoded here, sent on a
    kept-alive connection (network/eth_calls.py): web3's contract call would add an
    ``eth_chainId`` request (its validation middleware), hash the function's signature again and
    go through ``requests``, about a millisecond of CPU per call. Both reads of an authorisation
    go as one batch (``balance_and_nonce_used``)."""

    def __init__(self, chain: Chain, settings: GatewaySettings) -> None:
        self._caller = eth_caller(str(chain.w3.provider.endpoint_uri), timeout_s=settings.rpc_timeout_s)  # type: ignore[attr-defined]
        self.chain_id = settings.chain_id
        self.points_address = str(chain.contracts.points.address)
        self._w3 = chain.w3
        self._endpoint = str(chain.w3.provider.endpoint_uri)  # type: ignore[attr-defined]

    def balance_of(self, wallet: str) -> int:
        (balance,) = self._call(_balance_of(wallet))
        return int.from_bytes(balance, "big")

    def nonce_used(self, wallet: str, nonce: int) -> bool:
        (used,) = self._call(_nonce_used(wallet, nonce))
        return int.from_bytes(used, "big") != 0

    def balance_and_nonce_used(self, wallet: str, nonce: int) -> tuple[int, bool]:
        """(``balance_of``, ``nonce_used``) read in one round trip."""
        balance, used = self._call(_balance_of(wallet), _nonce_used(wallet, nonce))
        return int.from_bytes(balance, "big"), int.from_bytes(used, "big") != 0

    def chain_time(self) -> int:
        """The chain's time now: its latest block's, read at most every ``CHAIN_CLOCK_TTL_S`` per node
        (kept as an offset from the wall clock); the wall clock when the node cannot tell."""
        read_at, offset = _chain_clocks.get(self._endpoint, (-CHAIN_CLOCK_TTL_S, 0))
        if time.monotonic() - read_at >= CHAIN_CLOCK_TTL_S:
            with contextlib.suppress(TransientRpcError, Web3Exception, OSError):  # else the last offset known
                offset = int(self._w3.eth.get_block("latest")["timestamp"]) - int(time.time())
            _chain_clocks[self._endpoint] = (time.monotonic(), offset)
        return int(time.time()) + offset

    def _call(self, *data: bytes) -> list[bytes]:
        try:
            replies = self._caller.calls([(self.points_address, d) for d in data])
        except TransientRpcError as exc:
            raise ChainUnavailable(f"the chain cannot be reached ({failure_name(exc)}); retry later") from exc
        words = []
        for reply in replies:
            result = reply.get("result")
            if "error" in reply or not isinstance(result, str) or len(result) != 66:
                raise ChainUnavailable(f"the chain answered eth_call with {reply.get('error', result)!r}; retry later")
            words.append(bytes.fromhex(result[2:]))
        return words


def _balance_of(wallet: str) -> bytes:
    return BALANCE_OF + _word(int(wallet, 16))


def _nonce_used(wallet: str, nonce: int) -> bytes:
    return NONCE_USED + _word(int(wallet, 16)) + _word(nonce)


def _word(value: int) -> bytes:
    """An ABI word: an address or a uint256 (what ``abi_encode`` gives for one, at a tenth of its CPU)."""
    return value.to_bytes(32, "big")


def redeem_ref(chain_id: int, partner_id: int, redemption_id: str) -> str:
    return "0x" + keccak(abi_encode(["uint256", "uint32", "string"], [chain_id, partner_id, redemption_id])).hex()


def find_redemption(session: Session, *, partner_id: int, redemption_id: str) -> Redemption | None:
    return session.scalar(
        select(Redemption).where(Redemption.partner_id == partner_id, Redemption.redemption_id == redemption_id)
    )


def get_redemption(session: Session, *, partner: Partner, redemption_id: str) -> Redemption | None:
    return find_redemption(session, partner_id=partner.id, redemption_id=redemption_id)


# ---------------------------------------------------------------------- later steps (the worker's)


def event_data(redemption: Redemption) -> dict[str, Any]:
    return {
        "redemption_id": redemption.redemption_id,
        "status": redemption.status,
        "sku": redemption.sku,
        "quantity": redemption.quantity,
        "points": redemption.points,
        "customer_wallet": redemption.customer_wallet,
        "ref": redemption.ref,
        "tx_hash": redemption.tx_hash,
        "voucher_code": redemption.voucher_code,
        "failure_reason": redemption.failure_reason,
        "failure": failure_public(redemption.failure_reason),
    }


def failure_public(reason: str | None) -> dict[str, str] | None:
    """The problem ``{type, title, detail}`` of a failed redemption's reason (gateway/failures.py)."""
    found = failure_of("redemption", reason)
    return None if found is None else found.public()


def _step(session: Session, pk: int, allowed: tuple[str, ...], **values: Any) -> bool:
    """Moves the redemption on only from one of ``allowed``: True when this call moved it."""
    result = session.execute(
        update(Redemption)
        .where(Redemption.id == pk, Redemption.status.in_(allowed))
        .values(updated_at=datetime.now(UTC), **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def mark_burning(session: Session, pk: int, *, tx_hash: str, tx_nonce: int) -> bool:
    """Accepted -> burning, pointing at its signed burn (a ``burn`` transaction of the relayer
    key, stored by the transaction driver in the same database transaction, before it is
    broadcast). True when this call moved it; the caller commits."""
    return _step(session, pk, ("accepted",), status="burning", tx_hash=tx_hash, tx_nonce=tx_nonce)


def repoint_burn(session: Session, *, old: list[str], new: str) -> None:
    """The redemption whose burn is one of ``old`` now points at ``new`` (a fee replacement of
    it, or the one of them that was mined); the caller commits."""
    session.execute(
        update(Redemption)
        .where(Redemption.tx_hash.in_(old), Redemption.tx_hash != new)
        .values(tx_hash=new, updated_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )


def mark_unsigned(session: Session, pk: int) -> bool:
    """Burning -> accepted: its transaction will never be mined (its nonce went to another) and
    its consent is unused, so it is signed again. The caller commits."""
    return _step(session, pk, ("burning",), status="accepted", tx_hash=None, tx_nonce=None, block_number=None)


def reopen_burned(session: Session, *, tx_hashes: list[str]) -> int:
    """Burned (not yet fulfilled) -> burning for the redemptions burned by one of ``tx_hashes``,
    whose block the node lost: the driver sends the same bytes again. Returns how many; the
    caller commits."""
    result = session.execute(
        update(Redemption)
        .where(Redemption.tx_hash.in_(tx_hashes), Redemption.status == "burned")
        .values(status="burning", block_number=None, burned_at=None, updated_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mark_burned(session: Session, pk: int, *, tx_hash: str, block_number: int) -> bool:
    """Accepted or burning -> burned by ``tx_hash`` (ours, or anyone's who relayed the same
    consent). True when this call moved it; the caller commits."""
    return _step(
        session, pk, IN_FLIGHT, status="burned", tx_hash=tx_hash, block_number=block_number, burned_at=datetime.now(UTC)
    )


def mark_failed(session: Session, pk: int, reason: str) -> list[str]:
    """Failed, stock released and its ``redemption.failed`` event written, in the caller's
    transaction (the caller commits); only from before the burn. Returns the events written
    that a webhook listens to (for ``webhooks.publish_soon`` once committed)."""
    now = datetime.now(UTC)
    events: list[str] = []
    if _step(session, pk, IN_FLIGHT, status="failed", failure_reason=reason[:2000], finished_at=now):
        redemption = session.get(Redemption, pk, populate_existing=True)
        assert redemption is not None
        release_stock(session, redemption)
        events += _event(session, "redemption.failed", redemption)
    return events


def mark_fulfilled(session: Session, pk: int) -> list[str]:
    """Burned -> fulfilled with a fresh voucher code and its ``redemption.fulfilled`` event, in
    one transaction guarded by the status: a redemption is never fulfilled twice. Returns the
    events written that a webhook listens to (for ``webhooks.publish_soon``)."""
    events: list[str] = []
    code = secrets.token_urlsafe(15)
    if _step(session, pk, ("burned",), status="fulfilled", voucher_code=code, finished_at=datetime.now(UTC)):
        redemption = session.get(Redemption, pk, populate_existing=True)
        assert redemption is not None
        events += _event(session, "redemption.fulfilled", redemption)
    session.commit()
    return events


def _event(session: Session, event_type: str, redemption: Redemption) -> list[str]:
    """Writes the event; returns it when a webhook endpoint listens (worth publishing at once)."""
    event_id = record(
        session,
        event_type,
        payload=event_data(redemption),
        partner_id=redemption.partner_id,
        customer_wallet=redemption.customer_wallet,
    )
    return [event_id] if webhooks.listens(session, redemption.partner_id, event_type) else []
