"""Clearing (deposits, withdrawals, the operator's account, settlement) and SettlementToken."""

import pytest
from brownie import ZERO_ADDRESS, Clearing, chain

from scripts.onboarding import USD, fund_operator

PRICE = 10_000  # conftest's default issue price
DEPOSIT = 10_000 * USD  # conftest's default deposit
STATEMENT = b"\x5a" * 32


def settle(clearing, operator, lines, period_id=None, from_block=None, to_block=None, sender=None):
    """Settles the next period up to the last mined block, unless told otherwise. A line is
    (partnerId, issuedValue, reversedValue, redeemedValue[, restoredValue]): restoredValue 0 if left out."""
    lines = [tuple(line) + (0,) * (5 - len(line)) for line in lines]
    return clearing.settle(
        clearing.nextPeriodId() if period_id is None else period_id,
        clearing.settledThroughBlock() + 1 if from_block is None else from_block,
        chain.height if to_block is None else to_block,
        STATEMENT,
        lines,
        {"from": sender or operator},
    )


@pytest.fixture
def float_(coalition):
    """The operator's account holds 100,000 cUSD (function-scoped: other tests start at zero)."""
    fund_operator(coalition, 100_000 * USD)
    return 100_000 * USD


def give(token, admin, holder, amount, spender):
    token.mint(holder, amount, {"from": admin})
    token.approve(spender, amount, {"from": holder})


# ------------------------------------------------------------------ deposits and withdrawals


def test_anyone_deposits_for_a_known_partner(clearing, token, admin, pid_a, stranger):
    give(token, admin, stranger, 5 * USD, clearing)
    tx = clearing.deposit(pid_a, 5 * USD, {"from": stranger})
    assert clearing.fundsOf(pid_a) == DEPOSIT + 5 * USD
    assert token.balanceOf(clearing) == DEPOSIT + 5 * USD
    assert dict(tx.events["Deposited"]) == {"partnerId": pid_a, "from": stranger, "amount": 5 * USD}


def test_deposit_for_an_unknown_partner_reverts(clearing, token, admin, pid_a, stranger, reverts_with):
    give(token, admin, stranger, 5 * USD, clearing)
    with reverts_with("PartnerRegistryUnknownPartner", 99):
        clearing.deposit(99, 5 * USD, {"from": stranger})


def test_deposit_of_zero_reverts(clearing, pid_a, stranger, reverts_with):
    with reverts_with("ClearingZeroAmount"):
        clearing.deposit(pid_a, 0, {"from": stranger})


def test_deposit_without_allowance_reverts(clearing, token, admin, pid_a, stranger, reverts_with):
    token.mint(stranger, 5 * USD, {"from": admin})
    with reverts_with("ERC20InsufficientAllowance", clearing, 0, 5 * USD):
        clearing.deposit(pid_a, 5 * USD, {"from": stranger})


def test_treasury_withdraws_free_funds(clearing, token, points, pid_a, partner_a, treasury_a, customer, purchase):
    points.earn(purchase(customer, 1_000), {"from": partner_a})
    free = DEPOSIT - 1_000 * PRICE
    assert clearing.freeFundsOf(pid_a) == free
    tx = clearing.withdraw(pid_a, free, {"from": treasury_a})
    assert dict(tx.events["Withdrawn"]) == {"partnerId": pid_a, "treasury": treasury_a, "amount": free}
    assert token.balanceOf(treasury_a) == free
    assert clearing.fundsOf(pid_a) == clearing.exposureOf(pid_a) == 1_000 * PRICE
    assert clearing.freeFundsOf(pid_a) == 0


def test_withdraw_beyond_free_funds_reverts(
    clearing, points, pid_a, partner_a, treasury_a, customer, purchase, reverts_with
):
    points.earn(purchase(customer, 1_000), {"from": partner_a})
    free = DEPOSIT - 1_000 * PRICE
    with reverts_with("ClearingInsufficientFreeFunds", pid_a, free, free + 1):
        clearing.withdraw(pid_a, free + 1, {"from": treasury_a})


@pytest.mark.parametrize("caller", ["partner_a", "stranger", "operator", "treasury_b"])
def test_only_the_treasury_withdraws(clearing, pid_a, pid_b, request, caller, reverts_with):
    account = request.getfixturevalue(caller)
    with reverts_with("ClearingNotTreasury", pid_a, account):
        clearing.withdraw(pid_a, 1, {"from": account})


def test_withdraw_of_zero_reverts(clearing, pid_a, treasury_a, reverts_with):
    with reverts_with("ClearingZeroAmount"):
        clearing.withdraw(pid_a, 0, {"from": treasury_a})


def test_withdraw_for_an_unknown_partner_reverts(clearing, pid_a, treasury_a, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 99):
        clearing.withdraw(99, 1, {"from": treasury_a})


def test_new_treasury_withdraws_and_the_old_cannot(
    clearing, registry, token, pid_a, treasury_a, treasury_c, reverts_with
):
    registry.setTreasury(pid_a, treasury_c, {"from": treasury_a})
    with reverts_with("ClearingNotTreasury", pid_a, treasury_a):
        clearing.withdraw(pid_a, 1, {"from": treasury_a})
    clearing.withdraw(pid_a, 1, {"from": treasury_c})
    assert token.balanceOf(treasury_c) == 1


def test_reversal_is_a_pending_credit_that_frees_no_funds(clearing, points, pid_a, partner_a, customer, purchase):
    word = purchase(customer, 1_000)
    batch_id = points.earn(word, {"from": partner_a}).return_value
    points.reverse(batch_id, word, PRICE, [], 400, {"from": partner_a})
    assert clearing.exposureOf(pid_a) == 1_000 * PRICE  # gross: what was issued and not settled
    assert clearing.pendingCreditOf(pid_a) == 400 * PRICE
    assert clearing.freeFundsOf(pid_a) == DEPOSIT - 1_000 * PRICE
    assert clearing.headroomOf(pid_a) == DEPOSIT - 1_000 * PRICE


# ------------------------------------------------------------------ headroom


def test_headroom_is_the_deposit_less_exposure_when_the_deposit_is_lower(
    clearing, points, pid_a, partner_a, customer, purchase
):
    points.earn(purchase(customer, 1_000), {"from": partner_a})
    assert clearing.headroomOf(pid_a) == clearing.freeFundsOf(pid_a) == DEPOSIT - 1_000 * PRICE


def test_headroom_is_the_limit_less_exposure_when_the_limit_is_lower(
    clearing, points, registry, operator, pid_a, partner_a, customer, purchase
):
    registry.setIssuanceLimit(pid_a, 30 * USD, {"from": operator})
    points.earn(purchase(customer, 1_000), {"from": partner_a})
    assert clearing.headroomOf(pid_a) == 30 * USD - 1_000 * PRICE
    assert clearing.freeFundsOf(pid_a) == DEPOSIT - 1_000 * PRICE


def test_headroom_is_zero_when_the_limit_is_lowered_below_exposure(
    clearing, points, registry, operator, pid_a, partner_a, customer, purchase
):
    points.earn(purchase(customer, 1_000), {"from": partner_a})
    registry.setIssuanceLimit(pid_a, 1_000 * PRICE - 1, {"from": operator})
    assert clearing.headroomOf(pid_a) == 0
    assert clearing.freeFundsOf(pid_a) == DEPOSIT - 1_000 * PRICE  # the limit bounds issuance only


def test_headroom_of_an_unknown_partner_reverts(clearing, pid_a, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 99):
        clearing.headroomOf(99)


# ------------------------------------------------------------------ the operator's account


def test_anyone_funds_the_operator_account(clearing, token, admin, stranger):
    give(token, admin, stranger, 7 * USD, clearing)
    tx = clearing.fundOperator(7 * USD, {"from": stranger})
    assert clearing.operatorFunds() == 7 * USD
    assert dict(tx.events["OperatorFunded"]) == {"from": stranger, "amount": 7 * USD}


def test_funding_the_operator_with_zero_reverts(clearing, stranger, reverts_with):
    with reverts_with("ClearingZeroAmount"):
        clearing.fundOperator(0, {"from": stranger})


def test_operator_withdraws_from_its_account(clearing, token, operator, float_, stranger):
    tx = clearing.withdrawOperator(stranger, 3 * USD, {"from": operator})
    assert clearing.operatorFunds() == float_ - 3 * USD
    assert token.balanceOf(stranger) == 3 * USD
    assert dict(tx.events["OperatorWithdrawn"]) == {"to": stranger, "amount": 3 * USD}


@pytest.mark.parametrize("caller", ["admin", "stranger", "treasury_a"])
def test_only_the_operator_withdraws_operator_funds(clearing, float_, request, caller, reverts_with):
    account = request.getfixturevalue(caller)
    with reverts_with("AccessControlUnauthorizedAccount", account, clearing.OPERATOR_ROLE()):
        clearing.withdrawOperator(account, 1, {"from": account})


def test_operator_withdrawal_beyond_its_funds_reverts(clearing, operator, float_, reverts_with):
    with reverts_with("ClearingInsufficientOperatorFunds", float_, float_ + 1):
        clearing.withdrawOperator(operator, float_ + 1, {"from": operator})


def test_operator_withdrawal_of_zero_reverts(clearing, operator, float_, reverts_with):
    with reverts_with("ClearingZeroAmount"):
        clearing.withdrawOperator(operator, 0, {"from": operator})


# ------------------------------------------------------------------ binding and the points-only hooks


def test_points_are_bound_once(clearing, points, admin, reverts_with):
    assert clearing.points() == points
    with reverts_with("ClearingPointsAlreadyBound", points):
        clearing.bindPoints(admin, {"from": admin})


def test_only_the_admin_binds_points(token, registry, points, admin, operator, reverts_with):
    fresh = Clearing.deploy(token, registry, admin, operator, {"from": admin})
    with reverts_with("AccessControlUnauthorizedAccount", operator, b"\x00" * 32):
        fresh.bindPoints(points, {"from": operator})
    tx = fresh.bindPoints(points, {"from": admin})
    assert tx.events["PointsBound"]["points"] == points
    assert fresh.points() == points


@pytest.mark.parametrize("caller", ["admin", "operator", "partner_a", "stranger"])
def test_only_the_points_contract_reserves_issuance_and_records_reversals(
    clearing, pid_a, request, caller, reverts_with
):
    account = request.getfixturevalue(caller)
    with reverts_with("ClearingOnlyPoints", account):
        clearing.reserveIssuance(pid_a, 1, 10**18, {"from": account})
    with reverts_with("ClearingOnlyPoints", account):
        clearing.recordReversal(pid_a, 1, {"from": account})


# ------------------------------------------------------------------ settlement


@pytest.fixture
def activity(points, pid_a, pid_b, partner_a, partner_b, customer, purchase):
    """Partner A issued 1,000 points and partner B 500 (exposures of 10 and 5 cUSD)."""
    points.earn(purchase(customer, 1_000), {"from": partner_a})
    points.earn(purchase(customer, 500), {"from": partner_b})
    return {pid_a: 1_000 * PRICE, pid_b: 500 * PRICE}


@pytest.fixture
def reversal(points, pid_a, partner_a, customer, purchase):
    """Partner A issued 1,000 points and reversed 300 of them (a pending credit of 3 cUSD)."""
    word = purchase(customer, 1_000)
    batch_id = points.earn(word, {"from": partner_a}).return_value
    points.reverse(batch_id, word, PRICE, [], 300, {"from": partner_a})
    return 300 * PRICE


def test_operator_settles_a_period(clearing, operator, float_, pid_a, pid_b, activity):
    start = clearing.settledThroughBlock() + 1
    lines = [(pid_a, activity[pid_a], 0, 2 * USD), (pid_b, activity[pid_b], 0, 9 * USD)]
    tx = settle(clearing, operator, lines, to_block=chain.height)
    nets = [2 * USD - activity[pid_a], 9 * USD - activity[pid_b]]
    assert [dict(e) for e in tx.events["PartnerSettled"]] == [
        {
            "periodId": 1,
            "partnerId": pid,
            "issuedValue": issued,
            "reversedValue": reversed_,
            "redeemedValue": redeemed,
            "restoredValue": 0,
            "net": net,
        }
        for (pid, issued, reversed_, redeemed), net in zip(lines, nets, strict=True)
    ]
    end = tx.events["PeriodSettled"]["toBlock"]
    assert dict(tx.events["PeriodSettled"]) == {
        "periodId": 1,
        "fromBlock": start,
        "toBlock": end,
        "statementHash": "0x" + STATEMENT.hex(),
        "operatorNet": -sum(nets),
    }
    assert tuple(clearing.period(1)) == (start, end, "0x" + STATEMENT.hex(), -sum(nets))
    assert clearing.nextPeriodId() == 2
    assert clearing.settledThroughBlock() == end


def test_partner_funds_move_by_redeemed_plus_reversed_minus_issued(clearing, operator, float_, pid_a, pid_b, reversal):
    settle(clearing, operator, [(pid_a, 1_000 * PRICE, reversal, 2 * USD), (pid_b, 0, 0, 9 * USD)])
    assert clearing.fundsOf(pid_a) == DEPOSIT + 2 * USD + reversal - 1_000 * PRICE
    assert clearing.fundsOf(pid_b) == DEPOSIT + 9 * USD


def test_operator_funds_move_by_the_opposite_of_the_nets(clearing, operator, float_, pid_a, pid_b, activity):
    settle(clearing, operator, [(pid_a, activity[pid_a], 0, 2 * USD), (pid_b, activity[pid_b], 0, 9 * USD)])
    nets = 2 * USD - activity[pid_a] + 9 * USD - activity[pid_b]
    assert clearing.operatorFunds() == float_ - nets


def test_nets_and_operator_net_sum_to_zero(clearing, token, operator, float_, pid_a, pid_b, reversal, activity):
    held = token.balanceOf(clearing)
    lines = [(pid_a, 1_000 * PRICE + activity[pid_a], reversal, 1 * USD), (pid_b, activity[pid_b], 0, 40 * USD)]
    tx = settle(clearing, operator, lines)
    partner_nets = sum(e["net"] for e in tx.events["PartnerSettled"])
    assert partner_nets + tx.events["PeriodSettled"]["operatorNet"] == 0
    assert clearing.fundsOf(pid_a) + clearing.fundsOf(pid_b) + clearing.operatorFunds() == held
    assert token.balanceOf(clearing) == held


def test_settlement_reduces_exposure_by_issued_value(clearing, operator, float_, pid_a, pid_b, activity):
    settle(clearing, operator, [(pid_a, activity[pid_a], 0, 0), (pid_b, activity[pid_b] - PRICE, 0, 0)])
    assert clearing.exposureOf(pid_a) == 0
    assert clearing.exposureOf(pid_b) == PRICE


def test_settlement_pays_the_pending_credit_of_reversals(clearing, operator, float_, pid_a, reversal):
    tx = settle(clearing, operator, [(pid_a, 1_000 * PRICE, reversal, 0)])
    assert dict(tx.events["PartnerSettled"]) == {
        "periodId": 1,
        "partnerId": pid_a,
        "issuedValue": 1_000 * PRICE,
        "reversedValue": reversal,
        "redeemedValue": 0,
        "restoredValue": 0,
        "net": reversal - 1_000 * PRICE,
    }
    assert clearing.pendingCreditOf(pid_a) == 0
    assert clearing.exposureOf(pid_a) == 0
    assert clearing.freeFundsOf(pid_a) == clearing.fundsOf(pid_a) == DEPOSIT - 700 * PRICE


def test_settlement_may_leave_part_of_the_pending_credit_to_a_later_period(clearing, operator, float_, pid_a, reversal):
    settle(clearing, operator, [(pid_a, 1_000 * PRICE, reversal - PRICE, 0)])
    assert clearing.pendingCreditOf(pid_a) == PRICE
    settle(clearing, operator, [(pid_a, 0, PRICE, 0)])
    assert clearing.pendingCreditOf(pid_a) == 0
    assert clearing.fundsOf(pid_a) == DEPOSIT - 700 * PRICE


def test_refund_of_a_settled_purchase_is_credited_by_the_next_settlement(
    clearing, points, operator, float_, pid_a, partner_a, customer, purchase
):
    word = purchase(customer, 1_000)
    batch_id = points.earn(word, {"from": partner_a}).return_value
    settle(clearing, operator, [(pid_a, 1_000 * PRICE, 0, 0)])
    points.reverse(batch_id, word, PRICE, [], 100, {"from": partner_a})
    assert clearing.exposureOf(pid_a) == 0
    assert clearing.pendingCreditOf(pid_a) == 100 * PRICE
    assert clearing.fundsOf(pid_a) == DEPOSIT - 1_000 * PRICE  # not credited yet
    tx = settle(clearing, operator, [(pid_a, 0, 100 * PRICE, 0)])
    assert tx.events["PartnerSettled"]["net"] == 100 * PRICE
    assert clearing.pendingCreditOf(pid_a) == 0
    assert clearing.fundsOf(pid_a) == clearing.freeFundsOf(pid_a) == DEPOSIT - 900 * PRICE


def test_issued_value_above_exposure_reverts(clearing, operator, float_, pid_a, activity, reverts_with):
    exposure = activity[pid_a]
    with reverts_with("ClearingIssuedAboveExposure", pid_a, exposure + 1, exposure):
        settle(clearing, operator, [(pid_a, exposure + 1, 0, 0)])


def test_reversed_value_above_the_pending_credit_reverts(clearing, operator, float_, pid_a, reversal, reverts_with):
    with reverts_with("ClearingReversedAbovePending", pid_a, reversal + 1, reversal):
        settle(clearing, operator, [(pid_a, 0, reversal + 1, 0)])


def test_reversed_value_without_any_reversal_reverts(clearing, operator, float_, pid_a, reverts_with):
    with reverts_with("ClearingReversedAbovePending", pid_a, 1, 0):
        settle(clearing, operator, [(pid_a, 0, 1, 0)])


def test_partner_that_withdrew_every_free_fund_still_pays_its_period(clearing, operator, pid_a, treasury_a, activity):
    clearing.withdraw(pid_a, clearing.freeFundsOf(pid_a), {"from": treasury_a})
    assert clearing.fundsOf(pid_a) == activity[pid_a]
    tx = settle(clearing, operator, [(pid_a, activity[pid_a], 0, 0)])
    assert tx.events["PartnerSettled"]["net"] == -activity[pid_a]
    assert clearing.fundsOf(pid_a) == 0


def test_period_without_activity_settles(clearing, operator, pid_a):
    tx = settle(clearing, operator, [])
    assert tx.events["PeriodSettled"]["operatorNet"] == 0
    assert "PartnerSettled" not in tx.events


@pytest.mark.parametrize("caller", ["admin", "stranger", "partner_a"])
def test_only_the_operator_settles(clearing, pid_a, request, caller, reverts_with):
    account = request.getfixturevalue(caller)
    with reverts_with("AccessControlUnauthorizedAccount", account, clearing.OPERATOR_ROLE()):
        settle(clearing, None, [], sender=account)


@pytest.mark.parametrize("period_id", [0, 2])
def test_period_out_of_order_reverts(clearing, operator, pid_a, period_id, reverts_with):
    with reverts_with("ClearingWrongPeriod", period_id, 1):
        settle(clearing, operator, [], period_id=period_id)


def test_a_period_settles_once(clearing, operator, pid_a, reverts_with):
    settle(clearing, operator, [])
    chain.mine()
    with reverts_with("ClearingWrongPeriod", 1, 2):
        settle(clearing, operator, [], period_id=1)


def test_periods_are_contiguous_block_ranges(clearing, operator, pid_a):
    first = settle(clearing, operator, []).events["PeriodSettled"]
    second = settle(clearing, operator, []).events["PeriodSettled"]
    assert second["periodId"] == 2
    assert second["fromBlock"] == first["toBlock"] + 1
    assert clearing.period(2)[0] == clearing.period(1)[1] + 1


@pytest.mark.parametrize("shift", [-1, 1])
def test_period_not_starting_after_the_last_settled_block_reverts(clearing, operator, pid_a, shift, reverts_with):
    expected = clearing.settledThroughBlock() + 1
    with reverts_with("ClearingBadBlockRange", expected + shift, chain.height, expected):
        settle(clearing, operator, [], from_block=expected + shift)


def test_period_ending_before_it_starts_reverts(clearing, operator, pid_a, reverts_with):
    expected = clearing.settledThroughBlock() + 1
    with reverts_with("ClearingBadBlockRange", expected, expected - 1, expected):
        settle(clearing, operator, [], to_block=expected - 1)


def test_period_of_a_single_block_settles(clearing, operator, pid_a):
    expected = clearing.settledThroughBlock() + 1
    settle(clearing, operator, [], to_block=expected)
    assert clearing.settledThroughBlock() == expected


def test_period_must_end_before_the_current_block(clearing, operator, pid_a, reverts_with):
    expected = clearing.settledThroughBlock() + 1
    current = chain.height + 1  # the block that will hold the settle transaction
    with reverts_with("ClearingBadBlockRange", expected, current, expected):
        settle(clearing, operator, [], to_block=current)


def test_duplicate_partner_lines_revert(clearing, operator, float_, pid_a, activity, reverts_with):
    with reverts_with("ClearingBadStatement", 1):
        settle(clearing, operator, [(pid_a, PRICE, 0, 0), (pid_a, PRICE, 0, 0)])


def test_partner_lines_out_of_order_revert(clearing, operator, float_, pid_a, pid_b, activity, reverts_with):
    with reverts_with("ClearingBadStatement", 1):
        settle(clearing, operator, [(pid_b, 0, 0, USD), (pid_a, 0, 0, USD)])


def test_partner_line_for_id_zero_reverts(clearing, operator, float_, pid_a, reverts_with):
    with reverts_with("ClearingBadStatement", 0):
        settle(clearing, operator, [(0, 0, 0, USD)])


def test_statement_line_for_a_partner_never_onboarded_reverts(clearing, operator, float_, pid_a, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 99):
        settle(clearing, operator, [(pid_a, 0, 0, 0), (99, 0, 0, USD)])


def test_operator_without_float_for_positive_nets_reverts(clearing, operator, pid_a, pid_b, reverts_with):
    with reverts_with("ClearingInsufficientOperatorFunds", 0, 3 * USD):
        settle(clearing, operator, [(pid_a, 0, 0, 1 * USD), (pid_b, 0, 0, 2 * USD)])


def test_positive_nets_are_paid_from_what_other_partners_owe(clearing, operator, pid_a, pid_b, activity):
    lines = [(pid_a, activity[pid_a], 0, 0), (pid_b, 0, 0, 4 * USD)]
    settle(clearing, operator, lines)  # no operator float needed
    assert clearing.operatorFunds() == activity[pid_a] - 4 * USD


def test_redeemed_value_beyond_int256_reverts(clearing, operator, pid_a, reverts_with):
    with reverts_with("SafeCastOverflowedUintToInt", 2**255):
        settle(clearing, operator, [(pid_a, 0, 0, 2**255)])


def test_unsettled_period_reads_as_zeroes(clearing):
    assert tuple(clearing.period(1)) == (0, 0, "0x" + "00" * 32, 0)


# ------------------------------------------------------------------ SettlementToken


def test_settlement_token_has_six_decimals(token):
    assert token.decimals() == 6
    assert token.symbol() == "cUSD"


def test_owner_mints_settlement_tokens(token, admin, stranger):
    tx = token.mint(stranger, 3 * USD, {"from": admin})
    assert token.balanceOf(stranger) == 3 * USD
    assert dict(tx.events["Transfer"]) == {"from": ZERO_ADDRESS, "to": stranger, "value": 3 * USD}


@pytest.mark.parametrize("caller", ["operator", "stranger"])
def test_only_the_owner_mints_settlement_tokens(token, request, caller, reverts_with):
    account = request.getfixturevalue(caller)
    with reverts_with("OwnableUnauthorizedAccount", account):
        token.mint(account, 1, {"from": account})
