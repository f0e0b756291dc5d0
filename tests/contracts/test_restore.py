"""CoalitionPoints: till captures (``captureWithSignature``) and their restoration after a refund
(``restore``): the partner's minter mints back at most what the capture burned, at the capture's
own reimbursement rate, reserved against the partner's funds, and settled as the exact reverse of
the capture's credit."""

import pytest
from brownie import ZERO_ADDRESS, chain

from network.signatures import RedeemConsent, sign_redeem
from scripts.onboarding import USD

REF = b"\x21" * 32  # the capture's (the redemption ref of hold:<id>)
REFUND = b"\x22" * 32  # the refund's
RATE = 8_000  # conftest's default reimbursement rate
PRICE = 10_000  # conftest's default issue price


@pytest.fixture
def earned(points, pid_a, pid_b, partner_a, customer, purchase):
    """The customer holds 1,000 points of partner A (partners A and B onboarded)."""
    points.earn(purchase(customer, 1_000), {"from": partner_a})
    return 1_000


def signed(points, customer, pid, amount, ref=REF, nonce=1):
    consent = RedeemConsent(customer.address, pid, amount, ref, nonce, chain[-1].timestamp + 3600)
    signature = sign_redeem(customer.private_key, consent, chain_id=chain.id, points_address=points.address)
    return (consent.customer, pid, amount, ref, nonce, consent.deadline, signature)


def restorable(points, pid, customer) -> tuple[int, int]:
    """restorableOf(pid, customer, REF) as plain integers."""
    remaining, rate = points.restorableOf(pid, customer, REF)
    return int(remaining), int(rate)


@pytest.fixture
def captured(points, pid_b, customer, stranger, earned):
    """Partner B's till captured 600 of the customer's points (relayed by anyone)."""
    return points.captureWithSignature(*signed(points, customer, pid_b, 600), {"from": stranger})


def test_a_capture_burns_like_a_signed_redemption_and_is_restorable(points, pid_b, customer, captured):
    assert dict(captured.events["Redeemed"]) == {
        "partnerId": pid_b,
        "customer": customer,
        "ref": "0x" + REF.hex(),
        "points": 600,
        "reimbursementRate": RATE,
    }
    assert points.balanceOf(customer) == 400
    assert points.redeemNonceUsed(customer, 1)
    assert restorable(points, pid_b, customer) == (600, RATE)


def test_an_ordinary_redemption_stores_no_bound_and_cannot_be_restored(
    points, pid_b, partner_b, customer, stranger, earned, reverts_with
):
    points.redeemWithSignature(*signed(points, customer, pid_b, 600), {"from": stranger})
    assert restorable(points, pid_b, customer) == (0, 0)
    with reverts_with("CoalitionPointsNotRestorable", pid_b, customer, REF):
        points.restore(REF, customer, 1, REFUND, {"from": partner_b})


def test_restore_mints_back_at_the_captures_rate_and_reserves_it(
    points, clearing, pid_b, partner_b, customer, captured
):
    exposure = clearing.exposureOf(pid_b)
    tx = points.restore(REF, customer, 250, REFUND, {"from": partner_b})
    assert dict(tx.events["Restored"]) == {
        "partnerId": pid_b,
        "customer": customer,
        "ref": "0x" + REF.hex(),
        "refundRef": "0x" + REFUND.hex(),
        "points": 250,
        "reimbursementRate": RATE,
    }
    assert (tx.events["Transfer"]["from"], tx.events["Transfer"]["to"]) == (ZERO_ADDRESS, customer)
    assert tx.events["IssuanceReserved"]["value"] == 250 * RATE
    assert clearing.exposureOf(pid_b) == exposure + 250 * RATE
    assert points.balanceOf(customer) == 650
    assert restorable(points, pid_b, customer) == (350, RATE)


def test_partial_restorations_add_up_to_the_capture_and_no_more(
    points, pid_b, partner_b, customer, captured, reverts_with
):
    points.restore(REF, customer, 100, REFUND, {"from": partner_b})
    points.restore(REF, customer, 500, b"\x23" * 32, {"from": partner_b})
    assert restorable(points, pid_b, customer) == (0, RATE)
    assert points.balanceOf(customer) == 1_000
    with reverts_with("CoalitionPointsRestoreExceedsCapture", pid_b, REF, 0, 1):
        points.restore(REF, customer, 1, REFUND, {"from": partner_b})


def test_restoring_more_than_the_capture_reverts(points, pid_b, partner_b, customer, captured, reverts_with):
    with reverts_with("CoalitionPointsRestoreExceedsCapture", pid_b, REF, 600, 601):
        points.restore(REF, customer, 601, REFUND, {"from": partner_b})


def test_only_the_capturing_partner_restores(points, pid_a, partner_a, stranger, customer, captured, reverts_with):
    with reverts_with("CoalitionPointsNotRestorable", pid_a, customer, REF):
        points.restore(REF, customer, 1, REFUND, {"from": partner_a})
    with reverts_with("PartnerRegistryUnknownMinter", stranger):
        points.restore(REF, customer, 1, REFUND, {"from": stranger})


def test_restore_to_another_customer_reverts(points, pid_b, partner_b, other_customer, captured, reverts_with):
    with reverts_with("CoalitionPointsNotRestorable", pid_b, other_customer, REF):
        points.restore(REF, other_customer, 1, REFUND, {"from": partner_b})


def test_restore_of_zero_points_reverts(points, partner_b, customer, captured, reverts_with):
    with reverts_with("CoalitionPointsZeroPoints"):
        points.restore(REF, customer, 0, REFUND, {"from": partner_b})


def test_a_ref_is_captured_once(points, pid_b, customer, stranger, captured, reverts_with):
    with reverts_with("CoalitionPointsCaptureRefUsed", pid_b, customer, REF):
        points.captureWithSignature(*signed(points, customer, pid_b, 10, nonce=2), {"from": stranger})


def test_restore_keeps_the_captures_rate_after_a_rerate(
    points, registry, operator, pid_b, partner_b, customer, captured, advance
):
    registry.scheduleRerate(pid_b, PRICE, 9_500, {"from": operator})
    advance(registry.noticePeriod())
    registry.applyRerate(pid_b, {"from": operator})
    tx = points.restore(REF, customer, 600, REFUND, {"from": partner_b})
    assert tx.events["Restored"]["reimbursementRate"] == RATE
    assert tx.events["IssuanceReserved"]["value"] == 600 * RATE


def test_restore_beyond_the_partners_funds_reverts(
    points, clearing, make_partner, partner_c, treasury_c, customer, stranger, earned, reverts_with
):
    pid = make_partner(partner_c, treasury_c, deposit=RATE * 100)
    points.captureWithSignature(*signed(points, customer, pid, 600), {"from": stranger})
    with reverts_with("ClearingIssuanceOverFunds", pid, 101 * RATE, 100 * RATE):
        points.restore(REF, customer, 101, REFUND, {"from": partner_c})
    points.restore(REF, customer, 100, REFUND, {"from": partner_c})
    assert clearing.headroomOf(pid) == 0


def test_paused_points_block_capture_and_restore(
    points, operator, pid_b, partner_b, customer, stranger, captured, reverts_with
):
    points.pause({"from": operator})
    with reverts_with("EnforcedPause"):
        points.restore(REF, customer, 1, REFUND, {"from": partner_b})
    with reverts_with("EnforcedPause"):
        points.captureWithSignature(*signed(points, customer, pid_b, 10, b"\x24" * 32, 3), {"from": stranger})


# ------------------------------------------------------------------ settlement


def test_a_captured_then_restored_payment_settles_to_zero(
    points, clearing, operator_float, settle_period, pid_b, partner_b, customer, captured
):
    points.restore(REF, customer, 600, REFUND, {"from": partner_b})
    funds, operator_funds = clearing.fundsOf(pid_b), clearing.operatorFunds()
    tx = settle_period([(pid_b, 0, 0, 600 * RATE, 600 * RATE)])
    settled = tx.events["PartnerSettled"]
    assert (settled["redeemedValue"], settled["restoredValue"], settled["net"]) == (600 * RATE, 600 * RATE, 0)
    assert (clearing.fundsOf(pid_b), clearing.operatorFunds()) == (funds, operator_funds)
    assert clearing.exposureOf(pid_b) == 0


def test_a_restoration_in_a_later_period_debits_the_partner(
    points, clearing, operator_float, settle_period, pid_b, partner_b, customer, captured
):
    settle_period([(pid_b, 0, 0, 600 * RATE, 0)])
    credited = clearing.fundsOf(pid_b)
    points.restore(REF, customer, 600, REFUND, {"from": partner_b})
    tx = settle_period([(pid_b, 0, 0, 0, 600 * RATE)])
    assert tx.events["PartnerSettled"]["net"] == -600 * RATE
    assert clearing.fundsOf(pid_b) == credited - 600 * RATE == 10_000 * USD  # as before the capture


def test_a_restored_value_beyond_the_exposure_reverts(
    points, operator_float, settle_period, pid_b, partner_b, customer, captured, reverts_with
):
    points.restore(REF, customer, 10, REFUND, {"from": partner_b})
    with reverts_with("ClearingIssuedAboveExposure", pid_b, 10 * RATE + 1, 10 * RATE):
        settle_period([(pid_b, 0, 0, 0, 10 * RATE + 1)])
