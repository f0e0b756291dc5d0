"""CoalitionPoints: single and batch earn, the once-only reference, the issuance bounds, and pause."""

import pytest
from brownie import ZERO_ADDRESS

from network.purchases import encode_purchase, merkle_root, stored_commitment
from scripts.onboarding import USD

PRICE = 10_000  # conftest's default issue price: 0.01 cUSD per point
REFUND_WINDOW = 120 * 86_400  # CoalitionPoints' default


def raw_word(customer: int, seq: int, points: int) -> bytes:
    """A purchase word without encode_purchase's checks (to build malformed ones)."""
    return ((customer << 96) | (seq << 48) | points).to_bytes(32, "big")


def test_partner_earns_points_for_a_customer(points, pid_a, partner_a, customer, purchase):
    tx = points.earn(purchase(customer, 120), {"from": partner_a})
    assert points.balanceOf(customer) == 120
    assert points.totalSupply() == 120
    assert tx.return_value == 1
    assert tx.events["Earned"]["partnerId"] == pid_a
    assert tx.events["Transfer"]["from"] == ZERO_ADDRESS
    assert tx.events["Transfer"]["to"] == customer
    assert tx.events["Transfer"]["value"] == 120


def test_points_have_no_decimals(points):
    assert points.decimals() == 0
    assert points.symbol() == "PTS"


def test_a_batch_mints_every_purchase_to_its_customer(points, pid_a, partner_a, customer, other_customer, purchase):
    words = [purchase(customer, 10), purchase(other_customer, 20), purchase(customer, 5)]
    tx = points.earnBatch(words, {"from": partner_a})
    assert points.balanceOf(customer) == 15
    assert points.balanceOf(other_customer) == 20
    assert len(tx.events["Transfer"]) == 3
    assert len(tx.events["Earned"]) == 1
    assert tx.return_value == 1


def test_batch_ids_start_at_one_and_increase(points, pid_a, partner_a, customer, purchase):
    assert points.nextBatchId() == 1
    assert points.earn(purchase(customer, 1), {"from": partner_a}).return_value == 1
    assert points.earnBatch([purchase(customer, 1)], {"from": partner_a}).return_value == 2
    assert points.nextBatchId() == 3


def test_unknown_minter_cannot_earn(points, pid_a, stranger, customer, purchase, reverts_with):
    with reverts_with("PartnerRegistryUnknownMinter", stranger):
        points.earn(purchase(customer, 10), {"from": stranger})


def test_unknown_minter_cannot_earn_a_batch(points, pid_a, stranger, customer, purchase, reverts_with):
    with reverts_with("PartnerRegistryUnknownMinter", stranger):
        points.earnBatch([purchase(customer, 10)], {"from": stranger})


def test_suspended_partner_cannot_earn(points, registry, operator, pid_a, partner_a, customer, purchase, reverts_with):
    registry.suspend(pid_a, {"from": operator})
    with reverts_with("PartnerRegistryNotActive", pid_a):
        points.earn(purchase(customer, 10), {"from": partner_a})
    with reverts_with("PartnerRegistryNotActive", pid_a):
        points.earnBatch([purchase(customer, 10)], {"from": partner_a})


def test_reactivated_partner_earns_again(points, registry, operator, pid_a, partner_a, customer, purchase):
    registry.suspend(pid_a, {"from": operator})
    registry.reactivate(pid_a, {"from": operator})
    points.earn(purchase(customer, 10), {"from": partner_a})
    assert points.balanceOf(customer) == 10


def test_reference_mints_only_once(points, clearing, pid_a, partner_a, customer, purchase):
    points.earn(purchase(customer, 10, seq=7), {"from": partner_a})
    tx = points.earn(purchase(customer, 10, seq=7), {"from": partner_a})
    assert tx.return_value == 0
    assert "Earned" not in tx.events
    assert dict(tx.events["PurchaseSkipped"]) == {"partnerId": pid_a, "seq": 7, "customer": customer, "points": 10}
    assert points.balanceOf(customer) == 10
    assert clearing.exposureOf(pid_a) == 10 * PRICE
    assert points.nextBatchId() == 2


def test_the_reference_is_the_seq_not_the_whole_word(points, pid_a, partner_a, customer, other_customer, purchase):
    points.earn(purchase(customer, 10, seq=7), {"from": partner_a})
    tx = points.earn(purchase(other_customer, 999, seq=7), {"from": partner_a})
    assert tx.return_value == 0
    assert tx.events["PurchaseSkipped"]["customer"] == other_customer
    assert points.balanceOf(other_customer) == 0


def test_is_minted_reports_the_minted_seqs(points, pid_a, partner_a, customer, purchase):
    points.earnBatch([purchase(customer, 1, seq=3), purchase(customer, 1, seq=256)], {"from": partner_a})
    assert points.isMinted(pid_a, 3)
    assert points.isMinted(pid_a, 256)
    assert not points.isMinted(pid_a, 4)
    assert not points.isMinted(pid_a, 0)


def test_reference_mints_once_within_one_batch(points, pid_a, partner_a, customer, other_customer, purchase):
    first, dup = purchase(customer, 10, seq=1), purchase(other_customer, 30, seq=1)
    tx = points.earnBatch([first, dup], {"from": partner_a})
    assert [bytes(w) for w in tx.events["Earned"]["purchases"]] == [first]
    assert tx.events["Earned"]["points"] == 10
    assert tx.events["PurchaseSkipped"]["customer"] == other_customer
    assert points.balanceOf(customer) == 10
    assert points.balanceOf(other_customer) == 0


def test_reference_mints_once_within_a_batch_spanning_bitmap_words(points, partner_a, pid_a, customer, purchase):
    # seqs 1 and 300 sit in different bitmap words: the batch switches words back and forth
    words = [purchase(customer, 1, seq=1), purchase(customer, 2, seq=300), purchase(customer, 4, seq=1)]
    words.append(purchase(customer, 8, seq=300))
    tx = points.earnBatch(words, {"from": partner_a})
    assert points.balanceOf(customer) == 3
    assert [e["seq"] for e in tx.events["PurchaseSkipped"]] == [1, 300]
    again = points.earnBatch([purchase(customer, 16, seq=300)], {"from": partner_a})
    assert again.return_value == 0


def test_batch_with_a_duplicate_mints_the_rest(points, pid_a, partner_a, customer, purchase):
    points.earnBatch([purchase(customer, 10, seq=1), purchase(customer, 20, seq=2)], {"from": partner_a})
    words = [purchase(customer, 20, seq=2), purchase(customer, 30, seq=3)]
    tx = points.earnBatch(words, {"from": partner_a})
    assert tx.return_value == 2
    assert [bytes(w) for w in tx.events["Earned"]["purchases"]] == [words[1]]
    assert tx.events["Earned"]["points"] == 30
    assert dict(tx.events["PurchaseSkipped"]) == {"partnerId": pid_a, "seq": 2, "customer": customer, "points": 20}
    assert points.balanceOf(customer) == 60


def test_all_duplicates_batch_returns_zero_and_stores_nothing(points, clearing, pid_a, partner_a, customer, purchase):
    words = [purchase(customer, 10, seq=1), purchase(customer, 20, seq=2)]
    points.earnBatch(words, {"from": partner_a})
    tx = points.earnBatch(words, {"from": partner_a})
    assert tx.return_value == 0
    assert "Earned" not in tx.events
    assert "IssuanceReserved" not in tx.events
    assert len(tx.events["PurchaseSkipped"]) == 2
    assert points.nextBatchId() == 2
    assert bytes(points.batchCommitment(2)) == b"\x00" * 32
    assert clearing.exposureOf(pid_a) == 30 * PRICE
    assert points.balanceOf(customer) == 30


def test_purchase_for_the_zero_address_reverts_with_its_index(
    points, pid_a, partner_a, customer, purchase, reverts_with
):
    words = [purchase(customer, 1), purchase(customer, 1), raw_word(0, 9, 5)]
    with reverts_with("CoalitionPointsInvalidPurchase", 2):
        points.earnBatch(words, {"from": partner_a})


def test_purchase_of_zero_points_reverts_with_its_index(points, pid_a, partner_a, customer, purchase, reverts_with):
    words = [purchase(customer, 1), raw_word(int(customer.address, 16), 9, 0), purchase(customer, 1)]
    with reverts_with("CoalitionPointsInvalidPurchase", 1):
        points.earnBatch(words, {"from": partner_a})


def test_malformed_single_purchase_reverts_with_index_zero(points, pid_a, partner_a, reverts_with):
    with reverts_with("CoalitionPointsInvalidPurchase", 0):
        points.earn(raw_word(0, 1, 5), {"from": partner_a})


def test_malformed_purchase_reverts_even_after_a_duplicate(points, pid_a, partner_a, customer, purchase, reverts_with):
    points.earn(purchase(customer, 1, seq=1), {"from": partner_a})
    with reverts_with("CoalitionPointsInvalidPurchase", 1):
        points.earnBatch([purchase(customer, 1, seq=1), raw_word(0, 2, 5)], {"from": partner_a})


def test_empty_batch_reverts(points, pid_a, partner_a, reverts_with):
    with reverts_with("CoalitionPointsEmptyBatch"):
        points.earnBatch([], {"from": partner_a})


def test_earn_reserves_points_times_issue_price(points, clearing, pid_a, partner_a, customer, purchase):
    tx = points.earnBatch([purchase(customer, 100), purchase(customer, 50)], {"from": partner_a})
    assert clearing.exposureOf(pid_a) == 150 * PRICE
    assert dict(tx.events["IssuanceReserved"]) == {"partnerId": pid_a, "value": 150 * PRICE, "exposure": 150 * PRICE}


def test_issuance_is_bounded_by_the_deposit(
    points, clearing, make_partner, partner_c, treasury_c, customer, purchase, reverts_with
):
    pid = make_partner(partner_c, treasury_c, deposit=100 * USD, issuance_limit=10**6 * USD)
    points.earn(purchase(customer, 10_000), {"from": partner_c})  # exposure == funds: allowed
    assert clearing.exposureOf(pid) == clearing.fundsOf(pid) == 100 * USD
    with reverts_with("ClearingIssuanceOverFunds", pid, 100 * USD + PRICE, 100 * USD):
        points.earn(purchase(customer, 1), {"from": partner_c})


def test_partner_without_deposit_cannot_earn(
    points, make_partner, partner_c, treasury_c, customer, purchase, reverts_with
):
    pid = make_partner(partner_c, treasury_c, deposit=0)
    with reverts_with("ClearingIssuanceOverFunds", pid, PRICE, 0):
        points.earn(purchase(customer, 1), {"from": partner_c})


def test_issuance_is_bounded_by_the_limit_when_lower_than_the_deposit(
    points, clearing, make_partner, partner_c, treasury_c, customer, purchase, reverts_with
):
    pid = make_partner(partner_c, treasury_c, deposit=100 * USD, issuance_limit=50 * USD)
    points.earn(purchase(customer, 5_000), {"from": partner_c})  # exposure == limit: allowed
    with reverts_with("ClearingIssuanceOverLimit", pid, 50 * USD + PRICE, 50 * USD):
        points.earn(purchase(customer, 1), {"from": partner_c})
    assert clearing.exposureOf(pid) == 50 * USD


def test_issuance_is_bounded_by_a_limit_lowered_below_the_exposure(
    points, clearing, registry, operator, pid_a, partner_a, customer, purchase, reverts_with
):
    points.earn(purchase(customer, 100), {"from": partner_a})
    registry.setIssuanceLimit(pid_a, 50 * PRICE, {"from": operator})
    with reverts_with("ClearingIssuanceOverLimit", pid_a, 101 * PRICE, 50 * PRICE):
        points.earn(purchase(customer, 1), {"from": partner_a})
    assert clearing.exposureOf(pid_a) == 100 * PRICE


def test_batch_over_the_bound_reverts_as_a_whole(
    points, make_partner, partner_c, treasury_c, customer, purchase, reverts_with
):
    pid = make_partner(partner_c, treasury_c, deposit=1 * USD)
    words = [purchase(customer, 60), purchase(customer, 41)]
    with reverts_with("ClearingIssuanceOverFunds", pid, 101 * PRICE, 1 * USD):
        points.earnBatch(words, {"from": partner_c})
    assert points.balanceOf(customer) == 0
    assert not points.isMinted(pid, 1)


def test_earned_event_carries_partner_price_root_total_and_minted_words(
    points, pid_a, partner_a, customer, other_customer, purchase
):
    words = [purchase(customer, 10), purchase(other_customer, 20), purchase(customer, 30)]
    tx = points.earnBatch(words, {"from": partner_a})
    event = tx.events["Earned"]
    assert event["partnerId"] == pid_a
    assert event["batchId"] == 1
    assert event["issuePrice"] == PRICE
    assert bytes(event["root"]) == merkle_root(words)
    assert event["points"] == 60
    assert [bytes(w) for w in event["purchases"]] == words


def test_stored_commitment_matches_the_python_mirror(points, pid_a, partner_a, customer, purchase):
    words = [purchase(customer, n) for n in range(1, 8)]  # 7 leaves: an odd node is carried up
    tx = points.earnBatch(words, {"from": partner_a})
    deadline = tx.timestamp + REFUND_WINDOW
    assert bytes(points.batchCommitment(tx.return_value)) == stored_commitment(
        pid_a, PRICE, merkle_root(words), deadline
    )


def test_stored_commitment_holds_the_refund_deadline_in_its_low_64_bits(points, pid_a, partner_a, customer, purchase):
    tx = points.earn(purchase(customer, 42), {"from": partner_a})
    stored = int.from_bytes(bytes(points.batchCommitment(tx.return_value)), "big")
    assert stored & (2**64 - 1) == points.refundDeadlineOf(tx.return_value) == tx.timestamp + REFUND_WINDOW


def test_commitment_of_a_single_earn_has_the_leaf_as_root(points, pid_a, partner_a, customer, purchase):
    word = purchase(customer, 42)
    tx = points.earn(word, {"from": partner_a})
    assert bytes(tx.events["Earned"]["root"]) == merkle_root([word])
    expected = stored_commitment(pid_a, PRICE, merkle_root([word]), tx.timestamp + REFUND_WINDOW)
    assert bytes(points.batchCommitment(tx.return_value)) == expected


def test_commitment_covers_only_the_minted_words(points, pid_a, partner_a, customer, purchase):
    points.earn(purchase(customer, 5, seq=2), {"from": partner_a})
    words = [purchase(customer, 1, seq=1), purchase(customer, 5, seq=2), purchase(customer, 3, seq=3)]
    tx = points.earnBatch(words, {"from": partner_a})
    minted = [words[0], words[2]]
    expected = stored_commitment(pid_a, PRICE, merkle_root(minted), tx.timestamp + REFUND_WINDOW)
    assert bytes(points.batchCommitment(tx.return_value)) == expected


def test_paused_points_block_earn(points, operator, pid_a, partner_a, customer, purchase, reverts_with):
    points.pause({"from": operator})
    with reverts_with("EnforcedPause"):
        points.earn(purchase(customer, 1), {"from": partner_a})
    with reverts_with("EnforcedPause"):
        points.earnBatch([purchase(customer, 1)], {"from": partner_a})


def test_two_partners_use_the_same_seq_independently(points, pid_a, pid_b, partner_a, partner_b, customer):
    tx_a = points.earn(encode_purchase(customer.address, 1, 10), {"from": partner_a})
    tx_b = points.earn(encode_purchase(customer.address, 1, 20), {"from": partner_b})
    assert tx_a.events["Earned"]["partnerId"] == pid_a
    assert tx_b.events["Earned"]["partnerId"] == pid_b
    assert points.balanceOf(customer) == 30
    assert points.isMinted(pid_a, 1)
    assert points.isMinted(pid_b, 1)


def test_largest_seq_and_points_fit_the_word(points, make_partner, partner_c, treasury_c, customer):
    top = (1 << 48) - 1
    pid = make_partner(partner_c, treasury_c, issue_price=1, deposit=top, issuance_limit=top)
    tx = points.earn(encode_purchase(customer.address, top, top), {"from": partner_c})
    assert tx.events["Earned"]["points"] == top
    assert points.balanceOf(customer) == top
    assert points.isMinted(pid, top)


# ------------------------------------------------------------------ CoalitionPoints pause


def test_operator_pauses_and_unpauses_points(points, operator):
    tx = points.pause({"from": operator})
    assert tx.events["Paused"]["account"] == operator
    assert points.paused()
    tx = points.unpause({"from": operator})
    assert tx.events["Unpaused"]["account"] == operator
    assert not points.paused()


@pytest.mark.parametrize("caller", ["admin", "stranger"])
def test_only_the_operator_pauses_points(points, request, caller, reverts_with):
    account = request.getfixturevalue(caller)
    with reverts_with("AccessControlUnauthorizedAccount", account, points.OPERATOR_ROLE()):
        points.pause({"from": account})


@pytest.mark.parametrize("caller", ["admin", "stranger"])
def test_only_the_operator_unpauses_points(points, operator, request, caller, reverts_with):
    points.pause({"from": operator})
    account = request.getfixturevalue(caller)
    with reverts_with("AccessControlUnauthorizedAccount", account, points.OPERATOR_ROLE()):
        points.unpause({"from": account})


def test_pausing_paused_points_reverts(points, operator, reverts_with):
    points.pause({"from": operator})
    with reverts_with("EnforcedPause"):
        points.pause({"from": operator})


def test_unpausing_running_points_reverts(points, operator, reverts_with):
    with reverts_with("ExpectedPause"):
        points.unpause({"from": operator})


def test_paused_points_block_transfers(points, operator, pid_a, partner_a, customer, stranger, purchase, reverts_with):
    points.earn(purchase(customer, 10), {"from": partner_a})
    points.pause({"from": operator})
    with reverts_with("EnforcedPause"):
        points.transfer(stranger, 1, {"from": customer})
    points.unpause({"from": operator})
    points.transfer(stranger, 1, {"from": customer})
    assert points.balanceOf(stranger) == 1
