"""The relayer's burns on a real anvil (tests/network/harness.py), without a broker: the burn
protocol's driver of the relayer key (gateway/services/burns.py ``Burns``: the one transaction
driver with ``BurnFlow`` as the hooks of kind ``burn``) with the real ``Relayer``; the redemptions
are rows written straight into the store, as acceptance would have stored them, with the
customers' real EIP-712 signatures. A holder of the key's lease "killed" is a ``Burns`` dropped
after a step; the next holder is a new one, which recovers the key first, as a new task does.

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

from gateway.services.burns import BURN_KIND, Burns, key_of
from gateway.services.redemptions import redeem_ref
from network.direct import transact
from network.keys import dev_account
from network.purchases import encode_purchase
from network.relayer import Relayer
from network.signatures import RedeemConsent, sign_redeem
from network.store import ChainTransaction, Partner, Redemption, Reward, TxStatus
from tests.fakes import HeldLease
from tests.network.harness import Harness, make_harness
from tests.ports import for_worker

pytestmark = pytest.mark.timeout(120)
POINTS = 5


def relayer(h: Harness) -> Relayer:
    return Relayer(h.w3, h.contracts, dev_account(2, h.settings))


def holder(h: Harness) -> Burns:
    """A new holder of the relayer key's lease, the key recovered (as a task does first), one
    redemption a transaction (``burns_per_transaction=1``: the path these tests pin down; the
    default batches, see the tests of issue 22 below)."""
    single = h.settings.model_copy(update={"burns_per_transaction": 1})
    burns = Burns(sessions=h.sessions, relayer=relayer(h), lease=HeldLease(), settings=single)
    burns.recover()
    return burns


def key_nonce(h: Harness) -> int:
    return h.w3.eth.get_transaction_count(relayer(h).address)


def burn_txs(h: Harness) -> dict[str, ChainTransaction]:
    with h.sessions() as s:
        found = {t.tx_hash: t for t in s.scalars(select(ChainTransaction).where(ChainTransaction.kind == BURN_KIND))}
        s.expunge_all()
        return found


def take_nonce(h: Harness, nonce: int) -> None:
    """Another transaction of the relayer key (not a burn) takes ``nonce``."""
    account = dev_account(2, h.settings)
    other = account.sign_transaction(
        {
            "type": 2,
            "chainId": h.settings.chain_id,
            "nonce": nonce,
            "to": account.address,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 50 * 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    h.w3.eth.wait_for_transaction_receipt(h.w3.eth.send_raw_transaction(other.raw_transaction), 30)


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    tmp: Path = tmp_path_factory.mktemp("burns")
    for port in for_worker(range(8936, 8940)):
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
    start = key_nonce(h)
    assert holder(h).burn_batch(pks) == set()
    done = rows(h, pks)
    burned = [pk for pk in pks if pk != expired]
    assert {done[pk].status for pk in burned} == {"fulfilled"}
    assert [done[pk].tx_nonce for pk in burned] == list(range(start, start + len(burned)))
    assert len({done[pk].voucher_code for pk in burned}) == len(burned)
    assert done[expired].status == "failed" and "expired" in (done[expired].failure_reason or "").lower()
    assert done[expired].tx_hash is None  # refused at the estimate: never signed, never sent
    txs = burn_txs(h)
    assert all(txs[done[pk].tx_hash].status == TxStatus.CONFIRMED for pk in burned)  # the driver's own record
    refs = redeemed_refs(h)
    assert sorted(refs) == sorted(done[pk].ref for pk in burned)  # each once, the refused one never
    assert key_nonce(h) == start + len(burned)
    assert h.contracts.points.functions.balanceOf(alice.address).call() == 100 - 3 * POINTS
    with h.sessions() as s:
        assert s.get(Reward, reward_id).stock == 1  # the failed one's unit given back, once


def test_burns_in_batches_take_one_nonce_each_and_fail_only_the_skipped(h: Harness) -> None:
    """Issue 22, ``burns_per_transaction`` > 1: the accepted redemptions go in batches
    (``redeemBatchWithSignatures``), one transaction and one nonce each; a consent the batch skips
    (expired, over the balance) fails with the skip's reason once the receipt says so, a consent
    relayed before by someone else is found burned, the others are burned and fulfilled once."""
    carol, dave = customer("carol"), customer("dave")
    partner_id, reward_id = setup_partner(h, "batched", [carol, dave], 3 * POINTS)
    pks = [store_redemption(h, partner_id, reward_id, c, f"bb-{i}", 100 + i) for i, c in enumerate([carol, dave] * 2)]
    expired = store_redemption(h, partner_id, reward_id, carol, "bb-expired", 200, deadline=int(time.time()) - 10)
    too_many = [store_redemption(h, partner_id, reward_id, dave, f"bb-more-{i}", 300 + i) for i in range(2)]
    relayed = store_redemption(h, partner_id, reward_id, carol, "bb-relayed", 400)
    with h.sessions() as s:
        r = s.get(Redemption, relayed)
        assert r is not None
        args = (
            r.customer_wallet,
            partner_id,
            r.points,
            bytes.fromhex(r.ref[2:]),
            int(r.nonce),
            r.deadline,
            r.signature,
        )
        transact(h.w3, dev_account(6, h.settings), h.contracts.points.functions.redeemWithSignature(*args))
    everything = [*pks, expired, *too_many, relayed]
    start = key_nonce(h)
    batched = Burns(
        sessions=h.sessions,
        relayer=relayer(h),
        lease=HeldLease(),
        settings=h.settings.model_copy(update={"burns_per_transaction": 4}),
    )
    batched.recover()
    assert batched.burn_batch(everything) == set()
    done = rows(h, everything)
    assert key_nonce(h) == start + 2  # 8 redemptions, 4 a transaction
    assert {done[pk].status for pk in pks} == {"fulfilled"}
    assert len({done[pk].tx_hash for pk in pks}) <= 2
    assert done[expired].status == "failed" and "expired" in (done[expired].failure_reason or "")
    # dave had 3 burns' worth: two of bb-*, then one of bb-more-*; the last is skipped
    assert sorted(done[pk].status for pk in too_many) == ["failed", "fulfilled"]
    assert any("insufficient-balance" in (done[pk].failure_reason or "") for pk in too_many)
    assert done[relayed].status == "fulfilled"  # skipped (nonce used), but its Redeemed is on chain
    refs = redeemed_refs(h)
    assert refs.count(done[relayed].ref) == 1  # burned once, by the other relay
    assert all(refs.count(done[pk].ref) == 1 for pk in everything if done[pk].status == "fulfilled")


def test_several_relayer_keys_each_burn_their_share_on_their_own_nonces(h: Harness) -> None:
    """Issue 22, ``COALITION_RELAYER_KEYS``: each key is its own driver (lease, nonces) and burns
    the accepted redemptions of its share (id mod keys), batched by default; a stored burn is
    followed by the key that signed it (``key_of``)."""
    hana = customer("hana")
    partner_id, reward_id = setup_partner(h, "two keys", [hana], 100)
    pks = [store_redemption(h, partner_id, reward_id, hana, f"k-{i}", 500 + i) for i in range(6)]
    accounts = [dev_account(2, h.settings), dev_account(7, h.settings)]
    keys = [
        Burns(
            sessions=h.sessions,
            relayer=Relayer(h.w3, h.contracts, a),
            lease=HeldLease(),
            settings=h.settings,
            share=(i, 2),
        )
        for i, a in enumerate(accounts)
    ]
    assert h.settings.burns_per_transaction > 1  # the default batches
    starts = [h.w3.eth.get_transaction_count(a.address) for a in accounts]
    addresses = [a.address for a in accounts]
    assert [key_of(h.sessions, pk, addresses) for pk in pks] == [pk % 2 for pk in pks]  # none stored yet: shares
    for burns in keys:
        burns.recover()
    first = [keys[pk % 2] for pk in pks[:2]]
    for burns, pk in zip(first, pks[:2], strict=True):
        burns.burn_batches(pk)  # its own share only: the other key's redemptions stay accepted
    done = rows(h, pks)
    assert {done[pk].status for pk in pks} == {"fulfilled"}
    assert [h.w3.eth.get_transaction_count(a.address) - s for a, s in zip(accounts, starts, strict=True)] == [1, 1]
    txs = burn_txs(h)
    for pk in pks:  # each burned by its share's key, three to a transaction
        assert txs[done[pk].tx_hash].sender == accounts[pk % 2].address
        assert key_of(h.sessions, pk, list(reversed(addresses))) == 1 - pk % 2  # the key that signed it
    assert len({done[pk].tx_hash for pk in pks}) == 2
    refs = redeemed_refs(h)
    assert all(refs.count(done[pk].ref) == 1 for pk in pks)
    assert h.contracts.points.functions.balanceOf(hana.address).call() == 100 - 6 * POINTS


def test_a_holder_killed_between_storing_and_sending_leaves_the_next_one_the_same_bytes_to_send(h: Harness) -> None:
    carol = customer("carol")
    partner_id, reward_id = setup_partner(h, "gap", [carol], 100)
    pks = [store_redemption(h, partner_id, reward_id, carol, f"g-{i}", 40 + i) for i in range(5)]
    start = key_nonce(h)
    first = holder(h)
    signed = first.sign(pks)
    first.send(signed[:2])  # killed after two broadcasts: three burns stored, never sent
    del first
    stored = rows(h, pks)
    assert [stored[pk].status for pk in pks] == ["burning"] * 5
    assert [stored[pk].tx_nonce for pk in pks] == list(range(start, start + 5))
    assert [stored[pk].tx_hash for pk in pks] == [t.tx_hash for t in signed]

    assert holder(h).follow(set(pks)) == set()  # its recovery sends the three again, in nonce order
    done = rows(h, pks)
    assert {done[pk].status for pk in pks} == {"fulfilled"}
    assert [done[pk].tx_hash for pk in pks] == [stored[pk].tx_hash for pk in pks]  # the same bytes, not re-signed
    assert len(burn_txs(h)) == len({t.tx_hash for t in burn_txs(h).values()})
    assert {burn_txs(h)[t.tx_hash].status for t in signed} == {TxStatus.CONFIRMED}
    refs = redeemed_refs(h)
    assert all(refs.count(done[pk].ref) == 1 for pk in pks)
    assert h.contracts.points.functions.balanceOf(carol.address).call() == 100 - 5 * POINTS
    assert key_nonce(h) == start + 5


def test_a_burn_whose_block_the_node_lost_is_sent_again_and_burns_once(h: Harness) -> None:
    erin = customer("erin")
    partner_id, reward_id = setup_partner(h, "lost", [erin], 100)
    pk = store_redemption(h, partner_id, reward_id, erin, "l-1", 7)
    snapshot = h.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    assert holder(h).burn_batch([pk]) == set()
    burned = rows(h, [pk])[pk]
    assert burned.status == "fulfilled"
    h.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]  # the node lost the block
    assert h.contracts.points.functions.balanceOf(erin.address).call() == 100
    assert holder(h).follow({pk}) == set()  # the confirmed burn seen gone, its same bytes sent again
    assert burn_txs(h)[burned.tx_hash].status == TxStatus.CONFIRMED
    done = rows(h, [pk])[pk]
    assert (done.status, done.tx_hash, done.voucher_code) == ("fulfilled", burned.tx_hash, burned.voucher_code)
    assert redeemed_refs(h).count(done.ref) == 1
    assert h.contracts.points.functions.balanceOf(erin.address).call() == 100 - POINTS


def test_a_dropped_burn_is_signed_again_or_found_burned_by_whoever_relayed_its_consent(h: Harness) -> None:
    finn = customer("finn")
    partner_id, reward_id = setup_partner(h, "dropped", [finn], 100)
    mine, theirs = (store_redemption(h, partner_id, reward_id, finn, f"d-{i}", 70 + i) for i in range(2))
    start = key_nonce(h)
    signed = holder(h).sign([mine, theirs])  # stored, never sent: then both nonces go to other transactions
    stranger = Account.create()
    h.w3.provider.make_request("anvil_setBalance", [stranger.address, hex(10**20)])  # type: ignore[arg-type]
    with h.sessions() as s:
        consent = s.get(Redemption, theirs)
        assert consent is not None
        transact(
            h.w3,
            stranger,
            h.contracts.points.functions.redeemWithSignature(
                consent.customer_wallet,
                consent.partner_id,
                consent.points,
                bytes.fromhex(consent.ref[2:]),
                int(consent.nonce),
                consent.deadline,
                bytes(consent.signature),
            ),
        )  # anyone may relay a consent
    take_nonce(h, start)
    take_nonce(h, start + 1)

    burns = holder(h)  # its recovery drops both: one back to accepted, the other found burned by the stranger
    assert {t.status for t in burn_txs(h).values() if t.tx_hash in {s.tx_hash for s in signed}} == {TxStatus.DROPPED}
    after = rows(h, [mine, theirs])
    assert (after[mine].status, after[mine].tx_hash) == ("accepted", None)
    assert after[theirs].status == "fulfilled" and after[theirs].tx_hash not in {s.tx_hash for s in signed}
    assert burns.burn_batch([mine]) == set()
    done = rows(h, [mine])[mine]
    assert done.status == "fulfilled" and done.tx_nonce == start + 2
    refs = redeemed_refs(h)
    assert refs.count(after[mine].ref) == 1 and refs.count(after[theirs].ref) == 1
    assert h.contracts.points.functions.balanceOf(finn.address).call() == 100 - 2 * POINTS


def test_a_burn_that_reverts_fails_with_the_decoded_reason_and_releases_the_stock(h: Harness) -> None:
    gina = customer("gina")
    partner_id, reward_id = setup_partner(h, "reverted", [gina], 100)
    pk = store_redemption(h, partner_id, reward_id, gina, "x-1", 3)
    [tx] = holder(h).sign([pk])  # stored while the contract ran; sent only once the operator paused it
    transact(h.w3, h.operator, h.contracts.points.functions.pause())
    try:
        assert holder(h).follow({pk}) == set()
    finally:
        transact(h.w3, h.operator, h.contracts.points.functions.unpause())
    done = rows(h, [pk])[pk]
    assert (done.status, done.tx_hash) == ("failed", tx.tx_hash)
    assert done.failure_reason == f"burn refused: reverted in {tx.tx_hash}: EnforcedPause()"
    assert burn_txs(h)[tx.tx_hash].status == TxStatus.REVERTED
    assert redeemed_refs(h).count(done.ref) == 0
    assert h.contracts.points.functions.balanceOf(gina.address).call() == 100
    with h.sessions() as s:
        assert s.get(Reward, reward_id).stock == 1  # its unit given back


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
    assert holder(h).burn_batch([pk]) == set()
    assert view.nonce_used(dave.address, 2**64 + 3) and not view.nonce_used(dave.address, 2**64 + 2)
    assert view.balance_of(dave.address) == 42 - POINTS == h.contracts.points.functions.balanceOf(dave.address).call()
