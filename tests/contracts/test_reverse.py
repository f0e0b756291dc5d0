"""CoalitionPoints: a partner claws back the points of one of its purchases after a refund."""

from dataclasses import dataclass

import pytest
from brownie import ZERO_ADDRESS, chain

from network.purchases import decode_purchase, merkle_proof

PRICE = 10_000  # conftest's default issue price
DAY = 86_400
REFUND_WINDOW = 120 * DAY  # the default
NOTICE = 7 * DAY  # PartnerRegistry's default notice period


@dataclass
class Batch:
    batch_id: int
    words: list
    issue_price: int

    def proof(self, index: int) -> list:
        return merkle_proof(self.words, index)


def earn_batch(points, minter, words) -> Batch:
    tx = points.earnBatch(words, {"from": minter})
    event = tx.events["Earned"]
    return Batch(event["batchId"], [bytes(w) for w in event["purchases"]], event["issuePrice"])


@pytest.fixture
def batch(points, pid_a, partner_a, customer, other_customer, purchase):
    """A batch of 5 purchases of partner A (seqs 1..5); purchase 2 is the customer's 100 points."""
    words = [
        purchase(other_customer, 10),
        purchase(customer, 20),
        purchase(customer, 100),
        purchase(other_customer, 40),
        purchase(customer, 50),
    ]
    return earn_batch(points, partner_a, words)


def reverse(points, batch, index, amount, sender, **overrides):
    return points.reverse(
        overrides.get("batch_id", batch.batch_id),
        overrides.get("word", batch.words[index]),
        overrides.get("issue_price", batch.issue_price),
        overrides.get("proof", batch.proof(index)),
        amount,
        {"from": sender},
    )


def test_issuing_partner_reverses_part_of_a_purchase(points, pid_a, partner_a, customer, batch):
    tx = reverse(points, batch, 2, 30, partner_a)
    assert points.balanceOf(customer) == 170 - 30
    assert points.reversedPoints(pid_a, 3) == 30
    assert tx.events["Transfer"]["from"] == customer
    assert tx.events["Transfer"]["to"] == ZERO_ADDRESS


def test_reversed_event_carries_partner_customer_batch_seq_points_and_price(points, pid_a, partner_a, customer, batch):
    tx = reverse(points, batch, 2, 30, partner_a)
    assert dict(tx.events["Reversed"]) == {
        "partnerId": pid_a,
        "customer": customer,
        "batchId": batch.batch_id,
        "seq": 3,
        "points": 30,
        "issuePrice": PRICE,
    }


def test_partial_reversals_add_up_to_the_purchase_and_no_more(points, pid_a, partner_a, customer, batch, reverts_with):
    for amount in (40, 50, 10):
        reverse(points, batch, 2, amount, partner_a)
    assert points.reversedPoints(pid_a, 3) == 100
    with reverts_with("CoalitionPointsReversalExceedsPurchase", pid_a, 3, 100, 101):
        reverse(points, batch, 2, 1, partner_a)
    assert points.balanceOf(customer) == 70


def test_reversal_beyond_the_purchase_reverts(points, pid_a, partner_a, batch, reverts_with):
    with reverts_with("CoalitionPointsReversalExceedsPurchase", pid_a, 3, 100, 101):
        reverse(points, batch, 2, 101, partner_a)


def test_reversal_of_zero_points_reverts(points, partner_a, batch, reverts_with):
    with reverts_with("CoalitionPointsZeroPoints"):
        reverse(points, batch, 2, 0, partner_a)


def test_reversals_of_purchases_are_counted_apart(points, pid_a, partner_a, batch):
    reverse(points, batch, 2, 100, partner_a)
    reverse(points, batch, 4, 50, partner_a)
    assert points.reversedPoints(pid_a, 3) == 100
    assert points.reversedPoints(pid_a, 5) == 50
    assert points.reversedPoints(pid_a, 1) == 0


def test_another_partner_cannot_reverse_the_purchase(points, pid_b, partner_b, batch, reverts_with):
    with reverts_with("CoalitionPointsUnknownPurchase", pid_b, batch.batch_id):
        reverse(points, batch, 2, 1, partner_b)


def test_unknown_minter_cannot_reverse(points, stranger, batch, reverts_with):
    with reverts_with("PartnerRegistryUnknownMinter", stranger):
        reverse(points, batch, 2, 1, stranger)


def test_wrong_proof_reverts(points, pid_a, partner_a, batch, reverts_with):
    with reverts_with("CoalitionPointsUnknownPurchase", pid_a, batch.batch_id):
        reverse(points, batch, 2, 1, partner_a, proof=batch.proof(3))


def test_truncated_proof_reverts(points, pid_a, partner_a, batch, reverts_with):
    with reverts_with("CoalitionPointsUnknownPurchase", pid_a, batch.batch_id):
        reverse(points, batch, 2, 1, partner_a, proof=batch.proof(2)[:-1])


def test_wrong_issue_price_reverts(points, pid_a, partner_a, batch, reverts_with):
    with reverts_with("CoalitionPointsUnknownPurchase", pid_a, batch.batch_id):
        reverse(points, batch, 2, 1, partner_a, issue_price=PRICE + 1)


def test_wrong_batch_id_reverts(points, pid_a, partner_a, customer, purchase, batch, reverts_with):
    other = earn_batch(points, partner_a, [purchase(customer, 5)])
    for wrong in (other.batch_id, other.batch_id + 1, 0):
        with reverts_with("CoalitionPointsUnknownPurchase", pid_a, wrong):
            reverse(points, batch, 2, 1, partner_a, batch_id=wrong)


def test_purchase_word_with_inflated_points_reverts(points, pid_a, partner_a, customer, purchase, batch, reverts_with):
    inflated = purchase(customer, 1_000, seq=3)  # seq 3 was minted with 100 points
    with reverts_with("CoalitionPointsUnknownPurchase", pid_a, batch.batch_id):
        reverse(points, batch, 2, 1, partner_a, word=inflated)


def test_every_purchase_of_a_batch_of_many_reverses_with_its_proof(points, pid_a, partner_a, customer, purchase):
    big = earn_batch(points, partner_a, [purchase(customer, 1 + i) for i in range(13)])  # odd sizes up the tree
    for i, word in enumerate(big.words):
        tx = reverse(points, big, i, decode_purchase(word).points, partner_a)
        assert tx.events["Reversed"]["seq"] == i + 1
    assert points.balanceOf(customer) == 0


def test_purchase_of_a_batch_of_one_reverses_with_an_empty_proof(points, pid_a, partner_a, customer, purchase):
    word = purchase(customer, 60)
    batch_id = points.earn(word, {"from": partner_a}).return_value
    tx = points.reverse(batch_id, word, PRICE, [], 60, {"from": partner_a})
    assert tx.events["Reversed"]["points"] == 60
    assert points.balanceOf(customer) == 0


def test_skipped_duplicate_cannot_be_reversed_through_its_batch(
    points, pid_a, partner_a, customer, other_customer, purchase, reverts_with
):
    points.earn(purchase(customer, 10, seq=1), {"from": partner_a})
    duplicate = purchase(other_customer, 500, seq=1)
    sent = [duplicate, purchase(customer, 20, seq=2)]
    second = earn_batch(points, partner_a, sent)
    assert second.words == sent[1:]
    for proof in (merkle_proof(sent, 0), []):
        with reverts_with("CoalitionPointsUnknownPurchase", pid_a, second.batch_id):
            points.reverse(second.batch_id, duplicate, PRICE, proof, 1, {"from": partner_a})


def test_reverse_records_a_pending_credit_at_the_issue_price(points, clearing, pid_a, partner_a, batch):
    exposure = clearing.exposureOf(pid_a)
    tx = reverse(points, batch, 2, 30, partner_a)
    assert dict(tx.events["ReversalRecorded"]) == {"partnerId": pid_a, "value": 30 * PRICE, "pendingCredit": 30 * PRICE}
    tx = reverse(points, batch, 4, 5, partner_a)
    assert tx.events["ReversalRecorded"]["pendingCredit"] == 35 * PRICE
    assert clearing.pendingCreditOf(pid_a) == 35 * PRICE
    assert clearing.exposureOf(pid_a) == exposure  # a reversal never lowers the exposure


def test_reverse_frees_no_headroom_and_no_funds(points, clearing, pid_a, partner_a, batch):
    headroom, free = clearing.headroomOf(pid_a), clearing.freeFundsOf(pid_a)
    reverse(points, batch, 2, 100, partner_a)
    assert (clearing.headroomOf(pid_a), clearing.freeFundsOf(pid_a)) == (headroom, free)


def test_reversal_after_a_rerate_uses_the_batch_issue_price(
    points, registry, clearing, operator, pid_a, partner_a, batch, advance, reverts_with
):
    registry.scheduleRerate(pid_a, 3 * PRICE, 8_000, {"from": operator})
    advance(NOTICE)
    registry.applyRerate(pid_a, {"from": operator})
    with reverts_with("CoalitionPointsUnknownPurchase", pid_a, batch.batch_id):
        reverse(points, batch, 2, 10, partner_a, issue_price=3 * PRICE)
    tx = reverse(points, batch, 2, 10, partner_a)
    assert tx.events["Reversed"]["issuePrice"] == PRICE
    assert clearing.pendingCreditOf(pid_a) == 10 * PRICE


def test_rotated_minter_key_reverses_earlier_batches(points, registry, pid_a, treasury_a, partner_c, customer, batch):
    registry.setMinter(pid_a, partner_c, {"from": treasury_a})
    reverse(points, batch, 2, 100, partner_c)
    assert points.balanceOf(customer) == 70


def test_rotated_out_minter_key_cannot_reverse(
    points, registry, pid_a, treasury_a, partner_a, partner_c, batch, reverts_with
):
    registry.setMinter(pid_a, partner_c, {"from": treasury_a})
    with reverts_with("PartnerRegistryUnknownMinter", partner_a):
        reverse(points, batch, 2, 1, partner_a)


# ------------------------------------------------------------------ the refund window


def test_batch_records_its_refund_deadline(points, batch):
    minted_at = chain[-1].timestamp
    assert points.refundWindow() == REFUND_WINDOW
    assert points.refundDeadlineOf(batch.batch_id) == minted_at + REFUND_WINDOW


def test_unknown_batch_has_no_refund_deadline(points, batch):
    assert points.refundDeadlineOf(batch.batch_id + 1) == 0
    assert points.refundDeadlineOf(0) == 0


def test_reversal_at_the_refund_deadline_goes_through(points, partner_a, customer, batch, next_block_at):
    deadline = points.refundDeadlineOf(batch.batch_id)
    next_block_at(deadline)
    tx = reverse(points, batch, 2, 30, partner_a)
    assert tx.timestamp == deadline
    assert points.balanceOf(customer) == 170 - 30


def test_reversal_one_second_after_the_refund_deadline_reverts(
    points, pid_a, partner_a, customer, batch, next_block_at, reverts_with
):
    deadline = points.refundDeadlineOf(batch.batch_id)
    next_block_at(deadline + 1)
    with reverts_with("CoalitionPointsRefundWindowClosed", batch.batch_id, deadline):
        reverse(points, batch, 2, 30, partner_a)
    assert points.reversedPoints(pid_a, 3) == 0
    assert points.balanceOf(customer) == 170


def test_reversal_of_a_batch_long_past_its_deadline_reverts(points, partner_a, batch, advance, reverts_with):
    deadline = points.refundDeadlineOf(batch.batch_id)
    advance(365 * DAY)
    with reverts_with("CoalitionPointsRefundWindowClosed", batch.batch_id, deadline):
        reverse(points, batch, 2, 1, partner_a)


def test_wrong_purchase_is_unknown_even_after_the_deadline(points, pid_a, partner_a, batch, advance, reverts_with):
    advance(REFUND_WINDOW + DAY)
    with reverts_with("CoalitionPointsUnknownPurchase", pid_a, batch.batch_id):
        reverse(points, batch, 2, 1, partner_a, issue_price=PRICE + 1)


def test_operator_sets_the_refund_window_of_later_batches(points, operator, partner_a, customer, purchase, batch):
    first_deadline = points.refundDeadlineOf(batch.batch_id)
    tx = points.setRefundWindow(30 * DAY, {"from": operator})
    assert dict(tx.events["RefundWindowChanged"]) == {"refundWindow": 30 * DAY}
    assert points.refundWindow() == 30 * DAY
    later = earn_batch(points, partner_a, [purchase(customer, 5)])
    assert points.refundDeadlineOf(later.batch_id) == chain[-1].timestamp + 30 * DAY
    assert points.refundDeadlineOf(batch.batch_id) == first_deadline  # earlier batches keep theirs


def test_shorter_refund_window_closes_a_later_batch_sooner(
    points, operator, partner_a, customer, purchase, advance, reverts_with
):
    points.setRefundWindow(14 * DAY, {"from": operator})
    later = earn_batch(points, partner_a, [purchase(customer, 5)])
    advance(15 * DAY)
    with reverts_with("CoalitionPointsRefundWindowClosed", later.batch_id, points.refundDeadlineOf(later.batch_id)):
        reverse(points, later, 0, 1, partner_a)


@pytest.mark.parametrize("window", [14 * DAY, 365 * DAY])
def test_refund_window_may_be_set_to_its_bounds(points, operator, window):
    assert (points.MIN_REFUND_WINDOW(), points.MAX_REFUND_WINDOW()) == (14 * DAY, 365 * DAY)
    points.setRefundWindow(window, {"from": operator})
    assert points.refundWindow() == window


@pytest.mark.parametrize("window", [0, 14 * DAY - 1, 365 * DAY + 1, 2**64 - 1])
def test_refund_window_out_of_bounds_reverts(points, operator, window, reverts_with):
    with reverts_with("CoalitionPointsRefundWindowOutOfBounds", window):
        points.setRefundWindow(window, {"from": operator})


@pytest.mark.parametrize("caller", ["admin", "partner_a", "stranger"])
def test_only_the_operator_sets_the_refund_window(points, pid_a, request, caller, reverts_with):
    account = request.getfixturevalue(caller)
    with reverts_with("AccessControlUnauthorizedAccount", account, points.OPERATOR_ROLE()):
        points.setRefundWindow(30 * DAY, {"from": account})


def test_paused_points_block_reverse(points, operator, partner_a, batch, reverts_with):
    points.pause({"from": operator})
    with reverts_with("EnforcedPause"):
        reverse(points, batch, 2, 1, partner_a)


def test_suspended_partner_cannot_reverse(points, registry, operator, pid_a, partner_a, batch, reverts_with):
    registry.suspend(pid_a, {"from": operator})
    with reverts_with("PartnerRegistryNotActive", pid_a):
        reverse(points, batch, 2, 1, partner_a)


def test_reversal_of_spent_points_reverts(points, pid_a, partner_a, customer, batch, reverts_with):
    points.redeem(pid_a, 170, b"\x00" * 32, {"from": customer})
    with reverts_with("ERC20InsufficientBalance", customer, 0, 30):
        reverse(points, batch, 2, 30, partner_a)
    assert points.reversedPoints(pid_a, 3) == 0


def test_reversal_of_points_partly_spent_takes_what_is_left(points, pid_a, partner_a, customer, batch, reverts_with):
    points.redeem(pid_a, 150, b"\x00" * 32, {"from": customer})
    with reverts_with("ERC20InsufficientBalance", customer, 20, 30):
        reverse(points, batch, 2, 30, partner_a)
    reverse(points, batch, 2, 20, partner_a)
    assert points.balanceOf(customer) == 0
