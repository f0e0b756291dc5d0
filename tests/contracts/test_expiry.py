"""CoalitionPoints: points expire after the expiry window of inactivity, by the policy published on
chain, never sooner; anyone sweeps them; the window changes only after its notice."""

import pytest
from brownie import ZERO_ADDRESS, chain

DAY = 86_400
WINDOW = 730 * DAY  # CoalitionPoints' default expiry window
NOTICE = 90 * DAY  # EXPIRY_NOTICE
REF = b"\x21" * 32


@pytest.fixture
def earned(points, pid_a, partner_a, customer, purchase):
    """The customer holds 1,000 points of partner A; returns the earn's transaction."""
    return points.earn(purchase(customer, 1_000), {"from": partner_a})


@pytest.fixture
def set_window(points, operator, advance):
    """set_window(seconds): schedules the window, waits out the notice and applies it."""

    def apply(window: int) -> None:
        points.scheduleExpiryWindow(window, {"from": operator})
        advance(NOTICE)
        points.applyExpiryWindow({"from": operator})

    return apply


def events(tx, name: str) -> list[dict]:
    return [dict(e) for e in tx.events[name]] if name in tx.events else []


# ------------------------------------------------------------------ the clock of a holder


def test_the_policy_is_published_at_deployment(points):
    assert points.expiryWindow() == WINDOW
    assert dict(points.tx.events["ExpiryWindowChanged"]) == {"window": WINDOW}
    assert (points.MIN_EXPIRY_WINDOW(), points.MAX_EXPIRY_WINDOW(), points.EXPIRY_NOTICE()) == (
        30 * DAY,
        3650 * DAY,
        NOTICE,
    )


def test_an_earn_starts_the_holders_clock(points, customer, earned):
    assert points.expiresAtOf(customer) == earned.timestamp + WINDOW
    assert points.expiredPointsOf(customer) == 0


def test_points_live_through_their_expiry_time_and_expire_the_second_after(
    points, customer, stranger, earned, next_block_at
):
    expires_at = earned.timestamp + WINDOW
    next_block_at(expires_at)
    tx = points.expire([customer], {"from": stranger})
    assert tx.return_value == 0 and "Expired" not in tx.events
    assert points.balanceOf(customer) == 1_000
    next_block_at(expires_at + 1)
    tx = points.expire([customer], {"from": stranger})
    assert tx.return_value == 1_000
    assert events(tx, "Transfer") == [{"from": customer, "to": ZERO_ADDRESS, "value": 1_000}]
    assert events(tx, "Expired") == [{"holder": customer, "points": 1_000, "expiresAt": expires_at}]
    assert (points.balanceOf(customer), points.totalSupply(), points.expiresAtOf(customer)) == (0, 0, 0)


def test_expired_points_count_in_the_balance_until_burned(points, customer, earned, advance):
    advance(WINDOW + 1)
    assert points.balanceOf(customer) == points.totalSupply() == 1_000
    assert points.expiredPointsOf(customer) == 1_000


def test_a_sweep_burns_exactly_what_is_due_and_skips_the_rest(
    points, partner_a, customer, other_customer, stranger, purchase, earned, advance
):
    advance(100 * DAY)
    points.earn(purchase(other_customer, 70), {"from": partner_a})  # its clock starts 100 days later
    advance(WINDOW - 100 * DAY + 1)  # the customer's points are due, the other customer's not
    assert points.expiredPointsOf(other_customer) == 0
    tx = points.expire([stranger, other_customer, customer, customer], {"from": stranger})
    assert tx.return_value == 1_000
    assert [e["holder"] for e in events(tx, "Expired")] == [customer]
    assert (points.balanceOf(customer), points.balanceOf(other_customer), points.totalSupply()) == (0, 70, 70)


def test_nobody_expires_points_before_their_time(points, admin, operator, customer, earned, advance):
    advance(WINDOW - DAY)
    for sender in (operator, admin):
        assert points.expire([customer], {"from": sender}).return_value == 0
    assert points.balanceOf(customer) == 1_000


# ------------------------------------------------------------------ activity


def test_every_movement_restarts_the_clock_of_both_sides(points, pid_a, customer, other_customer, earned, advance):
    advance(300 * DAY)
    tx = points.redeem(pid_a, 100, REF, {"from": customer})
    assert points.expiresAtOf(customer) == tx.timestamp + WINDOW
    advance(300 * DAY)
    tx = points.transfer(other_customer, 200, {"from": customer})
    assert points.expiresAtOf(customer) == points.expiresAtOf(other_customer) == tx.timestamp + WINDOW


def test_a_reversal_restarts_the_clock(points, partner_a, customer, purchase, advance):
    from network.purchases import merkle_proof

    tx = points.earn(purchase(customer, 500, seq=7), {"from": partner_a})
    word = tx.events["Earned"]["purchases"][0]
    advance(30 * DAY)
    tx = points.reverse(tx.events["Earned"]["batchId"], word, 10_000, merkle_proof([word], 0), 100, {"from": partner_a})
    assert points.expiresAtOf(customer) == tx.timestamp + WINDOW


def test_a_transfer_of_nothing_is_no_activity(points, customer, other_customer, stranger, earned, advance):
    advance(DAY)
    points.transfer(customer, 0, {"from": stranger})
    points.transfer(other_customer, 0, {"from": customer})
    assert points.expiresAtOf(customer) == earned.timestamp + WINDOW
    assert points.expiresAtOf(other_customer) == 0


def test_a_holder_who_spent_everything_keeps_its_clock(points, pid_a, customer, earned, set_window):
    tx = points.redeem(pid_a, 1_000, REF, {"from": customer})
    expires_at = tx.timestamp + WINDOW
    assert (points.balanceOf(customer), points.expiresAtOf(customer)) == (0, expires_at)
    set_window(30 * DAY)
    assert points.transfer(customer, 0, {"from": customer}).return_value
    assert points.expiresAtOf(customer) == expires_at


def test_a_transfer_to_oneself_restarts_the_clock(points, customer, earned, advance):
    advance(DAY)
    tx = points.transfer(customer, 400, {"from": customer})
    assert points.balanceOf(customer) == 1_000
    assert points.expiresAtOf(customer) == tx.timestamp + WINDOW


# ------------------------------------------------------------------ expired points are never spent nor revived


def test_expired_points_cannot_be_redeemed(points, pid_a, customer, earned, advance, reverts_with):
    advance(WINDOW + 1)
    with reverts_with("ERC20InsufficientBalance", customer, 0, 1):
        points.redeem(pid_a, 1, REF, {"from": customer})


def test_expired_points_cannot_be_sent(points, customer, other_customer, earned, advance, reverts_with):
    advance(WINDOW + 1)
    with reverts_with("ERC20InsufficientBalance", customer, 0, 10):
        points.transfer(other_customer, 10, {"from": customer})


def test_expired_points_cannot_be_spent_through_an_allowance(
    points, customer, stranger, other_customer, earned, advance, reverts_with
):
    points.approve(stranger, 1_000, {"from": customer})
    advance(WINDOW + 1)
    with reverts_with("ERC20InsufficientBalance", customer, 0, 10):
        points.transferFrom(customer, other_customer, 10, {"from": stranger})


def test_expired_points_are_burned_before_new_points_arrive(points, partner_a, customer, purchase, earned, advance):
    expires_at = earned.timestamp + WINDOW
    advance(WINDOW + 1)
    tx = points.earn(purchase(customer, 30), {"from": partner_a})
    assert events(tx, "Transfer") == [
        {"from": customer, "to": ZERO_ADDRESS, "value": 1_000},
        {"from": ZERO_ADDRESS, "to": customer, "value": 30},
    ]
    assert events(tx, "Expired") == [{"holder": customer, "points": 1_000, "expiresAt": expires_at}]
    assert (points.balanceOf(customer), points.totalSupply()) == (30, 30)
    assert points.expiresAtOf(customer) == tx.timestamp + WINDOW


def test_points_received_by_a_holder_whose_points_expired_burn_only_the_old_ones(
    points, customer, other_customer, partner_a, purchase, earned, advance
):
    advance(WINDOW // 2)
    points.earn(purchase(other_customer, 50), {"from": partner_a})
    advance(WINDOW // 2 + 1)  # the customer's points are due, the other customer's are not
    tx = points.transfer(customer, 50, {"from": other_customer})
    assert [e["holder"] for e in events(tx, "Expired")] == [customer]
    assert (points.balanceOf(customer), points.balanceOf(other_customer), points.totalSupply()) == (50, 0, 50)


def test_a_refund_cannot_claw_back_points_that_expired(
    points, partner_a, customer, purchase, set_window, advance, reverts_with
):
    from network.purchases import merkle_proof

    set_window(30 * DAY)  # shorter than the refund window
    tx = points.earn(purchase(customer, 500, seq=9), {"from": partner_a})
    word = tx.events["Earned"]["purchases"][0]
    advance(30 * DAY + 1)
    with reverts_with("ERC20InsufficientBalance", customer, 0, 100):
        points.reverse(tx.events["Earned"]["batchId"], word, 10_000, merkle_proof([word], 0), 100, {"from": partner_a})


# ------------------------------------------------------------------ the policy


def test_the_operator_schedules_a_window_that_anyone_applies_after_the_notice(
    points, operator, stranger, advance, reverts_with
):
    tx = points.scheduleExpiryWindow(365 * DAY, {"from": operator})
    effective_at = tx.timestamp + NOTICE
    assert dict(tx.events["ExpiryWindowScheduled"]) == {"window": 365 * DAY, "effectiveAt": effective_at}
    assert tuple(points.pendingExpiryWindow()) == (365 * DAY, effective_at)
    with reverts_with("CoalitionPointsExpiryNoticeNotOver", effective_at):
        points.applyExpiryWindow({"from": stranger})
    advance(NOTICE)
    tx = points.applyExpiryWindow({"from": stranger})
    assert dict(tx.events["ExpiryWindowChanged"]) == {"window": 365 * DAY}
    assert points.expiryWindow() == 365 * DAY
    assert tuple(points.pendingExpiryWindow()) == (0, 0)


def test_only_the_operator_schedules_or_cancels_a_window(points, admin, stranger, reverts_with):
    role = points.OPERATOR_ROLE()
    for sender in (admin, stranger):
        with reverts_with("AccessControlUnauthorizedAccount", sender, role):
            points.scheduleExpiryWindow(365 * DAY, {"from": sender})
        with reverts_with("AccessControlUnauthorizedAccount", sender, role):
            points.cancelExpiryWindow({"from": sender})


@pytest.mark.parametrize("window", [30 * DAY - 1, 3650 * DAY + 1, 0])
def test_a_window_out_of_bounds_is_refused(points, operator, window, reverts_with):
    with reverts_with("CoalitionPointsExpiryWindowOutOfBounds", window):
        points.scheduleExpiryWindow(window, {"from": operator})


def test_nothing_to_apply_or_cancel_without_a_schedule(points, operator, reverts_with):
    with reverts_with("CoalitionPointsNoExpiryWindowScheduled"):
        points.applyExpiryWindow({"from": operator})
    with reverts_with("CoalitionPointsNoExpiryWindowScheduled"):
        points.cancelExpiryWindow({"from": operator})


def test_the_operator_cancels_a_scheduled_window(points, operator, advance, reverts_with):
    points.scheduleExpiryWindow(60 * DAY, {"from": operator})
    tx = points.cancelExpiryWindow({"from": operator})
    assert dict(tx.events["ExpiryWindowCancelled"]) == {"window": 60 * DAY}
    advance(NOTICE)
    with reverts_with("CoalitionPointsNoExpiryWindowScheduled"):
        points.applyExpiryWindow({"from": operator})
    assert points.expiryWindow() == WINDOW


def test_a_rescheduled_window_waits_out_a_notice_of_its_own(points, operator, advance, reverts_with):
    points.scheduleExpiryWindow(60 * DAY, {"from": operator})
    advance(NOTICE - DAY)
    tx = points.scheduleExpiryWindow(45 * DAY, {"from": operator})
    advance(DAY)
    with reverts_with("CoalitionPointsExpiryNoticeNotOver", tx.timestamp + NOTICE):
        points.applyExpiryWindow({"from": operator})


def test_a_shorter_window_never_shortens_the_life_of_points_held(points, pid_a, customer, earned, set_window, advance):
    expires_at = earned.timestamp + WINDOW
    set_window(30 * DAY)
    points.redeem(pid_a, 1, REF, {"from": customer})  # activity under the short window
    assert points.expiresAtOf(customer) == expires_at
    advance(expires_at - chain[-1].timestamp)
    assert points.expiredPointsOf(customer) == 0
    advance(1)
    assert points.expiredPointsOf(customer) == 999


def test_a_longer_window_lengthens_a_holders_clock_at_its_next_activity(points, pid_a, customer, earned, set_window):
    set_window(1095 * DAY)
    assert points.expiresAtOf(customer) == earned.timestamp + WINDOW
    tx = points.redeem(pid_a, 1, REF, {"from": customer})
    assert points.expiresAtOf(customer) == tx.timestamp + 1095 * DAY


def test_a_pause_stops_sweeps_too(points, operator, customer, stranger, earned, advance, reverts_with):
    advance(WINDOW + 1)
    points.pause({"from": operator})
    with reverts_with("EnforcedPause"):
        points.expire([customer], {"from": stranger})
    points.unpause({"from": operator})
    assert points.expire([customer], {"from": stranger}).return_value == 1_000
