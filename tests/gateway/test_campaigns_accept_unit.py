"""Purchase campaigns in the accept path, in process on SQLite (issue 20): a purchase posted
through the API fires the running campaigns with the earning rules' points, exposes both arms,
and the treatment's bonus is an outbox entry of the funder at its award seq; the purchase's own
answer, points and seq are unchanged."""

from __future__ import annotations

from sqlalchemy import select

from gateway.services.campaigns import chain_costs, points_by_funder
from loyalty.campaigns.assignment import arm
from loyalty.campaigns.attribution import award_seq
from network.purchases import encode_purchase
from network.store import (
    Campaign,
    CampaignAward,
    CampaignExposure,
    ChainEvent,
    OutboxPurchase,
)
from tests.gateway.campaign_fixtures import add_campaign, member
from tests.gateway.purchases import OTHER_WALLET, WALLET, purchase_body, stored


def test_a_purchase_fires_a_running_campaign_and_its_bonus_is_minted_by_the_funder(client, make_partner, sessions):
    shop, house = make_partner(), make_partner()
    customer = member(sessions, WALLET)
    campaign_id = add_campaign(
        sessions,
        funder_partner_id=house.id,
        conditions={"partners": [shop.id], "min_amount": "10"},
        effects=[{"kind": "bonus_points", "mode": "multiplier", "factor": "2"}],
    )
    add_campaign(sessions, funder_partner_id=house.id, status="draft")  # never fires
    r = client.post("/v1/purchases", headers=shop.headers, json=purchase_body("c-1"))
    assert r.status_code == 202, r.text
    assert r.json()["points"] == 63 and r.json()["seq"] == 1  # the purchase as before
    client.post("/v1/purchases", headers=shop.headers, json=purchase_body("c-2", amount="5.00"))  # below min_amount
    with sessions() as session:
        (exposure,) = session.scalars(select(CampaignExposure))
        assert (exposure.campaign_id, exposure.customer_id, exposure.arm) == (campaign_id, customer, "treatment")
        assert exposure.trigger_ref == f"purchase:{shop.id}:c-1"
        (award,) = session.scalars(select(CampaignAward))
        assert (award.points, award.seq, award.funder_partner_id) == (63, award_seq(campaign_id, 1), house.id)
        (item,) = session.scalars(select(OutboxPurchase).where(OutboxPurchase.partner_id == house.id))
        assert (item.seq, item.customer, item.points, item.id) == (award.seq, WALLET, 63, award.outbox_id)
        assert session.get(Campaign, campaign_id).spent_points == 63  # type: ignore[union-attr]
    purchases, items, _ = stored(sessions, shop.id)
    assert [p.points for p in purchases] == [63, 7] and [i.seq for i in items] == [1, 2]


def test_a_control_member_is_exposed_without_the_bonus_and_a_wallet_of_nobody_is_not_exposed(
    client, make_partner, sessions
):
    shop = make_partner()
    customer = member(sessions, WALLET)
    salt = next(f"s{i}" for i in range(100) if arm(f"s{i}", customer, 5000) == "control")
    add_campaign(sessions, funder_partner_id=shop.id, holdout_bp=5000, salt=salt)
    assert client.post("/v1/purchases", headers=shop.headers, json=purchase_body("c-1")).status_code == 202
    other = purchase_body("c-2", customer={"wallet": OTHER_WALLET})
    assert client.post("/v1/purchases", headers=shop.headers, json=other).status_code == 202
    with sessions() as session:
        assert [(e.customer_id, e.arm) for e in session.scalars(select(CampaignExposure))] == [(customer, "control")]
        assert session.scalars(select(CampaignAward)).all() == []
    _, items, _ = stored(sessions, shop.id)
    assert [i.seq for i in items] == [1, 2]


def test_a_first_purchase_campaign_fires_once_per_member_at_the_partner(client, make_partner, sessions):
    shop = make_partner()
    member(sessions, WALLET)
    add_campaign(sessions, funder_partner_id=shop.id, conditions={"first_purchase": True})
    for i in range(3):
        assert client.post("/v1/purchases", headers=shop.headers, json=purchase_body(f"f-{i}")).status_code == 202
    with sessions() as session:
        assert [e.trigger_ref for e in session.scalars(select(CampaignExposure))] == [f"purchase:{shop.id}:f-0"]


def test_a_campaigns_cost_is_recomputed_from_the_indexed_earned_events_alone(sessions):
    from network.store import ChainEvent

    def earned(block: int, partner: int, price: int, words: list[tuple[int, int]]) -> ChainEvent:
        return ChainEvent(
            chain_id=31337, block_number=block, block_hash="0x" + "0" * 64, block_time=0, tx_hash=f"0x{block:064x}",
            log_index=0, contract="CoalitionPoints", name="Earned", partner_id=partner,
            args={"partnerId": partner, "issuePrice": price, "batchId": block,
                  "purchases": ["0x" + encode_purchase(WALLET, seq, points).hex() for seq, points in words]},
        )  # fmt: skip

    with sessions() as session:
        session.add_all([
            earned(1, 7, 10_000, [(1, 40), (award_seq(3, 1), 50)]),
            earned(2, 7, 12_000, [(award_seq(3, 2), 25), (2, 10)]),
            earned(3, 8, 9_000, [(award_seq(4, 1), 5)]),
        ])  # fmt: skip
        session.commit()
        costs = chain_costs(session, chain_id=31337)
        assert {c: (v.awards, v.points, v.value) for c, v in costs.items()} == {
            3: (2, 75, 50 * 10_000 + 25 * 12_000),
            4: (1, 5, 45_000),
        }
        assert points_by_funder(costs) == {7: (75, 800_000), 8: (5, 45_000)}
        assert set(chain_costs(session, chain_id=31337, from_block=2, to_block=2)) == {3}
