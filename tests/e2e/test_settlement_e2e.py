"""End to end, real processes (tests/e2e/stack.py: anvil, redis-server, two Celery worker
processes and beat, uvicorn): a period with 5 partners at different rates, one of them re-rated
inside the period, purchases, redemptions (customers' EIP-712 consents, relayed) and a refund
clawback, settled over the operator API. The statement must sum to zero with the operator,
match to the cent three independent computations (the test's own book of what it did; raw
``eth_getLogs`` decoded here by hand; ``coalition.crosscheck.recompute_from_chain``), move each
partner's funds in ``Clearing`` by its net, carry on chain the keccak of the served JSON, and
settling again must change nothing.

Ports: 8680-8689.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from eth_abi import decode as abi_decode
from eth_utils import keccak
from web3.logs import DISCARD

from coalition.crosscheck import recompute_from_chain
from gateway.services.onboarding import LOCAL_KEYSTORE_PASSWORD
from network.direct import transact
from network.keys import load_keystore
from network.purchases import decode_purchase, merkle_proof
from tests.e2e.settlement import buy, redeem
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, key_for, start_stack
from tests.network.harness import USD
from tests.pg import StoreKind

pytestmark = pytest.mark.timeout(300)
# name -> (points per unit, issue price, reimbursement rate): five partners, five price lists
RATES = {
    "Grocer": ("1", 10_000, 8_000),
    "Fuel": ("2", 12_000, 9_000),
    "Books": ("1.5", 7_500, 7_000),
    "Cinema": ("1", 20_000, 15_000),
    "Airline": ("3", 9_999, 8_888),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    # a period of ~31 years: no scheduled period ends during the test, only the operator's closes one
    with start_stack(
        tmp_path_factory.mktemp("settlement-e2e"),
        ports=range(8680, 8690),
        store=store,
        workers=2,
        settlement_period=10**9,
        partner_changes_every_s=1,
    ) as stack:
        yield stack


class Book:
    """What the test did, valued at the rates in force when it did it: the expected nets."""

    def __init__(self) -> None:
        self.issued: dict[int, int] = defaultdict(int)
        self.redeemed: dict[int, int] = defaultdict(int)

    def net(self, partner_id: int) -> int:
        return self.redeemed[partner_id] - self.issued[partner_id]


def _reverse(stack: Stack, p: OnboardedPartner, purchase: dict[str, Any], points: int) -> int:
    """A refund's clawback, sent by the partner's own minter key; returns the issue price used."""
    h = stack.harness
    receipt = h.w3.eth.get_transaction_receipt(purchase["tx_hash"])
    earned = [
        e
        for e in h.contracts.points.events.Earned().process_receipt(receipt, errors=DISCARD)
        if e["args"]["partnerId"] == p.id
    ]
    assert len(earned) == 1, earned
    args = earned[0]["args"]
    words = [bytes(w) for w in args["purchases"]]
    index = next(i for i, w in enumerate(words) if decode_purchase(w).seq == purchase["seq"])
    minter = load_keystore(
        stack.tmp / "keys" / f"partner-{p.id}.json",
        stack.env.get("COALITION_KEYSTORE_PASSWORD", LOCAL_KEYSTORE_PASSWORD),
    )
    fn = h.contracts.points.functions.reverse(
        args["batchId"], words[index], args["issuePrice"], merkle_proof(words, index), points
    )
    transact(h.w3, minter, fn)
    return int(args["issuePrice"])


def _raw_logs_nets(stack: Stack, from_block: int, to_block: int) -> dict[int, int]:
    """Nets from ``eth_getLogs`` decoded by hand from the event signatures (no ABI file, no
    store, no code of the gateway)."""
    w3 = stack.harness.w3
    topics = {
        keccak(text="Earned(uint32,uint256,uint96,bytes32,uint256,bytes32[])"): "earned",
        keccak(text="Redeemed(uint32,address,bytes32,uint256,uint96)"): "redeemed",
        keccak(text="Reversed(uint32,address,uint256,uint256,uint256,uint96)"): "reversed",
        keccak(text="Restored(uint32,address,bytes32,bytes32,uint256,uint96)"): "restored",
    }
    logs = w3.eth.get_logs(
        {
            "fromBlock": from_block,
            "toBlock": to_block,
            "address": stack.harness.contracts.points.address,
            "topics": [["0x" + t.hex() for t in topics]],
        }
    )
    nets: dict[int, int] = defaultdict(int)
    for log in logs:
        kind = topics[bytes(log["topics"][0])]
        partner_id = int.from_bytes(bytes(log["topics"][1]), "big")
        data = bytes(log["data"])
        if kind == "earned":
            price, _root, points, _words = abi_decode(["uint96", "bytes32", "uint256", "bytes32[]"], data)
            nets[partner_id] -= points * price
        elif kind == "redeemed":
            points, rate = abi_decode(["uint256", "uint96"], data)
            nets[partner_id] += points * rate
        elif kind == "restored":  # a till capture given back: the reverse of its Redeemed credit
            _refund, points, rate = abi_decode(["bytes32", "uint256", "uint96"], data)
            nets[partner_id] -= points * rate
        else:
            _seq, points, price = abi_decode(["uint256", "uint256", "uint96"], data)
            nets[partner_id] += points * price
    return dict(nets)


def _money_state(stack: Stack, partner_ids: list[int]) -> dict[str, Any]:
    c = stack.harness.contracts
    return {
        "next_period": c.clearing.functions.nextPeriodId().call(),
        "settled_through": c.clearing.functions.settledThroughBlock().call(),
        "operator_funds": c.clearing.functions.operatorFunds().call(),
        "clearing_tokens": c.token.functions.balanceOf(c.clearing.address).call(),
        "funds": {p: c.clearing.functions.fundsOf(p).call() for p in partner_ids},
        "exposure": {p: c.clearing.functions.exposureOf(p).call() for p in partner_ids},
    }


def test_a_period_of_five_partners_settles_once_to_the_cent(stack: Stack) -> None:
    h = stack.harness
    c = h.contracts
    partners = {
        name: stack.onboard(name, points_per_unit=ppu, issue_price=ip, reimbursement_rate=rr)
        for name, (ppu, ip, rr) in RATES.items()
    }
    ids = sorted(p.id for p in partners.values())
    price = {partners[n].id: RATES[n][1] for n in RATES}
    rate = {partners[n].id: RATES[n][2] for n in RATES}
    # the operator's float, for a period in which the partners are owed more than they owe
    transact(h.w3, h.admin, c.token.functions.mint(h.operator.address, 10_000 * USD))
    transact(h.w3, h.operator, c.token.functions.approve(c.clearing.address, 10_000 * USD))
    transact(h.w3, h.operator, c.clearing.functions.fundOperator(10_000 * USD))
    alice, bob, carol = key_for("settle-alice"), key_for("settle-bob"), key_for("settle-carol")
    book = Book()

    def buy_all(round_: int, orders: list[tuple[str, Any, str]]) -> list[dict[str, Any]]:
        for i, (name, who, amount) in enumerate(orders):
            buy(stack, partners[name], f"s{round_}-{i}", who.address, amount)
        bodies = []
        for i, (name, _who, _amount) in enumerate(orders):
            body = stack.wait_purchase(partners[name], f"s{round_}-{i}", timeout_s=60)
            pid = partners[name].id
            book.issued[pid] += body["points"] * price[pid]
            bodies.append(body)
        return bodies

    first = buy_all(
        1,
        [
            ("Grocer", alice, "120.00"),
            ("Grocer", bob, "75.50"),
            ("Fuel", alice, "60.00"),
            ("Fuel", carol, "33.33"),
            ("Books", bob, "80.00"),
            ("Books", carol, "41.00"),
            ("Cinema", carol, "25.00"),
        ],
    )
    # redemptions at the rates in force now
    for who, name, points, nonce in ((alice, "Fuel", 90, 1), (bob, "Airline", 70, 2), (alice, "Grocer", 40, 3)):
        redeem(stack, who, partners[name].id, points, nonce)
        book.redeemed[partners[name].id] += points * rate[partners[name].id]
    # a refund at Books: 25 of carol's 61 points clawed back at the price they were issued at
    books = partners["Books"]
    refunded = _reverse(stack, books, first[5], 25)
    assert refunded == price[books.id]
    book.issued[books.id] -= 25 * refunded

    # the Grocer is re-rated inside the period: new issues and redemptions take the new rates
    grocer = partners["Grocer"]
    r = stack.http.patch(
        f"/v1/operator/partners/{grocer.id}",
        headers=OPERATOR_HEADERS,
        json={"issue_price": 11_000, "reimbursement_rate": 8_500},
    )
    assert r.status_code == 200, r.text
    scheduled = r.json()["scheduled_rerate"]
    assert (r.json()["issue_price"], r.json()["reimbursement_rate"]) == (10_000, 8_000)  # not before the notice
    assert (scheduled["issue_price"], scheduled["reimbursement_rate"]) == (11_000, 8_500)
    notice = h.contracts.registry.functions.noticePeriod().call()
    stack.advance_time(notice + 1)  # the notice is over: beat's apply-partner-changes puts the prices in force
    stack.wait_partner(grocer.id, issue_price=11_000, reimbursement_rate=8_500, scheduled_rerate=None)
    assert list(h.contracts.registry.functions.partner(grocer.id).call()[3:5]) == [11_000, 8_500]
    price[grocer.id], rate[grocer.id] = 11_000, 8_500
    buy_all(2, [("Grocer", carol, "99.99"), ("Cinema", bob, "10.00"), ("Fuel", bob, "5.00")])
    for who, name, points, nonce in ((carol, "Grocer", 100, 4), (carol, "Airline", 30, 5), (bob, "Cinema", 11, 6)):
        redeem(stack, who, partners[name].id, points, nonce)
        book.redeemed[partners[name].id] += points * rate[partners[name].id]

    last_activity = h.w3.eth.block_number
    stack.wait_indexed(last_activity)
    before = _money_state(stack, ids)
    assert before["next_period"] == 1

    r = stack.http.post("/v1/operator/settlements", headers=OPERATOR_HEADERS)
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["period_id"] == 1 and started["to_block"] >= last_activity, started
    period = stack.wait_json(
        "/v1/operator/settlements/1", OPERATOR_HEADERS, want="settled", final=("failed",), timeout_s=90
    )
    statement = period["statement"]
    nets = {p["partner_id"]: p["net"] for p in statement["partners"]}
    operator_net = statement["operator_net"]

    # 1. nets and the operator's sum to zero
    assert set(nets) == set(ids)
    assert sum(nets.values()) + operator_net == 0 and statement["sum_check"]["total"] == 0
    # 2. to the cent (to the base unit) against three independent computations
    assert nets == {pid: book.net(pid) for pid in ids}, "the test's own book of what it did"
    assert nets == _raw_logs_nets(stack, period["from_block"], period["to_block"]), "raw eth_getLogs"
    recomputed = recompute_from_chain(h.w3, h.book, period["from_block"], period["to_block"])
    assert [(line.partner_id, line.net) for line in recomputed] == sorted(nets.items())
    assert any(p["points_reversed"] == 25 for p in statement["partners"])
    for row in statement["partners"]:  # the bilateral matrix attributes every redeemed point
        cells = [b["points"] for b in statement["bilateral"]["points"] if b["redeemed_at"] == row["partner_id"]]
        assert sum(cells) == row["points_redeemed"]
    # 3. on chain: PartnerSettled and the funds moved by exactly the nets
    receipt = h.w3.eth.get_transaction_receipt(period["tx_hash"])
    settled = {
        e["args"]["partnerId"]: e["args"]["net"]
        for e in c.clearing.events.PartnerSettled().process_receipt(receipt, errors=DISCARD)
    }
    assert settled == nets
    after = _money_state(stack, ids)
    assert {p: after["funds"][p] - before["funds"][p] for p in ids} == nets
    assert after["operator_funds"] - before["operator_funds"] == operator_net
    assert after["clearing_tokens"] == before["clearing_tokens"]  # money moved inside Clearing only
    assert all(after["exposure"][p] == 0 for p in ids), after["exposure"]  # the period's issuance is settled
    # 4. the hash on chain is keccak of the served statement
    served = stack.http.get("/v1/operator/settlements/1/statement.json", headers=OPERATOR_HEADERS)
    assert served.status_code == 200
    _from, _to, onchain_hash, onchain_operator_net = c.clearing.functions.period(1).call()
    assert (
        bytes(onchain_hash) == keccak(served.content) and "0x" + bytes(onchain_hash).hex() == period["statement_hash"]
    )
    assert onchain_operator_net == operator_net and (_from, _to) == (period["from_block"], period["to_block"])
    csv_text = stack.http.get("/v1/operator/settlements/1/statement.csv", headers=OPERATOR_HEADERS)
    assert csv_text.status_code == 200 and csv_text.headers["content-type"].startswith("text/csv")
    assert f"operator,,,,,,,,,{operator_net}," in csv_text.text  # no points or values of its own

    # 5. settling again changes nothing: over the API, and the tasks run again by the workers
    stack.wait_indexed(h.w3.eth.block_number)
    again = stack.http.post("/v1/operator/settlements", headers=OPERATOR_HEADERS)
    assert again.status_code == 409 and again.json()["type"] == "/problems/nothing-to-settle", again.text
    client = Celery("settlement-e2e", broker=stack.redis_url, backend=stack.redis_url)
    try:
        rerun = client.send_task("gateway.tasks.settlement.settle_period", args=[1], ignore_result=False)
        assert rerun.get(timeout=60) == {"period_id": 1, "status": "settled"}
        due = client.send_task("gateway.tasks.settlement.settle_due", ignore_result=False)
        assert due.get(timeout=60) == {"result": "ok", "periods": []}
        del rerun, due
        gc.collect()  # the results unsubscribe from Redis now, while it still runs
    finally:
        client.close()
    assert _money_state(stack, ids) == after
    listed = stack.http.get("/v1/operator/settlements", headers=OPERATOR_HEADERS).json()
    assert [(p["period_id"], p["status"]) for p in listed] == [(1, "settled")]
    stack.assert_running()


class Crash(Exception):
    """Stands for the process dying between storing the signed settle transaction and sending it."""


def test_a_settlement_cut_off_before_its_broadcast_is_finished_with_the_same_bytes(stack: Stack) -> None:
    from gateway.chain import Chain
    from gateway.services import settlement as service
    from network import transactions
    from network.store import SettlementPeriod

    h = stack.harness
    grocer = stack.partners["Grocer"]
    buy(stack, grocer, "crash-1", key_for("crash-erin").address, "10")
    stack.wait_purchase(grocer, "crash-1")
    stack.wait_indexed(h.w3.eth.block_number)
    period_id = h.contracts.clearing.functions.nextPeriodId().call()
    chain = Chain(h.w3, h.contracts, h.operator, None)  # the real chain and the operator's key, in this process

    def crash(_w3: object, _raw: bytes) -> None:
        raise Crash

    with h.sessions() as session:
        row = service.plan_now(session, chain)
        assert row.period_id == period_id
        with pytest.MonkeyPatch.context() as patch:  # the driver's broadcast dies before the node hears of it
            patch.setattr(transactions, "send_raw", crash)
            with pytest.raises(Crash):
                service.settle(session, chain, period_id)
    with h.sessions() as session:
        stored = session.get(SettlementPeriod, period_id)
        assert stored is not None and stored.status == "submitted" and stored.raw_tx, stored
    assert h.contracts.clearing.functions.nextPeriodId().call() == period_id  # nothing reached the chain

    # the operator asks again: the open period is answered, and a worker finishes it with the stored bytes
    r = stack.http.post("/v1/operator/settlements", headers=OPERATOR_HEADERS)
    assert r.status_code == 202 and r.json()["period_id"] == period_id, r.text
    done = stack.wait_json(
        f"/v1/operator/settlements/{period_id}", OPERATOR_HEADERS, want="settled", final=("failed",), timeout_s=90
    )
    assert done["tx_hash"] == stored.tx_hash
    mined = h.w3.eth.get_transaction(stored.tx_hash)
    assert mined["nonce"] == stored.tx_nonce and mined["blockNumber"] == done["settled_block"]
    assert h.contracts.clearing.functions.nextPeriodId().call() == period_id + 1
    assert {p["partner_id"]: p["net"] for p in done["statement"]["partners"]} == {grocer.id: -10 * 11_000}
