"""Migration 0016: a redemption's signed burn moves from its own row (``redemptions.raw_tx``) into
the relayer key's transactions (``chain_txs``, kind ``burn``), so that the one transaction driver
finds an open burn of before the upgrade and follows it (gateway/services/burns.py)."""

from __future__ import annotations

from pathlib import Path

from eth_account import Account
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import sessionmaker

from network.store import ChainTransaction, Partner, Redemption, Reward, TxStatus, make_engine, migrate
from network.transactions import sign_transaction

CHAIN_ID = 31337


def redemption(partner_id: int, reward_id: int, rid: str, status: str) -> Redemption:
    return Redemption(
        partner_id=partner_id,
        redemption_id=rid,
        request_hash="0" * 64,
        reward_id=reward_id,
        sku="SKU",
        quantity=1,
        points=5,
        stock_reserved=True,
        customer_wallet="0x" + "11" * 20,
        custodial=False,
        ref="0x" + rid.encode().hex().ljust(64, "0"),
        nonce=str(len(rid)),
        deadline=2**40,
        signature=b"\x01" * 65,
        status=status,
        attempts=0,
    )


def test_open_burns_move_into_the_relayer_keys_transactions_and_unsigned_ones_are_signed_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url, "0015")
    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    relayer = Account.create()
    signed = sign_transaction(
        relayer, chain_id=CHAIN_ID, nonce=4, to="0x" + "22" * 20, data=b"\xab" * 100, gas=90_000, max_fee=3, priority=1
    )
    with sessions() as s:
        s.add(
            Partner(
                id=1,
                name="p",
                minter=relayer.address,
                treasury=relayer.address,
                api_key_prefix="k",
                api_key_hash="h",
                currency="EUR",
                points_per_unit=1,
                issue_price=1,
                reimbursement_rate=1,
                issuance_limit=1,
            )
        )
        s.flush()
        reward = Reward(partner_id=1, sku="SKU", name="reward", points=5, stock=0)
        s.add(reward)
        s.flush()
        rows = {
            rid: redemption(1, reward.id, rid, status)
            for rid, status in [("stored", "burning"), ("forgotten", "burning"), ("done", "fulfilled")]
        }
        s.add_all(rows.values())
        s.commit()
        ids = {rid: r.id for rid, r in rows.items()}
    with engine.begin() as c:  # as the old burn protocol stored them on the redemption's row
        for rid, (tx_hash, raw, nonce) in {
            "stored": (signed.tx_hash, signed.raw_tx, 4),
            "forgotten": (None, None, None),  # its nonce had gone to another transaction: to sign again
            "done": ("0x" + "cd" * 32, b"\x02", 3),
        }.items():
            c.execute(
                text("UPDATE redemptions SET tx_hash = :h, raw_tx = :raw, tx_nonce = :n WHERE id = :id"),
                {"h": tx_hash, "raw": raw, "n": nonce, "id": ids[rid]},
            )

    migrate(url)
    assert "raw_tx" not in {c["name"] for c in inspect(engine).get_columns("redemptions")}
    with sessions() as s:
        [tx] = s.scalars(select(ChainTransaction)).all()
        found = {r.redemption_id: r for r in s.scalars(select(Redemption))}
    engine.dispose()
    assert (tx.kind, tx.status, tx.sender, tx.chain_id, tx.nonce) == (
        "burn",
        TxStatus.PENDING,
        relayer.address,
        CHAIN_ID,
        4,
    )
    assert (tx.tx_hash, bytes(tx.raw_tx), tx.max_fee_per_gas, tx.max_priority_fee_per_gas) == (
        signed.tx_hash,
        signed.raw_tx,
        3,
        1,
    )
    assert (found["stored"].status, found["stored"].tx_hash, found["stored"].tx_nonce) == ("burning", tx.tx_hash, 4)
    assert (found["forgotten"].status, found["forgotten"].tx_hash) == ("accepted", None)
    assert (found["done"].status, found["done"].tx_hash) == ("fulfilled", "0x" + "cd" * 32)  # final: untouched
