"""PartnerRegistry: onboarding, suspension, re-rating and key rotation by the operator."""

import pytest
from brownie import ZERO_ADDRESS, PartnerRegistry

from network.purchases import commitment

ACTIVE, SUSPENDED = 1, 2
PRICE, RATE, LIMIT = 10_000, 8_000, 10**12


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
    "rerate": lambda r, pid, key, tx: r.rerate(pid, PRICE, RATE, LIMIT, tx),
    "setMinter": lambda r, pid, key, tx: r.setMinter(pid, key, tx),
    "setTreasury": lambda r, pid, key, tx: r.setTreasury(pid, key, tx),
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


def test_operator_rerates_a_partner(registry, operator, pid_a, partner_a):
    tx = registry.rerate(pid_a, 20_000, 15_000, 777, {"from": operator})
    assert dict(tx.events["PartnerRerated"]) == {
        "partnerId": pid_a,
        "issuePrice": 20_000,
        "reimbursementRate": 15_000,
        "issuanceLimit": 777,
    }
    assert tuple(registry.activePartnerOf(partner_a)) == (pid_a, 20_000, 777)
    assert registry.reimbursementRateOf(pid_a) == 15_000


def test_rerate_of_a_suspended_partner_is_allowed(registry, operator, pid_a):
    registry.suspend(pid_a, {"from": operator})
    registry.rerate(pid_a, 20_000, 15_000, 777, {"from": operator})
    assert tuple(registry.partner(pid_a))[3:] == (20_000, 15_000, 777)
    assert registry.partner(pid_a)[1] == SUSPENDED


def test_rerate_with_zero_issue_price_reverts(registry, operator, pid_a, reverts_with):
    with reverts_with("PartnerRegistryZeroIssuePrice"):
        registry.rerate(pid_a, 0, RATE, LIMIT, {"from": operator})


def test_rerate_of_an_unknown_partner_reverts(registry, operator, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 3):
        registry.rerate(3, PRICE, RATE, LIMIT, {"from": operator})


def test_rerate_changes_the_price_of_later_earns_only(
    points, registry, clearing, operator, pid_a, partner_a, customer, purchase
):
    first = points.earn(purchase(customer, 100), {"from": partner_a})
    registry.rerate(pid_a, 25_000, RATE, LIMIT, {"from": operator})
    second = points.earn(purchase(customer, 100), {"from": partner_a})
    assert first.events["Earned"]["issuePrice"] == PRICE
    assert second.events["Earned"]["issuePrice"] == 25_000
    assert clearing.exposureOf(pid_a) == 100 * PRICE + 100 * 25_000
    root = bytes(first.events["Earned"]["root"])
    assert bytes(points.batchCommitment(first.return_value)) == commitment(pid_a, PRICE, root)


def test_rerate_changes_the_issuance_limit_of_later_earns(
    points, registry, operator, pid_a, partner_a, customer, purchase, reverts_with
):
    points.earn(purchase(customer, 100), {"from": partner_a})
    registry.rerate(pid_a, PRICE, RATE, 150 * PRICE, {"from": operator})
    with reverts_with("ClearingIssuanceOverLimit", pid_a, 151 * PRICE, 150 * PRICE):
        points.earn(purchase(customer, 51), {"from": partner_a})
    points.earn(purchase(customer, 50), {"from": partner_a})


def test_operator_rotates_a_minter_key(registry, operator, pid_a, partner_a, partner_c):
    tx = registry.setMinter(pid_a, partner_c, {"from": operator})
    assert dict(tx.events["PartnerMinterChanged"]) == {
        "partnerId": pid_a,
        "oldMinter": partner_a,
        "newMinter": partner_c,
    }
    assert registry.partner(pid_a)[0] == partner_c
    assert registry.partnerIdOf(partner_a) == 0
    assert registry.partnerIdOf(partner_c) == pid_a


def test_rotated_out_minter_can_no_longer_earn_and_the_new_one_can(
    points, registry, operator, pid_a, partner_a, partner_c, customer, purchase, reverts_with
):
    registry.setMinter(pid_a, partner_c, {"from": operator})
    with reverts_with("PartnerRegistryUnknownMinter", partner_a):
        points.earn(purchase(customer, 10), {"from": partner_a})
    tx = points.earn(purchase(customer, 10), {"from": partner_c})
    assert tx.events["Earned"]["partnerId"] == pid_a


def test_rotated_out_minter_key_is_free_again(registry, operator, pid_a, partner_a, partner_c, treasury_c):
    registry.setMinter(pid_a, partner_c, {"from": operator})
    new_id = onboard(registry, operator, partner_a, treasury_c).return_value
    assert registry.partnerIdOf(partner_a) == new_id


def test_set_minter_to_zero_reverts(registry, operator, pid_a, reverts_with):
    with reverts_with("PartnerRegistryZeroAddress"):
        registry.setMinter(pid_a, ZERO_ADDRESS, {"from": operator})


def test_set_minter_to_a_key_of_another_partner_reverts(registry, operator, pid_a, pid_b, partner_b, reverts_with):
    with reverts_with("PartnerRegistryMinterTaken", partner_b, pid_b):
        registry.setMinter(pid_a, partner_b, {"from": operator})


def test_set_minter_to_the_current_key_reverts(registry, operator, pid_a, partner_a, reverts_with):
    with reverts_with("PartnerRegistryMinterTaken", partner_a, pid_a):
        registry.setMinter(pid_a, partner_a, {"from": operator})


def test_set_minter_of_an_unknown_partner_reverts(registry, operator, partner_c, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 4):
        registry.setMinter(4, partner_c, {"from": operator})


def test_operator_replaces_a_treasury(registry, operator, pid_a, treasury_a, treasury_c):
    tx = registry.setTreasury(pid_a, treasury_c, {"from": operator})
    assert dict(tx.events["PartnerTreasuryChanged"]) == {
        "partnerId": pid_a,
        "oldTreasury": treasury_a,
        "newTreasury": treasury_c,
    }
    assert registry.partner(pid_a)[2] == treasury_c


def test_set_treasury_to_zero_reverts(registry, operator, pid_a, reverts_with):
    with reverts_with("PartnerRegistryZeroAddress"):
        registry.setTreasury(pid_a, ZERO_ADDRESS, {"from": operator})


def test_set_treasury_of_an_unknown_partner_reverts(registry, operator, treasury_c, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 5):
        registry.setTreasury(5, treasury_c, {"from": operator})


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
