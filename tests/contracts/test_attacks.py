"""The attacks of issue 13 (findings 2 and 3, and the operator's changes with immediate effect), each
one a scenario that succeeded on the contracts before commit cd6fb9e and must fail now.

Finding 2: a stolen minter key was not bounded by the partner's funds (reversals of settled
purchases lowered the exposure below zero, and neither bound was checked while it was).
Finding 3: a reversal after a period's last block made the period's debit withdrawable, and its
withdrawal made the settlement of the whole period revert.
Smaller: the operator re-rated a partner, moved its treasury (to itself) or rotated its minter
key with immediate effect.
"""

import pytest

from scripts.onboarding import USD

PRICE = 10_000  # conftest's default issue price: 0.01 cUSD per point
DAY = 86_400
NOTICE = 7 * DAY  # PartnerRegistry's default notice period
REFUND_WINDOW = 120 * DAY  # CoalitionPoints' default refund window


@pytest.fixture
def victim(make_partner, partner_c, treasury_c):
    """A partner (minter key partner_c, the stolen one) with 100 cUSD of funds: 10,000 points' worth."""
    return make_partner(partner_c, treasury_c, deposit=100 * USD)


@pytest.fixture
def settled_sale(points, settle_period, victim, partner_c, customer, purchase):
    """The victim issued 5,000 points (50 cUSD) to a customer, and a period settled them:
    funds 50 cUSD, exposure 0. Returns (batchId, word) of the purchase, public in its Earned event."""
    word = purchase(customer, 5_000)
    batch_id = points.earn(word, {"from": partner_c}).return_value
    settle_period([(victim, 5_000 * PRICE, 0, 0)])
    return batch_id, word


# ------------------------------------------------------------------ finding 2: the stolen minter key


def test_stolen_minter_key_that_reverses_settled_purchases_still_cannot_mint_beyond_the_funds(
    points, clearing, victim, partner_c, customer, stranger, purchase, settled_sale, reverts_with
):
    batch_id, word = settled_sale
    assert clearing.fundsOf(victim) == 50 * USD
    points.reverse(batch_id, word, PRICE, [], 5_000, {"from": partner_c})  # the customer loses the points
    assert clearing.headroomOf(victim) == 50 * USD  # the reversal gave the thief no headroom
    with reverts_with("ClearingIssuanceOverFunds", victim, 100 * USD, 50 * USD):
        points.earn(purchase(stranger, 10_000), {"from": partner_c})
    points.earn(purchase(stranger, 5_000), {"from": partner_c})
    with reverts_with("ClearingIssuanceOverFunds", victim, 50 * USD + PRICE, 50 * USD):
        points.earn(purchase(stranger, 1), {"from": partner_c})
    assert points.balanceOf(stranger) * PRICE <= clearing.fundsOf(victim)


def test_stolen_minter_key_cannot_reverse_a_purchase_after_its_refund_deadline(
    points, victim, partner_c, customer, settled_sale, advance, reverts_with
):
    batch_id, word = settled_sale
    deadline = points.refundDeadlineOf(batch_id)
    advance(REFUND_WINDOW + DAY)
    with reverts_with("CoalitionPointsRefundWindowClosed", batch_id, deadline):
        points.reverse(batch_id, word, PRICE, [], 5_000, {"from": partner_c})
    assert points.balanceOf(customer) == 5_000


def test_issuance_limit_binds_after_reversals_of_settled_purchases(
    points, clearing, make_partner, settle_period, partner_c, treasury_c, customer, stranger, purchase, reverts_with
):
    pid = make_partner(partner_c, treasury_c, deposit=1_000 * USD, issuance_limit=50 * USD)
    word = purchase(customer, 5_000)
    batch_id = points.earn(word, {"from": partner_c}).return_value
    settle_period([(pid, 5_000 * PRICE, 0, 0)])
    points.reverse(batch_id, word, PRICE, [], 5_000, {"from": partner_c})  # the old exposure: -50 cUSD
    with reverts_with("ClearingIssuanceOverLimit", pid, 100 * USD, 50 * USD):
        points.earn(purchase(stranger, 10_000), {"from": partner_c})
    points.earn(purchase(stranger, 5_000), {"from": partner_c})
    with reverts_with("ClearingIssuanceOverLimit", pid, 50 * USD + PRICE, 50 * USD):
        points.earn(purchase(stranger, 1), {"from": partner_c})
    assert clearing.exposureOf(pid) == 50 * USD


def test_reversal_frees_no_withdrawable_funds_before_a_settlement_credits_it(
    points, clearing, victim, partner_c, treasury_c, customer, purchase, reverts_with
):
    word = purchase(customer, 10_000)
    batch_id = points.earn(word, {"from": partner_c}).return_value  # exposure == funds: nothing free
    points.reverse(batch_id, word, PRICE, [], 4_000, {"from": partner_c})
    assert clearing.freeFundsOf(victim) == 0
    assert clearing.headroomOf(victim) == 0
    with reverts_with("ClearingInsufficientFreeFunds", victim, 0, 40 * USD):
        clearing.withdraw(victim, 40 * USD, {"from": treasury_c})


def test_reversal_credit_is_withdrawable_once_a_settlement_has_paid_it(
    points, clearing, token, settle_period, victim, partner_c, treasury_c, customer, purchase
):
    word = purchase(customer, 10_000)
    batch_id = points.earn(word, {"from": partner_c}).return_value
    points.reverse(batch_id, word, PRICE, [], 4_000, {"from": partner_c})
    settle_period([(victim, 100 * USD, 40 * USD, 0)])
    assert clearing.freeFundsOf(victim) == clearing.fundsOf(victim) == 40 * USD
    clearing.withdraw(victim, 40 * USD, {"from": treasury_c})
    assert token.balanceOf(treasury_c) == 40 * USD


def test_leaked_minter_key_is_rotated_by_the_partners_treasury_at_once(
    points, registry, victim, partner_c, treasury_c, new_key, customer, purchase, reverts_with
):
    registry.setMinter(victim, new_key, {"from": treasury_c})
    with reverts_with("PartnerRegistryUnknownMinter", partner_c):
        points.earn(purchase(customer, 1), {"from": partner_c})
    points.earn(purchase(customer, 1), {"from": new_key})


# ------------------------------------------------------------------ finding 3: one refund blocks a period


@pytest.fixture
def late_reversal(points, clearing, victim, pid_b, partner_b, partner_c, customer, purchase):
    """The victim issued 10,000 points (100 cUSD, all its funds) and partner B 500 in a period that
    ends at the block of the victim's earn; the victim reversed them all in the next block.
    Returns the period's last block."""
    points.earn(purchase(customer, 500), {"from": partner_b})
    word = purchase(customer, 10_000)
    tx = points.earn(word, {"from": partner_c})
    points.reverse(tx.return_value, word, PRICE, [], 10_000, {"from": partner_c})
    return tx.block_number


def test_reversal_after_a_periods_last_block_leaves_its_debit_unwithdrawable(
    clearing, victim, treasury_c, late_reversal, reverts_with
):
    assert clearing.exposureOf(victim) == 100 * USD
    assert clearing.freeFundsOf(victim) == 0
    with reverts_with("ClearingInsufficientFreeFunds", victim, 0, 100 * USD):
        clearing.withdraw(victim, 100 * USD, {"from": treasury_c})


def test_period_settles_after_a_late_reversal_and_the_next_period_pays_the_credit(
    clearing, token, settle_period, victim, pid_b, treasury_c, late_reversal
):
    lines = [(pid_b, 500 * PRICE, 0, 0), (victim, 100 * USD, 0, 0)]
    tx = settle_period(lines, to_block=late_reversal)
    assert [e["net"] for e in tx.events["PartnerSettled"]] == [-500 * PRICE, -100 * USD]
    assert (clearing.fundsOf(victim), clearing.exposureOf(victim)) == (0, 0)
    assert clearing.pendingCreditOf(victim) == 100 * USD
    tx = settle_period([(victim, 0, 100 * USD, 0)])  # the next period covers the reversal
    assert tx.events["PartnerSettled"]["net"] == 100 * USD
    clearing.withdraw(victim, 100 * USD, {"from": treasury_c})
    assert token.balanceOf(treasury_c) == 100 * USD


# ------------------------------------------------------------------ the operator's changes: only after the notice


def test_operator_cannot_point_a_treasury_at_itself_and_withdraw_the_partners_funds(
    registry, clearing, operator, victim, treasury_c, reverts_with
):
    with reverts_with("PartnerRegistryNotTreasury", victim, operator):
        registry.setTreasury(victim, operator, {"from": operator})
    registry.scheduleTreasury(victim, operator, {"from": operator})
    effective_at = registry.pendingTreasury(victim)[1]
    with reverts_with("PartnerRegistryNoticeNotOver", victim, effective_at):
        registry.applyTreasury(victim, {"from": operator})
    with reverts_with("ClearingNotTreasury", victim, operator):
        clearing.withdraw(victim, 100 * USD, {"from": operator})


def test_partner_withdraws_its_free_funds_during_the_notice_of_a_treasury_change(
    registry, clearing, token, operator, victim, treasury_c, advance, reverts_with
):
    registry.scheduleTreasury(victim, operator, {"from": operator})
    clearing.withdraw(victim, 100 * USD, {"from": treasury_c})  # the partner reacts
    advance(NOTICE)
    registry.applyTreasury(victim, {"from": operator})
    assert registry.partner(victim)[2] == operator
    with reverts_with("ClearingInsufficientFreeFunds", victim, 0, 1):
        clearing.withdraw(victim, 1, {"from": operator})
    assert token.balanceOf(treasury_c) == 100 * USD


def test_operator_cannot_rerate_a_partner_before_the_notice_is_over(
    points, registry, clearing, operator, victim, partner_c, customer, purchase, advance, reverts_with
):
    registry.scheduleRerate(victim, 10 * PRICE, 0, {"from": operator})
    effective_at = registry.pendingRerate(victim)[2]
    with reverts_with("PartnerRegistryNoticeNotOver", victim, effective_at):
        registry.applyRerate(victim, {"from": operator})
    tx = points.earn(purchase(customer, 100), {"from": partner_c})
    assert tx.events["Earned"]["issuePrice"] == PRICE  # the partner's terms hold during the notice
    advance(NOTICE)
    registry.applyRerate(victim, {"from": operator})
    assert points.earn(purchase(customer, 100), {"from": partner_c}).events["Earned"]["issuePrice"] == 10 * PRICE


def test_operator_cannot_rotate_a_minter_before_the_notice_is_over(
    points, registry, clearing, operator, victim, partner_c, new_key, customer, purchase, advance, reverts_with
):
    operators_key = new_key  # a key of the operator's
    registry.scheduleMinter(victim, operators_key, {"from": operator})
    effective_at = registry.pendingMinter(victim)[1]
    with reverts_with("PartnerRegistryNoticeNotOver", victim, effective_at):
        registry.applyMinter(victim, {"from": operator})
    with reverts_with("PartnerRegistryUnknownMinter", operators_key):
        points.earn(purchase(customer, 1), {"from": operators_key})
    points.earn(purchase(customer, 1), {"from": partner_c})  # the partner's own key still works
    advance(NOTICE)
    registry.applyMinter(victim, {"from": operator})
    points.earn(purchase(customer, 1), {"from": operators_key})


def test_operator_cannot_shorten_the_notice_to_rush_a_change(
    registry, operator, victim, advance, next_block_at, reverts_with
):
    registry.setNoticePeriod(DAY, {"from": operator})  # the shortest: in force only after the week
    tx = registry.scheduleTreasury(victim, operator, {"from": operator})
    effective_at = tx.timestamp + NOTICE
    assert registry.pendingTreasury(victim)[1] == effective_at
    advance(DAY)
    with reverts_with("PartnerRegistryNoticeNotOver", victim, effective_at):
        registry.applyTreasury(victim, {"from": operator})
    next_block_at(effective_at)
    registry.applyTreasury(victim, {"from": operator})


def test_operator_cancels_a_change_it_scheduled(registry, operator, victim, treasury_c, advance, reverts_with):
    registry.scheduleTreasury(victim, operator, {"from": operator})
    registry.cancelScheduled(victim, {"from": operator})
    advance(NOTICE)
    with reverts_with("PartnerRegistryNothingScheduled", victim):
        registry.applyTreasury(victim, {"from": operator})
    assert registry.partner(victim)[2] == treasury_c
