"""The dashboard's Fund action outside local mode (the e2e test, tests/e2e/test_dashboard_app_e2e.py,
runs it in local mode): the deposit service answers the treasury's transactions and sends nothing,
and the page shows the amount in cUSD and each transaction to send, in order. The service runs
for real on a SQLite store, with contracts bound to a Web3 that has no node (any chain call would fail)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from types import SimpleNamespace

from web3 import Web3

from gateway.services import partner_account
from gateway.services.dashboard_partner_view import fund_consequences, fund_form, treasury_calls
from network.contracts import load_abi
from network.store import Partner
from tests.stores import migrated_store

TREASURY = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CLEARING = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"


def bakery() -> Partner:
    return Partner(
        id=4,
        name="Bakery & Co",
        minter="0x5190176531A5195245d07659D3EFE98a6710B01b",
        treasury=TREASURY,
        api_key_prefix="p",
        api_key_hash="h",
        currency="EUR",
        points_per_unit=1,
        issue_price=10_000,
        reimbursement_rate=8_000,
        issuance_limit=10**15,
    )


def test_unit_outside_local_mode_the_fund_page_shows_the_treasurys_transactions_in_cusd(tmp_path: Path) -> None:
    sessions = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    with sessions() as session:
        session.add(bakery())
        session.commit()
    w3 = Web3()  # no provider
    token = w3.eth.contract(address=TOKEN, abi=load_abi("SettlementToken"))
    clearing = w3.eth.contract(address=CLEARING, abi=load_abi("Clearing"))
    chain = SimpleNamespace(contracts=SimpleNamespace(token=token, clearing=clearing), admin=None)
    with sessions() as session:
        deposit = partner_account.deposit(session, chain, SimpleNamespace(mode="rpc"), 4, 1_234_500_000)  # type: ignore[arg-type]
        partner = session.get(Partner, 4)
        assert partner is not None
        html = treasury_calls(partner, deposit, 6, "cUSD")
    assert deposit.status == "treasury-must-send"
    text = unescape(re.sub(r"<[^>]+>", " ", html))
    assert "Nothing was sent" in text and "1,234.50 cUSD" in text and TREASURY in text
    assert 'data-value="1234500000"' in html and "Bakery &amp; Co" in html  # escaped
    rows = re.findall(r'<tr data-call="(\d)">(.*?)</tr>', html)
    assert [n for n, _ in rows] == ["1", "2"]
    (approve, call) = deposit.transactions
    assert "approve(address,uint256)" in rows[0][1] and approve.to in rows[0][1] and approve.data in rows[0][1]
    assert "deposit(uint32,uint256)" in rows[1][1] and call.to in rows[1][1] and call.data in rows[1][1]
    fn, args = clearing.decode_function_input(call.data)
    assert (fn.fn_name, args) == ("deposit", {"partnerId": 4, "amount": 1_234_500_000})


def test_unit_the_fund_form_and_its_confirmation_say_what_confirming_does_here() -> None:
    p = bakery()
    common = {"p": p, "action": "/a", "csrf": "c" * 64, "cancel": "/c", "money": None, "symbol": "cUSD", "decimals": 6}
    local, remote = fund_form(**common, direct=True), fund_form(**common, direct=False)  # type: ignore[arg-type]
    assert "test cUSD are minted and deposited" in local and TREASURY not in local
    assert "must sign and send; nothing is sent" in remote and TREASURY in remote
    assert "cannot be read" in local and 'name="csrf" value="' + "c" * 64 in local
    assert "2.50 cUSD of test tokens are minted" in fund_consequences(p, 2_500_000, 6, "cUSD", True)[0]
    assert any("approve, then deposit 2.50 cUSD" in c for c in fund_consequences(p, 2_500_000, 6, "cUSD", False))
