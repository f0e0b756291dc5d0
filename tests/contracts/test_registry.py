"""PartnerRegistry: onboarding and suspension by the operator; issuance limits at once; prices, treasury
and minter changes by the operator after the notice period, by the partner's own treasury at once."""

import pytest
from brownie import ZERO_ADDRESS, PartnerRegistry

from network.purchases import stored_commitment

ACTIVE, SUSPENDED = 1, 2
PRICE, RATE, LIMIT = 10_000, 8_000, 10**12  # conftest's defaults
DAY = 86_400
NOTICE = 7 * DAY  # the default notice period


@pytest.fixture
def fresh(admin, operator):
    """A registry of its own, with no partner yet (pid_a of other tests may exist in `registry`)."""
    return PartnerRegistry.deploy(admin, operator, {"from": admin})


def onboard(registry, operator, minter, treasury, price=PRICE, rate=RATE, limit=LIMIT, sender=None):
    return registry.onboard(minter, treasury, price, rate, limit, {"from": sender or operator})


def test_operator_onboards_an_active_partner(fresh, operator, partner_c, treasury_c):
    registry = fresh
    tx = onboard(registry, operator, partner_c, treasury_c, price=12_000, rate=9_000, limit=5 * 10**9)
    assert tx.return_value == 1
    assert dict(tx.events["PartnerOnboarded"]) == {
        "partnerId": 1,
        "minter": partner_c,
        "treasury": treasury_c,
        "issuePrice": 12_000,
        "reimbursementRate": 9_000,
        "issuanceLimit": 5 * 10**9,
    }
    assert tuple(registry.partner(1)) == (partner_c, ACTIVE, treasury_c, 12_000, 9_000, 5 * 10**9)
    assert tuple(registry.activePartnerOf(partner_c)) == (1, 12_000, 5 * 10**9)
    assert registry.reimbursementRateOf(1) == 9_000
    assert registry.partnerIdOf(partner_c) == 1


def test_partner_ids_start_at_one_and_count_up(fresh, operator, partner_a, partner_b, treasury_a):
    registry = fresh
    assert registry.partnerCount() == 0
    assert onboard(registry, operator, partner_a, treasury_a).return_value == 1
    assert onboard(registry, operator, partner_b, treasury_a).return_value == 2
    assert registry.partnerCount() == 2


def test_partner_may_have_a_zero_reimbursement_rate(registry, operator, partner_c, treasury_c):
    pid = onboard(registry, operator, partner_c, treasury_c, rate=0).return_value
    assert registry.reimbursementRateOf(pid) == 0


CALLS = {
    "onboard": lambda r, pid, key, tx: r.onboard(key, key, PRICE, RATE, LIMIT, tx),
    "suspend": lambda r, pid, key, tx: r.suspend(pid, tx),
    "reactivate": lambda r, pid, key, tx: r.reactivate(pid, tx),
    "setIssuanceLimit": lambda r, pid, key, tx: r.setIssuanceLimit(pid, LIMIT, tx),
    "scheduleRerate": lambda r, pid, key, tx: r.scheduleRerate(pid, PRICE, RATE, tx),
    "scheduleTreasury": lambda r, pid, key, tx: r.scheduleTreasury(pid, key, tx),
    "scheduleMinter": lambda r, pid, key, tx: r.scheduleMinter(pid, key, tx),
    "cancelScheduled": lambda r, pid, key, tx: r.cancelScheduled(pid, tx),
    "setNoticePeriod": lambda r, pid, key, tx: r.setNoticePeriod(NOTICE, tx),
}


@pytest.mark.parametrize("function", sorted(CALLS))
def test_admin_without_operator_role_is_refused(registry, admin, pid_a, partner_c, function, reverts_with):
    assert registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), admin)
    assert not registry.hasRole(registry.OPERATOR_ROLE(), admin)
    with reverts_with("AccessControlUnauthorizedAccount", admin, registry.OPERATOR_ROLE()):
        CALLS[function](registry, pid_a, partner_c, {"from": admin})


@pytest.mark.parametrize("function", sorted(CALLS))
def test_stranger_is_refused(registry, stranger, pid_a, partner_c, function, reverts_with):
    with reverts_with("AccessControlUnauthorizedAccount", stranger, registry.OPERATOR_ROLE()):
        CALLS[function](registry, pid_a, partner_c, {"from": stranger})


def test_admin_may_grant_the_operator_role(registry, admin, stranger, partner_c, treasury_c):
    registry.grantRole(registry.OPERATOR_ROLE(), stranger, {"from": admin})
    pid = onboard(registry, None, partner_c, treasury_c, sender=stranger).return_value
    assert registry.partnerIdOf(partner_c) == pid


def test_onboard_with_zero_treasury_reverts(registry, operator, partner_c, reverts_with):
    with reverts_with("PartnerRegistryZeroAddress"):
        onboard(registry, operator, partner_c, ZERO_ADDRESS)


def test_onboard_with_zero_minter_reverts(registry, operator, treasury_c, reverts_with):
    with reverts_with("PartnerRegistryZeroAddress"):
        onboard(registry, operator, ZERO_ADDRESS, treasury_c)


def test_onboard_with_zero_issue_price_reverts(registry, operator, partner_c, treasury_c, reverts_with):
    with reverts_with("PartnerRegistryZeroIssuePrice"):
        onboard(registry, operator, partner_c, treasury_c, price=0)


def test_onboard_with_a_minter_of_another_partner_reverts(
    registry, operator, pid_a, partner_a, treasury_c, reverts_with
):
    with reverts_with("PartnerRegistryMinterTaken", partner_a, pid_a):
        onboard(registry, operator, partner_a, treasury_c)


def test_operator_suspends_a_partner(registry, operator, pid_a, partner_a, reverts_with):
    tx = registry.suspend(pid_a, {"from": operator})
    assert dict(tx.events["PartnerSuspended"]) == {"partnerId": pid_a}
    assert registry.partner(pid_a)[1] == SUSPENDED
    with reverts_with("PartnerRegistryNotActive", pid_a):
        registry.activePartnerOf(partner_a)
    with reverts_with("PartnerRegistryNotActive", pid_a):
        registry.reimbursementRateOf(pid_a)
    assert registry.partnerIdOf(partner_a) == pid_a


def test_suspending_a_suspended_partner_reverts(registry, operator, pid_a, reverts_with):
    registry.suspend(pid_a, {"from": operator})
    with reverts_with("PartnerRegistryNotActive", pid_a):
        registry.suspend(pid_a, {"from": operator})


def test_suspending_an_unknown_partner_reverts(registry, operator, pid_a, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 99):
        registry.suspend(99, {"from": operator})


def test_operator_reactivates_a_suspended_partner(registry, operator, pid_a, partner_a):
    registry.suspend(pid_a, {"from": operator})
    tx = registry.reactivate(pid_a, {"from": operator})
    assert dict(tx.events["PartnerReactivated"]) == {"partnerId": pid_a}
    assert registry.partner(pid_a)[1] == ACTIVE
    assert registry.activePartnerOf(partner_a)[0] == pid_a


def test_reactivating_an_active_partner_reverts(registry, operator, pid_a, reverts_with):
    with reverts_with("PartnerRegistryNotSuspended", pid_a):
        registry.reactivate(pid_a, {"from": operator})


def test_reactivating_an_unknown_partner_reverts(registry, operator, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 7):
        registry.reactivate(7, {"from": operator})


# ------------------------------------------------------------------ the issuance limit, at once


def test_operator_sets_an_issuance_limit_at_once(registry, operator, pid_a, partner_a):
    tx = registry.setIssuanceLimit(pid_a, 777, {"from": operator})
    assert dict(tx.events["PartnerRerated"]) == {
        "partnerId": pid_a,
        "issuePrice": PRICE,
        "reimbursementRate": RATE,
        "issuanceLimit": 777,
    }
    assert tuple(registry.activePartnerOf(partner_a)) == (pid_a, PRICE, 777)


def test_issuance_limit_of_a_suspended_partner_may_be_set(registry, operator, pid_a):
    registry.suspend(pid_a, {"from": operator})
    registry.setIssuanceLimit(pid_a, 777, {"from": operator})
    assert registry.partner(pid_a)[1] == SUSPENDED
    assert tuple(registry.partner(pid_a))[3:] == (PRICE, RATE, 777)


def test_issuance_limit_of_an_unknown_partner_reverts(registry, operator, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 3):
        registry.setIssuanceLimit(3, LIMIT, {"from": operator})


def test_issuance_limit_bounds_later_earns(
    points, registry, operator, pid_a, partner_a, customer, purchase, reverts_with
):
    points.earn(purchase(customer, 100), {"from": partner_a})
    registry.setIssuanceLimit(pid_a, 150 * PRICE, {"from": operator})
    with reverts_with("ClearingIssuanceOverLimit", pid_a, 151 * PRICE, 150 * PRICE):
        points.earn(purchase(customer, 51), {"from": partner_a})
    points.earn(purchase(customer, 50), {"from": partner_a})


# ------------------------------------------------------------------ re-rating, after the notice


def test_operator_schedules_a_rerate_after_the_notice(registry, operator, pid_a, partner_a):
    tx = registry.scheduleRerate(pid_a, 20_000, 15_000, {"from": operator})
    effective_at = tx.timestamp + NOTICE
    assert dict(tx.events["PartnerRerateScheduled"]) == {
        "partnerId": pid_a,
        "issuePrice": 20_000,
        "reimbursementRate": 15_000,
        "effectiveAt": effective_at,
    }
    assert tuple(registry.pendingRerate(pid_a)) == (20_000, 15_000, effective_at)
    assert tuple(registry.activePartnerOf(partner_a)) == (pid_a, PRICE, LIMIT)  # not yet
    assert registry.reimbursementRateOf(pid_a) == RATE


def test_rerate_applied_before_its_time_reverts(registry, operator, pid_a, next_block_at, reverts_with):
    effective_at = registry.scheduleRerate(pid_a, 20_000, 15_000, {"from": operator}).timestamp + NOTICE
    next_block_at(effective_at - 1)
    with reverts_with("PartnerRegistryNoticeNotOver", pid_a, effective_at):
        registry.applyRerate(pid_a, {"from": operator})


def test_anyone_applies_a_rerate_once_its_time_has_come(registry, operator, pid_a, partner_a, stranger, next_block_at):
    effective_at = registry.scheduleRerate(pid_a, 20_000, 15_000, {"from": operator}).timestamp + NOTICE
    next_block_at(effective_at)
    tx = registry.applyRerate(pid_a, {"from": stranger})
    assert dict(tx.events["PartnerRerated"]) == {
        "partnerId": pid_a,
        "issuePrice": 20_000,
        "reimbursementRate": 15_000,
        "issuanceLimit": LIMIT,
    }
    assert tuple(registry.activePartnerOf(partner_a)) == (pid_a, 20_000, LIMIT)
    assert registry.reimbursementRateOf(pid_a) == 15_000
    assert tuple(registry.pendingRerate(pid_a)) == (0, 0, 0)


def test_rerate_applies_once(registry, operator, pid_a, advance, reverts_with):
    registry.scheduleRerate(pid_a, 20_000, 15_000, {"from": operator})
    advance(NOTICE)
    registry.applyRerate(pid_a, {"from": operator})
    with reverts_with("PartnerRegistryNothingScheduled", pid_a):
        registry.applyRerate(pid_a, {"from": operator})


def test_applying_a_rerate_never_scheduled_reverts(registry, operator, pid_a, reverts_with):
    with reverts_with("PartnerRegistryNothingScheduled", pid_a):
        registry.applyRerate(pid_a, {"from": operator})


def test_a_new_rerate_replaces_the_scheduled_one_and_its_time(registry, operator, pid_a, advance, reverts_with):
    registry.scheduleRerate(pid_a, 20_000, 15_000, {"from": operator})
    advance(NOTICE // 2)
    tx = registry.scheduleRerate(pid_a, 30_000, 0, {"from": operator})
    assert tuple(registry.pendingRerate(pid_a)) == (30_000, 0, tx.timestamp + NOTICE)
    advance(NOTICE // 2 + 1)
    with reverts_with("PartnerRegistryNoticeNotOver", pid_a, tx.timestamp + NOTICE):
        registry.applyRerate(pid_a, {"from": operator})
    advance(NOTICE // 2)
    registry.applyRerate(pid_a, {"from": operator})
    assert tuple(registry.partner(pid_a))[3:5] == (30_000, 0)


def test_rerate_of_a_suspended_partner_is_allowed(registry, operator, pid_a, advance):
    registry.suspend(pid_a, {"from": operator})
    registry.scheduleRerate(pid_a, 20_000, 15_000, {"from": operator})
    advance(NOTICE)
    registry.applyRerate(pid_a, {"from": operator})
    assert tuple(registry.partner(pid_a))[3:] == (20_000, 15_000, LIMIT)
    assert registry.partner(pid_a)[1] == SUSPENDED


def test_rerate_with_zero_issue_price_reverts(registry, operator, pid_a, reverts_with):
    with reverts_with("PartnerRegistryZeroIssuePrice"):
        registry.scheduleRerate(pid_a, 0, RATE, {"from": operator})


def test_rerate_of_an_unknown_partner_reverts(registry, operator, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 3):
        registry.scheduleRerate(3, PRICE, RATE, {"from": operator})
    with reverts_with("PartnerRegistryUnknownPartner", 3):
        registry.applyRerate(3, {"from": operator})


def test_rerate_changes_the_price_of_later_earns_only(
    points, registry, clearing, operator, pid_a, partner_a, customer, purchase, advance
):
    first = points.earn(purchase(customer, 100), {"from": partner_a})
    registry.scheduleRerate(pid_a, 25_000, RATE, {"from": operator})
    advance(NOTICE)
    registry.applyRerate(pid_a, {"from": operator})
    second = points.earn(purchase(customer, 100), {"from": partner_a})
    assert first.events["Earned"]["issuePrice"] == PRICE
    assert second.events["Earned"]["issuePrice"] == 25_000
    assert clearing.exposureOf(pid_a) == 100 * PRICE + 100 * 25_000
    root = bytes(first.events["Earned"]["root"])
    deadline = points.refundDeadlineOf(first.return_value)
    assert bytes(points.batchCommitment(first.return_value)) == stored_commitment(pid_a, PRICE, root, deadline)


# ------------------------------------------------------------------ the partner's own treasury, at once


@pytest.mark.parametrize("caller", ["operator", "admin", "partner_a", "treasury_b", "stranger"])
def test_only_the_partners_treasury_sets_its_treasury_and_minter(
    registry, pid_a, pid_b, partner_c, treasury_c, request, caller, reverts_with
):
    account = request.getfixturevalue(caller)
    with reverts_with("PartnerRegistryNotTreasury", pid_a, account):
        registry.setTreasury(pid_a, treasury_c, {"from": account})
    with reverts_with("PartnerRegistryNotTreasury", pid_a, account):
        registry.setMinter(pid_a, partner_c, {"from": account})


def test_treasury_rotates_its_minter_key_at_once(registry, pid_a, partner_a, treasury_a, partner_c):
    tx = registry.setMinter(pid_a, partner_c, {"from": treasury_a})
    assert dict(tx.events["PartnerMinterChanged"]) == {
        "partnerId": pid_a,
        "oldMinter": partner_a,
        "newMinter": partner_c,
    }
    assert registry.partner(pid_a)[0] == partner_c
    assert registry.partnerIdOf(partner_a) == 0
    assert registry.partnerIdOf(partner_c) == pid_a


def test_rotated_out_minter_can_no_longer_earn_and_the_new_one_can(
    points, registry, pid_a, partner_a, treasury_a, partner_c, customer, purchase, reverts_with
):
    registry.setMinter(pid_a, partner_c, {"from": treasury_a})
    with reverts_with("PartnerRegistryUnknownMinter", partner_a):
        points.earn(purchase(customer, 10), {"from": partner_a})
    tx = points.earn(purchase(customer, 10), {"from": partner_c})
    assert tx.events["Earned"]["partnerId"] == pid_a


def test_rotated_out_minter_key_is_free_again(registry, operator, pid_a, partner_a, treasury_a, partner_c, treasury_c):
    registry.setMinter(pid_a, partner_c, {"from": treasury_a})
    new_id = onboard(registry, operator, partner_a, treasury_c).return_value
    assert registry.partnerIdOf(partner_a) == new_id


def test_set_minter_to_zero_reverts(registry, pid_a, treasury_a, reverts_with):
    with reverts_with("PartnerRegistryZeroAddress"):
        registry.setMinter(pid_a, ZERO_ADDRESS, {"from": treasury_a})


def test_set_minter_to_a_key_of_another_partner_reverts(registry, pid_a, pid_b, treasury_a, partner_b, reverts_with):
    with reverts_with("PartnerRegistryMinterTaken", partner_b, pid_b):
        registry.setMinter(pid_a, partner_b, {"from": treasury_a})


def test_set_minter_to_the_current_key_reverts(registry, pid_a, partner_a, treasury_a, reverts_with):
    with reverts_with("PartnerRegistryMinterTaken", partner_a, pid_a):
        registry.setMinter(pid_a, partner_a, {"from": treasury_a})


def test_set_minter_of_an_unknown_partner_reverts(registry, treasury_a, partner_c, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 4):
        registry.setMinter(4, partner_c, {"from": treasury_a})


def test_treasury_replaces_itself_at_once(registry, pid_a, treasury_a, treasury_c, reverts_with):
    tx = registry.setTreasury(pid_a, treasury_c, {"from": treasury_a})
    assert dict(tx.events["PartnerTreasuryChanged"]) == {
        "partnerId": pid_a,
        "oldTreasury": treasury_a,
        "newTreasury": treasury_c,
    }
    assert registry.partner(pid_a)[2] == treasury_c
    with reverts_with("PartnerRegistryNotTreasury", pid_a, treasury_a):
        registry.setTreasury(pid_a, treasury_a, {"from": treasury_a})


def test_set_treasury_to_zero_reverts(registry, pid_a, treasury_a, reverts_with):
    with reverts_with("PartnerRegistryZeroAddress"):
        registry.setTreasury(pid_a, ZERO_ADDRESS, {"from": treasury_a})


def test_set_treasury_of_an_unknown_partner_reverts(registry, treasury_a, treasury_c, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 5):
        registry.setTreasury(5, treasury_c, {"from": treasury_a})


def test_suspended_partners_treasury_still_acts(registry, operator, pid_a, treasury_a, partner_c, treasury_c):
    registry.suspend(pid_a, {"from": operator})
    registry.setMinter(pid_a, partner_c, {"from": treasury_a})
    registry.setTreasury(pid_a, treasury_c, {"from": treasury_a})
    assert tuple(registry.partner(pid_a))[:3] == (partner_c, SUSPENDED, treasury_c)


# ---------------------------------------------------- treasury and minter by the operator, after the notice


def test_operator_schedules_a_treasury_change_after_the_notice(
    registry, operator, pid_a, treasury_a, treasury_c, next_block_at, reverts_with
):
    tx = registry.scheduleTreasury(pid_a, treasury_c, {"from": operator})
    effective_at = tx.timestamp + NOTICE
    assert dict(tx.events["PartnerTreasuryChangeScheduled"]) == {
        "partnerId": pid_a,
        "newTreasury": treasury_c,
        "effectiveAt": effective_at,
    }
    assert tuple(registry.pendingTreasury(pid_a)) == (treasury_c, effective_at)
    assert registry.partner(pid_a)[2] == treasury_a
    next_block_at(effective_at - 1)
    with reverts_with("PartnerRegistryNoticeNotOver", pid_a, effective_at):
        registry.applyTreasury(pid_a, {"from": operator})
    next_block_at(effective_at)
    tx = registry.applyTreasury(pid_a, {"from": operator})
    assert dict(tx.events["PartnerTreasuryChanged"]) == {
        "partnerId": pid_a,
        "oldTreasury": treasury_a,
        "newTreasury": treasury_c,
    }
    assert registry.partner(pid_a)[2] == treasury_c
    assert tuple(registry.pendingTreasury(pid_a)) == (ZERO_ADDRESS, 0)


def test_scheduled_treasury_of_zero_reverts(registry, operator, pid_a, reverts_with):
    with reverts_with("PartnerRegistryZeroAddress"):
        registry.scheduleTreasury(pid_a, ZERO_ADDRESS, {"from": operator})


def test_applying_a_treasury_change_never_scheduled_reverts(registry, stranger, pid_a, reverts_with):
    with reverts_with("PartnerRegistryNothingScheduled", pid_a):
        registry.applyTreasury(pid_a, {"from": stranger})


def test_operator_schedules_a_minter_rotation_after_the_notice(
    registry, operator, pid_a, partner_a, partner_c, stranger, next_block_at, reverts_with
):
    tx = registry.scheduleMinter(pid_a, partner_c, {"from": operator})
    effective_at = tx.timestamp + NOTICE
    assert dict(tx.events["PartnerMinterChangeScheduled"]) == {
        "partnerId": pid_a,
        "newMinter": partner_c,
        "effectiveAt": effective_at,
    }
    assert tuple(registry.pendingMinter(pid_a)) == (partner_c, effective_at)
    next_block_at(effective_at - 1)
    with reverts_with("PartnerRegistryNoticeNotOver", pid_a, effective_at):
        registry.applyMinter(pid_a, {"from": stranger})
    next_block_at(effective_at)
    tx = registry.applyMinter(pid_a, {"from": stranger})
    assert tx.events["PartnerMinterChanged"]["newMinter"] == partner_c
    assert registry.partnerIdOf(partner_a) == 0
    assert registry.partnerIdOf(partner_c) == pid_a
    assert tuple(registry.pendingMinter(pid_a)) == (ZERO_ADDRESS, 0)


def test_scheduled_minter_of_another_partner_reverts(registry, operator, pid_a, pid_b, partner_b, reverts_with):
    with reverts_with("PartnerRegistryMinterTaken", partner_b, pid_b):
        registry.scheduleMinter(pid_a, partner_b, {"from": operator})
    with reverts_with("PartnerRegistryZeroAddress"):
        registry.scheduleMinter(pid_a, ZERO_ADDRESS, {"from": operator})


def test_scheduled_minter_taken_meanwhile_reverts_when_applied(
    registry, operator, pid_a, partner_c, treasury_c, advance, reverts_with
):
    registry.scheduleMinter(pid_a, partner_c, {"from": operator})
    other = onboard(registry, operator, partner_c, treasury_c).return_value
    advance(NOTICE)
    with reverts_with("PartnerRegistryMinterTaken", partner_c, other):
        registry.applyMinter(pid_a, {"from": operator})


def test_operator_cancels_every_scheduled_change(
    registry, operator, pid_a, partner_c, treasury_c, advance, reverts_with
):
    registry.scheduleRerate(pid_a, 20_000, 15_000, {"from": operator})
    registry.scheduleTreasury(pid_a, treasury_c, {"from": operator})
    registry.scheduleMinter(pid_a, partner_c, {"from": operator})
    tx = registry.cancelScheduled(pid_a, {"from": operator})
    assert dict(tx.events["PartnerChangesCancelled"]) == {"partnerId": pid_a}
    assert tuple(registry.pendingRerate(pid_a)) == (0, 0, 0)
    assert tuple(registry.pendingTreasury(pid_a)) == (ZERO_ADDRESS, 0)
    assert tuple(registry.pendingMinter(pid_a)) == (ZERO_ADDRESS, 0)
    advance(NOTICE)
    for apply in (registry.applyRerate, registry.applyTreasury, registry.applyMinter):
        with reverts_with("PartnerRegistryNothingScheduled", pid_a):
            apply(pid_a, {"from": operator})


def test_cancel_for_an_unknown_partner_reverts(registry, operator, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 6):
        registry.cancelScheduled(6, {"from": operator})


# ------------------------------------------------------------------ the notice period


def test_notice_period_is_a_week_by_default_within_a_day_and_ninety(registry):
    assert registry.noticePeriod() == NOTICE
    assert (registry.MIN_NOTICE(), registry.MAX_NOTICE()) == (DAY, 90 * DAY)


@pytest.mark.parametrize("notice", [0, DAY - 1, 90 * DAY + 1, 2**32 - 1])
def test_notice_period_out_of_bounds_reverts(registry, operator, notice, reverts_with):
    with reverts_with("PartnerRegistryNoticeOutOfBounds", notice):
        registry.setNoticePeriod(notice, {"from": operator})


def test_longer_notice_applies_at_once(registry, operator, pid_a):
    tx = registry.setNoticePeriod(30 * DAY, {"from": operator})
    assert dict(tx.events["NoticePeriodChanged"]) == {"notice": 30 * DAY, "effectiveAt": tx.timestamp}
    assert registry.noticePeriod() == 30 * DAY
    scheduled = registry.scheduleRerate(pid_a, 20_000, RATE, {"from": operator})
    assert registry.pendingRerate(pid_a)[2] == scheduled.timestamp + 30 * DAY


def test_shorter_notice_applies_only_after_the_current_one(registry, operator, pid_a, next_block_at):
    tx = registry.setNoticePeriod(DAY, {"from": operator})
    effective_at = tx.timestamp + NOTICE
    assert dict(tx.events["NoticePeriodChanged"]) == {"notice": DAY, "effectiveAt": effective_at}
    assert registry.noticePeriod() == NOTICE
    next_block_at(effective_at - 1)
    scheduled = registry.scheduleRerate(pid_a, 20_000, RATE, {"from": operator})
    assert registry.pendingRerate(pid_a)[2] == scheduled.timestamp + NOTICE  # told under the week's notice
    next_block_at(effective_at)
    scheduled = registry.scheduleRerate(pid_a, 30_000, RATE, {"from": operator})
    assert registry.pendingRerate(pid_a)[2] == scheduled.timestamp + DAY
    assert registry.noticePeriod() == DAY


def test_longer_notice_cancels_a_shorter_one_not_yet_in_force(registry, operator, advance):
    registry.setNoticePeriod(DAY, {"from": operator})
    registry.setNoticePeriod(10 * DAY, {"from": operator})
    advance(NOTICE)
    assert registry.noticePeriod() == 10 * DAY


def test_shorter_notice_after_a_shorter_one_in_force_waits_for_that_one(registry, operator, advance):
    registry.setNoticePeriod(3 * DAY, {"from": operator})
    advance(NOTICE)
    assert registry.noticePeriod() == 3 * DAY
    tx = registry.setNoticePeriod(DAY, {"from": operator})
    assert tx.events["NoticePeriodChanged"]["effectiveAt"] == tx.timestamp + 3 * DAY
    assert registry.noticePeriod() == 3 * DAY
    advance(3 * DAY)
    assert registry.noticePeriod() == DAY


def test_active_partner_of_an_unknown_minter_reverts(registry, pid_a, stranger, reverts_with):
    with reverts_with("PartnerRegistryUnknownMinter", stranger):
        registry.activePartnerOf(stranger)


def test_reimbursement_rate_of_an_unknown_partner_reverts(registry, pid_a, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 0):
        registry.reimbursementRateOf(0)


def test_partner_of_an_unknown_id_reverts(registry, pid_a, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 99):
        registry.partner(99)


def test_partner_id_of_an_unknown_minter_is_zero(registry, pid_a, stranger):
    assert registry.partnerIdOf(stranger) == 0
