"""The relayer's batched burns on a real anvil (tests/network/harness.py), without a broker: the
burn protocol's batch step (gateway/services/burns.py ``burn_batch``) with the real ``Relayer``; the
redemptions are rows written straight into the store, as acceptance would have stored them, with
the customers' real EIP-712 signatures.

Ports: 8936-8939.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from sqlalchemy import select

from gateway.services.burns import burn_batch, burn_stored
from gateway.services.redemptions import redeem_ref
from network.direct import transact
from network.errors import ChainError
from network.keys import dev_account
from network.purchases import encode_purchase
from network.relayer import Relayer
from network.signatures import RedeemConsent, sign_redeem
from network.store import Partner, Redemption, Reward
from tests.network.harness import Harness, make_harness

pytestmark = pytest.mark.timeout(120)
POINTS = 5


class NoLock:
    def refresh(self) -> None:
        pass


class FailingRelayer(Relayer):
    """Refuses to broadcast its ``fail_at``-th transaction (counted from 0), as a node might."""

    fail_at = 2
    sent = 0

    def broadcast(self, raw_tx: bytes) -> None:
        if self.sent == self.fail_at:
            self.sent += 1
            raise ChainError("node refused the burn: test")
        self.sent += 1
        super().broadcast(raw_tx)


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    tmp: Path = tmp_path_factory.mktemp("burns")
    for port in range(8936, 8940):
        try:
            harness = make_harness(tmp / str(port), port)
            break
        except Exception:
            continue
    else:
        pytest.skip("no free port in 8936-8939")
    try:
        yield harness
    finally:
        harness.node.stop()


def customer(label: str) -> LocalAccount:
    return Account.from_key(keccak(f"burns-{label}".encode()))


def setup_partner(h: Harness, name: str, customers: list[LocalAccount], points_each: int) -> tuple[int, int]:
    """A partner on chain and in the store, points minted to ``customers``, and a reward with
    stock 0 (what is left once every stored redemption reserved its unit). Returns (partner id,
    reward id)."""
    minter, treasury = Account.create(), Account.create()
    for a in (minter, treasury):
        h.w3.provider.make_request("anvil_setBalance", [a.address, hex(10**21)])
    partner_id = h.onboard(minter, treasury)
    for seq, c in enumerate(customers, start=1):
        transact(h.w3, minter, h.contracts.points.functions.earn(encode_purchase(c.address, seq, points_each)))
    with h.sessions() as s:
        s.add(
            Partner(
                id=partner_id,
                name=name,
                minter=minter.address,
                treasury=treasury.address,
                api_key_prefix=name,
                api_key_hash="0" * 64,
                currency="EUR",
                points_per_unit=1,
                issue_price=10_000,
                reimbursement_rate=8_000,
                issuance_limit=10**15,
            )
        )
        s.flush()
        reward = Reward(partner_id=partner_id, sku="SKU", name="reward", points=POINTS, stock=0)
        s.add(reward)
        s.commit()
        return partner_id, reward.id


def store_redemption(
    h: Harness, partner_id: int, reward_id: int, c: LocalAccount, rid: str, nonce: int, deadline: int | None = None
) -> int:
    chain_id = h.settings.chain_id
    ref = redeem_ref(chain_id, partner_id, rid)
    deadline = deadline or int(time.time()) + 600
    consent = RedeemConsent(c.address, partner_id, POINTS, bytes.fromhex(ref[2:]), nonce, deadline)
    signature = sign_redeem(c.key, consent, chain_id=chain_id, points_address=h.contracts.points.address)
    with h.sessions() as s:
        r = Redemption(
            partner_id=partner_id,
            redemption_id=rid,
            request_hash="0" * 64,
            reward_id=reward_id,
            sku="SKU",
            quantity=1,
            points=POINTS,
            stock_reserved=True,
            customer_wallet=c.address,
            custodial=False,
            ref=ref,
            nonce=str(nonce),
            deadline=deadline,
            signature=signature,
            status="accepted",
            attempts=0,
        )
        s.add(r)
        s.commit()
        return r.id


def rows(h: Harness, pks: list[int]) -> dict[int, Redemption]:
    with h.sessions() as s:
        found = {r.id: r for r in s.scalars(select(Redemption).where(Redemption.id.in_(pks)))}
        s.expunge_all()
        return found


def redeemed_refs(h: Harness) -> list[str]:
    points = h.contracts.points
    logs = points.events.Redeemed().get_logs(from_block=0)
    return ["0x" + bytes(log["args"]["ref"]).hex() for log in logs]


def test_a_batch_signs_consecutive_nonces_burns_each_once_and_fails_only_the_refused(h: Harness) -> None:
    alice, bob = customer("alice"), customer("bob")
    partner_id, reward_id = setup_partner(h, "batch", [alice, bob], 100)
    pks = [store_redemption(h, partner_id, reward_id, c, f"b-{i}", 10 + i) for i, c in enumerate([alice, bob] * 3)]
    expired = store_redemption(h, partner_id, reward_id, alice, "b-expired", 99, deadline=int(time.time()) - 10)
    pks.insert(3, expired)
    relayer = Relayer(h.w3, h.contracts, dev_account(2, h.settings), h.settings.chain_id)
    start = relayer.next_nonce()
    with h.sessions() as s:
        assert burn_batch(s, relayer=relayer, lease=NoLock(), pks=pks) == set()
    done = rows(h, pks)
    burned = [pk for pk in pks if pk != expired]
    assert {done[pk].status for pk in burned} == {"fulfilled"}
    assert [done[pk].tx_nonce for pk in burned] == list(range(start, start + len(burned)))
    assert len({done[pk].voucher_code for pk in burned}) == len(burned)
    assert done[expired].status == "failed" and "expired" in (done[expired].failure_reason or "").lower()
    assert done[expired].tx_hash is None  # refused at the estimate: never signed, never sent
    refs = redeemed_refs(h)
    assert sorted(refs) == sorted(done[pk].ref for pk in burned)  # each once, the refused one never
    assert relayer.mined_nonce() == start + len(burned)
    assert h.contracts.points.functions.balanceOf(alice.address).call() == 100 - 3 * POINTS
    with h.sessions() as s:
        assert s.get(Reward, reward_id).stock == 1  # the failed one's unit given back, once


def test_a_broadcast_refused_mid_batch_leaves_the_rest_stored_and_the_recovery_burns_each_once(h: Harness) -> None:
    carol = customer("carol")
    partner_id, reward_id = setup_partner(h, "gap", [carol], 100)
    pks = [store_redemption(h, partner_id, reward_id, carol, f"g-{i}", 40 + i) for i in range(5)]
    failing = FailingRelayer(h.w3, h.contracts, dev_account(2, h.settings), h.settings.chain_id)
    start = failing.next_nonce()
    with h.sessions() as s:
        pending = burn_batch(s, relayer=failing, lease=NoLock(), pks=pks)
    assert pending == set(pks[2:])
    stored = rows(h, pks)
    assert [stored[pk].status for pk in pks] == ["fulfilled", "fulfilled", "burning", "burning", "burning"]
    assert [stored[pk].tx_nonce for pk in pks] == list(range(start, start + 5))
    assert failing.mined_nonce() == start + 2  # nothing after the gap was sent

    relayer = Relayer(h.w3, h.contracts, dev_account(2, h.settings), h.settings.chain_id)
    for pk in reversed(pks[2:]):  # what each redemption's own task does, the highest nonce first
        with h.sessions() as s:
            r = s.get(Redemption, pk)
            assert r is not None
            burn_stored(s, relayer=relayer, redemption=r, lease=NoLock())
    done = rows(h, pks)
    assert {done[pk].status for pk in pks[2:]} == {"burned"}
    assert [done[pk].tx_hash for pk in pks] == [stored[pk].tx_hash for pk in pks]  # the same bytes resent
    refs = redeemed_refs(h)
    assert all(refs.count(done[pk].ref) == 1 for pk in pks)
    assert h.contracts.points.functions.balanceOf(carol.address).call() == 100 - 5 * POINTS


def test_the_gateway_points_view_reads_what_the_bindings_read(h: Harness) -> None:
    from gateway.chain import Chain
    from gateway.services.redemptions import ChainPointsView
    from gateway.settings import GatewaySettings

    dave = customer("dave")
    partner_id, reward_id = setup_partner(h, "view", [dave], 42)
    pk = store_redemption(h, partner_id, reward_id, dave, "v-1", 2**64 + 3)
    view = ChainPointsView(
        Chain(h.w3, h.contracts, h.operator, h.admin), GatewaySettings(mode="local", chain_id=h.settings.chain_id)
    )
    assert view.balance_of(dave.address) == 42
    assert view.balance_of(customer("nobody").address) == 0
    assert not view.nonce_used(dave.address, 2**64 + 3)
    with h.sessions() as s:
        relayer = Relayer(h.w3, h.contracts, dev_account(2, h.settings), h.settings.chain_id)
        assert burn_batch(s, relayer=relayer, lease=NoLock(), pks=[pk]) == set()
    assert view.nonce_used(dave.address, 2**64 + 3) and not view.nonce_used(dave.address, 2**64 + 2)
    assert view.balance_of(dave.address) == 42 - POINTS == h.contracts.points.functions.balanceOf(dave.address).call()
