"""End to end, real processes (tests/e2e/stack.py), issue 20: the operator creates and starts a
purchase-triggered campaign funded by a partner, with a control group of 50 % and a budget of 60
points (25 per purchase, so the third award is cut to 10 and the fourth gets nothing); members'
purchases fire it. The treatment arm's bonus is minted on chain by the funder's minter as words in
the campaign's sequence range (raw ``eth_getLogs``), the control arm gets none, the budget is never
exceeded, the results show both arms, and the cost recomputed from the indexed chain events alone
(``chain_costs``) equals the awards. Then a birthday campaign: beat's trigger task finds the member
whose birthday is today and the funder's minter mints the bonus, once however many runs follow.

Arms are a hash of the campaign's random salt: members are added in rounds until both arms are
seen and the treatment arm has spent the budget.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from eth_utils import to_checksum_address
from sqlalchemy import select

from gateway.services.campaigns import chain_costs
from loyalty.campaigns.attribution import campaign_of
from network.purchases import decode_purchase
from network.store import CampaignAward, CampaignExposure
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, start_stack
from tests.pg import StoreKind

# One store: the accept path's campaigns run on both stores in tests/gateway (tests/pg.py)
RUN_ON_STORES = ("postgresql",)

pytestmark = pytest.mark.timeout(300)
BONUS, BUDGET, EARNED = 25, 60, 10  # a purchase of 10.00 at 1 point per unit earns 10
ROUND, MAX_ROUNDS = 8, 4


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("campaigns-e2e"), ports=range(10060, 10076), store=store,
        campaign_triggers_every_s=1.0,  # beat's scheduled and transition triggers
    ) as stack:  # fmt: skip
        yield stack


def results(stack: Stack, cid: int) -> dict[str, Any]:
    r = stack.http.get(f"/v1/operator/campaigns/{cid}/results", headers=OPERATOR_HEADERS)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def campaign(stack: Stack, cid: int) -> dict[str, Any]:
    r = stack.http.get(f"/v1/operator/campaigns/{cid}", headers=OPERATOR_HEADERS)
    assert r.status_code == 200, r.text
    return r.json()


def buy(stack: Stack, shop: OnboardedPartner, refs: list[str]) -> dict[str, str]:
    """A custodial member per ref, each with one purchase of 10.00, confirmed: ref -> wallet."""
    wallets = {}
    for ref in refs:
        r = stack.http.post(f"/v1/customers/{ref}/custodial-wallet", headers=shop.headers)
        assert r.status_code == 201, r.text
        wallets[ref] = r.json()["wallet"]
        assert stack.post_purchase(shop, f"buy-{ref}", ref=ref, amount="10.00").status_code == 202
    for ref in refs:
        stack.wait_purchase(shop, f"buy-{ref}")
    return wallets


def test_a_campaign_with_a_control_group_mints_its_bonus_within_budget_and_is_costed_from_chain(
    stack: Stack,
) -> None:
    shop = stack.onboard("Campaign Shop", points_per_unit="1")
    body = {
        "name": "Ten for twenty-five",
        "funder_partner_id": shop.id,
        "trigger": {"type": "purchase", "params": {}},
        "conditions": {"min_amount": "5"},
        "effects": [{"kind": "bonus_points", "mode": "fixed", "points": BONUS}],
        "limits": {"budget_points": BUDGET},
        "holdout_bp": 5000,
    }
    r = stack.http.post("/v1/operator/campaigns", headers=OPERATOR_HEADERS, json=body)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert r.json()["status"] == "draft" and r.json()["warnings"] == []
    r = stack.http.post(f"/v1/operator/campaigns/{cid}/start", headers=OPERATOR_HEADERS)
    assert r.status_code == 200 and r.json()["status"] == "running", r.text

    wallets: dict[str, str] = {}
    for n in range(MAX_ROUNDS):
        wallets |= buy(stack, shop, [f"camp-{n}-{i}" for i in range(ROUND)])
        seen = results(stack, cid)
        if seen["control"]["members"] >= 1 and seen["treatment"]["members"] >= 3:
            break
    else:
        pytest.fail(f"arms after {MAX_ROUNDS * ROUND} members: {seen}")
    assert seen["control"]["members"] + seen["treatment"]["members"] == len(wallets)  # every member exposed once

    with stack.harness.sessions() as session:
        exposures = session.execute(
            select(CampaignExposure.customer_id, CampaignExposure.arm, CampaignExposure.effect_note).where(
                CampaignExposure.campaign_id == cid
            )
        ).all()
        awards = session.execute(
            select(CampaignAward.wallet, CampaignAward.points, CampaignAward.seq).where(
                CampaignAward.campaign_id == cid
            )
        ).all()
    treated = [e for e in exposures if e.arm == "treatment"]
    assert sorted(a.points for a in awards) == [BUDGET - 2 * BONUS, BONUS, BONUS]  # the third is cut to the budget
    # the cut one and every later one say why
    assert sum(1 for e in treated if e.effect_note == "the campaign's budget is spent") == len(treated) - 2
    assert all(campaign_of(a.seq) == cid for a in awards)
    state = campaign(stack, cid)
    assert (state["spent_points"], state["awards"], state["members_awarded"]) == (BUDGET, 3, 3)

    # On chain: the bonus words in the campaign's range, minted by the funder's minter, and only them.
    awarded = {to_checksum_address(a.wallet): a.points for a in awards}
    w3 = stack.harness.w3
    points = stack.harness.contracts.points
    deadline = time.monotonic() + 60
    while True:
        logs = points.events.Earned().get_logs(from_block=0, argument_filters={"partnerId": shop.id})
        minted: dict[str, int] = {}
        senders = set()
        for log in logs:
            for word in log["args"]["purchases"]:
                p = decode_purchase(word)
                if campaign_of(p.seq) == cid:
                    minted[p.customer] = minted.get(p.customer, 0) + p.points
                    senders.add(w3.eth.get_transaction(log["transactionHash"])["from"])
        if minted == awarded:
            break
        assert time.monotonic() < deadline, f"minted {minted}, awarded {awarded}\n{stack.logs()}"
        time.sleep(0.3)
    assert senders == {to_checksum_address(shop.minter)}
    for ref, wallet in wallets.items():  # the control arm and the cut-off treatment members: their purchase only
        assert stack.balance(wallet) == EARNED + awarded.get(to_checksum_address(wallet), 0), ref
    assert sum(minted.values()) <= BUDGET

    shown = results(stack, cid)
    assert shown["holdout_bp"] == 5000 and shown["control"]["points"] == 0
    assert shown["treatment"]["points"] == BUDGET
    assert shown["control"]["members"] >= 1 and shown["treatment"]["members"] >= 3

    stack.wait_indexed()
    with stack.harness.sessions() as session:
        cost = chain_costs(session, chain_id=stack.harness.book.chain_id)[cid]
    assert (cost.funder_partner_id, cost.awards, cost.points) == (shop.id, 3, BUDGET)
    assert cost.value == BUDGET * shop.body["issue_price"]

    r = stack.http.post(f"/v1/operator/campaigns/{cid}/stop", headers=OPERATOR_HEADERS)
    assert r.json()["status"] == "stopped"
    buy(stack, shop, ["camp-after-stop"])
    assert campaign(stack, cid)["spent_points"] == BUDGET
    assert sum(results(stack, cid)[arm]["members"] for arm in ("control", "treatment")) == len(wallets)


def test_a_birthday_campaign_is_fired_by_beat_once_and_minted_by_its_funder(stack: Stack) -> None:
    shop = stack.onboard("Birthday Shop", points_per_unit="1")
    today = datetime.now(UTC).date()
    born = date(2000, 2, 29) if (today.month, today.day) == (2, 29) else today.replace(year=1990)
    r = stack.http.post("/v1/customers/bday/enrolment", headers=shop.headers, json={"birthday": born.isoformat()})
    assert r.status_code == 201, r.text
    wallet = r.json()["wallet"]
    r = stack.http.post("/v1/customers/no-bday/enrolment", headers=shop.headers, json={})
    assert r.status_code == 201, r.text
    other = r.json()["wallet"]
    body = {
        "name": "Happy birthday",
        "funder_partner_id": shop.id,
        "trigger": {"type": "birthday", "params": {}},
        "effects": [{"kind": "bonus_points", "mode": "fixed", "points": 30}],
        "limits": {"budget_points": 1000},
        "holdout_bp": 0,
    }
    r = stack.http.post("/v1/operator/campaigns", headers=OPERATOR_HEADERS, json=body)
    assert r.status_code == 201 and r.json()["warnings"], r.text  # a holdout of 0 is warned about
    cid = r.json()["id"]
    assert stack.http.post(f"/v1/operator/campaigns/{cid}/start", headers=OPERATOR_HEADERS).status_code == 200

    deadline = time.monotonic() + 60
    while stack.balance(wallet) != 30:
        assert time.monotonic() < deadline, f"no birthday bonus: {campaign(stack, cid)}\n{stack.logs()}"
        time.sleep(0.3)
    time.sleep(3)  # three more beat runs
    assert stack.balance(wallet) == 30 and stack.balance(other) == 0
    with stack.harness.sessions() as session:
        refs = session.scalars(select(CampaignExposure.trigger_ref).where(CampaignExposure.campaign_id == cid)).all()
    assert refs == [f"birthday:{today.year}"]
    state = campaign(stack, cid)
    assert (state["spent_points"], state["awards"]) == (30, 1)
    logs = stack.harness.contracts.points.events.Earned().get_logs(
        from_block=0, argument_filters={"partnerId": shop.id}
    )
    words = [decode_purchase(w) for log in logs for w in log["args"]["purchases"]]
    assert [(p.customer, p.points, campaign_of(p.seq)) for p in words] == [(to_checksum_address(wallet), 30, cid)]
