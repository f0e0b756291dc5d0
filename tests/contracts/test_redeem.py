"""CoalitionPoints: redemption by the customer, by the customer's EIP-712 signature, and permit."""

from dataclasses import replace

import pytest
from brownie import ZERO_ADDRESS, chain
from eth_account import Account
from eth_account.messages import encode_typed_data

from network.signatures import RedeemConsent, recover_redeem_signer, sign_redeem

REF = b"\x11" * 32
RATE = 8_000  # conftest's default reimbursement rate


@pytest.fixture
def earned(points, pid_a, partner_a, customer, purchase):
    """The customer holds 1,000 points of partner A."""
    points.earn(purchase(customer, 1_000), {"from": partner_a})
    return 1_000


@pytest.fixture
def consent(pid_a, customer):
    """make(**changes): the customer's consent to burn 100 points at partner A (an hour to live)."""

    def make(**changes) -> RedeemConsent:
        base = RedeemConsent(customer.address, pid_a, 100, REF, nonce=1, deadline=chain[-1].timestamp + 3600)
        return replace(base, **changes)

    return make


@pytest.fixture
def sign(points, customer):
    """sign(consent, key=customer's, chain_id=this chain, contract=points) -> signature."""

    def make(consent, key=None, chain_id=None, contract=None) -> bytes:
        return sign_redeem(
            key or customer.private_key,
            consent,
            chain_id=chain.id if chain_id is None else chain_id,
            points_address=str(contract or points.address),
        )

    return make


def relay(points, consent, signature, sender):
    c = consent
    return points.redeemWithSignature(
        c.customer, c.partner_id, c.points, c.ref, c.nonce, c.deadline, signature, {"from": sender}
    )


def signer_seen_by_contract(points, consent, signature) -> str:
    return recover_redeem_signer(signature, consent, chain_id=chain.id, points_address=points.address)


# ------------------------------------------------------------------ the customer's own redeem


def test_customer_redeems_own_points(points, pid_a, customer, earned):
    tx = points.redeem(pid_a, 300, REF, {"from": customer})
    assert points.balanceOf(customer) == 700
    assert points.totalSupply() == 700
    assert dict(tx.events["Redeemed"]) == {
        "partnerId": pid_a,
        "customer": customer,
        "ref": "0x" + REF.hex(),
        "points": 300,
        "reimbursementRate": RATE,
    }
    assert tx.events["Transfer"]["to"] == ZERO_ADDRESS


def test_redeem_reports_the_rate_in_force_at_the_partner(points, registry, operator, pid_a, customer, earned, advance):
    registry.scheduleRerate(pid_a, 10_000, 9_500, {"from": operator})
    tx = points.redeem(pid_a, 1, REF, {"from": customer})
    assert tx.events["Redeemed"]["reimbursementRate"] == RATE  # scheduled, not in force yet
    advance(registry.noticePeriod())
    registry.applyRerate(pid_a, {"from": operator})
    tx = points.redeem(pid_a, 1, REF, {"from": customer})
    assert tx.events["Redeemed"]["reimbursementRate"] == 9_500


def test_redeem_at_another_partner_than_the_issuer(points, pid_a, pid_b, customer, earned):
    tx = points.redeem(pid_b, 10, REF, {"from": customer})
    assert tx.events["Redeemed"]["partnerId"] == pid_b


def test_redeem_at_an_unknown_partner_reverts(points, customer, earned, reverts_with):
    with reverts_with("PartnerRegistryUnknownPartner", 99):
        points.redeem(99, 10, REF, {"from": customer})


def test_redeem_at_a_suspended_partner_reverts(points, registry, operator, pid_a, customer, earned, reverts_with):
    registry.suspend(pid_a, {"from": operator})
    with reverts_with("PartnerRegistryNotActive", pid_a):
        points.redeem(pid_a, 10, REF, {"from": customer})


def test_redeem_of_zero_points_reverts(points, pid_a, customer, earned, reverts_with):
    with reverts_with("CoalitionPointsZeroPoints"):
        points.redeem(pid_a, 0, REF, {"from": customer})


def test_redeem_beyond_the_balance_reverts(points, pid_a, customer, earned, reverts_with):
    with reverts_with("ERC20InsufficientBalance", customer, 1_000, 1_001):
        points.redeem(pid_a, 1_001, REF, {"from": customer})


def test_paused_points_block_redeem(points, operator, pid_a, customer, earned, reverts_with):
    points.pause({"from": operator})
    with reverts_with("EnforcedPause"):
        points.redeem(pid_a, 10, REF, {"from": customer})


# ------------------------------------------------------------------ redeem with a signature


def test_signed_redeem_is_relayed_by_anyone(points, pid_a, customer, stranger, earned, consent, sign):
    c = consent(nonce=42)
    tx = relay(points, c, sign(c), stranger)
    assert points.balanceOf(customer) == 900
    assert tx.events["Redeemed"]["customer"] == customer
    assert tx.events["Redeemed"]["partnerId"] == pid_a
    assert tx.events["Redeemed"]["points"] == 100
    assert tx.events["Redeemed"]["reimbursementRate"] == RATE
    assert points.redeemNonceUsed(customer, 42)


def test_signature_of_another_key_is_refused(points, customer, stranger, earned, consent, sign, reverts_with):
    forger = Account.create()
    c = consent()
    with reverts_with("CoalitionPointsInvalidSigner", forger.address, customer):
        relay(points, c, sign(c, key=forger.key), stranger)


def test_expired_signature_is_refused(points, stranger, earned, consent, sign, reverts_with):
    c = consent(deadline=chain[-1].timestamp + 60)
    signature = sign(c)
    chain.sleep(120)
    with reverts_with("CoalitionPointsExpiredSignature", c.deadline):
        relay(points, c, signature, stranger)


def test_signature_expires_one_second_after_its_deadline(
    points, stranger, earned, consent, sign, next_block_at, reverts_with
):
    c = consent(deadline=chain[-1].timestamp + 100)
    next_block_at(c.deadline + 1)
    with reverts_with("CoalitionPointsExpiredSignature", c.deadline):
        relay(points, c, sign(c), stranger)


def test_signature_is_valid_at_its_deadline(points, customer, stranger, earned, consent, sign, next_block_at):
    c = consent(deadline=chain[-1].timestamp + 100)
    next_block_at(c.deadline)
    tx = relay(points, c, sign(c), stranger)
    assert tx.timestamp == c.deadline
    assert points.balanceOf(customer) == 900


def test_replayed_signature_is_refused(points, customer, stranger, earned, consent, sign, reverts_with):
    c = consent(nonce=7)
    signature = sign(c)
    relay(points, c, signature, stranger)
    with reverts_with("CoalitionPointsNonceUsed", customer, 7):
        relay(points, c, signature, stranger)
    assert points.balanceOf(customer) == 900


def test_nonce_of_another_consent_cannot_be_reused(points, customer, stranger, earned, consent, sign, reverts_with):
    first = consent(nonce=7)
    relay(points, first, sign(first), stranger)
    second = consent(nonce=7, points=1, ref=b"\x22" * 32)
    with reverts_with("CoalitionPointsNonceUsed", customer, 7):
        relay(points, second, sign(second), stranger)


def test_signature_for_another_chain_id_is_refused(points, customer, stranger, earned, consent, sign, reverts_with):
    c = consent()
    signature = sign(c, chain_id=chain.id + 1)
    with reverts_with("CoalitionPointsInvalidSigner", signer_seen_by_contract(points, c, signature), customer):
        relay(points, c, signature, stranger)


def test_signature_for_another_contract_is_refused(
    points, clearing, customer, stranger, earned, consent, sign, reverts_with
):
    c = consent()
    signature = sign(c, contract=clearing.address)
    with reverts_with("CoalitionPointsInvalidSigner", signer_seen_by_contract(points, c, signature), customer):
        relay(points, c, signature, stranger)


TAMPERED = {
    "points": lambda c, pid_b: c.points + 900,
    "partner_id": lambda c, pid_b: pid_b,
    "ref": lambda c, pid_b: b"\x99" * 32,
    "nonce": lambda c, pid_b: c.nonce + 1,
    "deadline": lambda c, pid_b: c.deadline + 1,
}


@pytest.mark.parametrize("field", sorted(TAMPERED))
def test_tampered_consent_is_refused(points, pid_b, customer, stranger, earned, consent, sign, reverts_with, field):
    signed = consent()
    tampered = replace(signed, **{field: TAMPERED[field](signed, pid_b)})
    signature = sign(signed)
    seen = signer_seen_by_contract(points, tampered, signature)
    assert seen != customer.address
    with reverts_with("CoalitionPointsInvalidSigner", seen, customer):
        relay(points, tampered, signature, stranger)
    assert points.balanceOf(customer) == 1_000


def test_consent_of_one_customer_cannot_burn_another(
    points, customer, other_customer, stranger, earned, consent, sign, reverts_with
):
    signed = consent()
    tampered = replace(signed, customer=other_customer.address)
    signature = sign(signed)
    seen = signer_seen_by_contract(points, tampered, signature)
    with reverts_with("CoalitionPointsInvalidSigner", seen, other_customer):
        relay(points, tampered, signature, stranger)


def test_malformed_signature_is_refused(points, stranger, earned, consent, sign, reverts_with):
    c = consent()
    with reverts_with("ECDSAInvalidSignatureLength", 64):
        relay(points, c, sign(c)[:64], stranger)


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_malleated_high_s_signature_is_refused(points, stranger, earned, consent, sign, reverts_with):
    c = consent()
    signature = sign(c)
    high_s = (SECP256K1_N - int.from_bytes(signature[32:64], "big")).to_bytes(32, "big")
    malleated = signature[:32] + high_s + bytes([55 - signature[64]])  # same signer, other (r, s, v)
    with reverts_with("ECDSAInvalidSignatureS", high_s):
        relay(points, c, malleated, stranger)


def test_signature_with_an_invalid_v_is_refused(points, stranger, earned, consent, sign, reverts_with):
    c = consent()
    with reverts_with("ECDSAInvalidSignature"):
        relay(points, c, sign(c)[:64] + bytes([29]), stranger)


def test_nonces_are_unordered(points, customer, stranger, earned, consent, sign):
    for nonce in (5, 1, 256, 2**256 - 1):
        c = consent(nonce=nonce)
        relay(points, c, sign(c), stranger)
    assert points.balanceOf(customer) == 600
    for nonce in (5, 1, 256, 2**256 - 1):
        assert points.redeemNonceUsed(customer, nonce)
    for nonce in (0, 2, 4, 6, 255, 257):
        assert not points.redeemNonceUsed(customer, nonce)


def test_nonces_are_per_customer(points, customer, other_customer, stranger, earned, consent, sign):
    c = consent(nonce=5)
    relay(points, c, sign(c), stranger)
    assert points.redeemNonceUsed(customer, 5)
    assert not points.redeemNonceUsed(other_customer, 5)


def test_failed_signed_redeem_leaves_the_nonce_unused(
    points, registry, operator, pid_a, customer, stranger, earned, consent, sign, reverts_with
):
    registry.suspend(pid_a, {"from": operator})
    c = consent(nonce=9)
    with reverts_with("PartnerRegistryNotActive", pid_a):
        relay(points, c, sign(c), stranger)
    assert not points.redeemNonceUsed(customer, 9)


def test_signed_redeem_beyond_the_balance_reverts(points, customer, stranger, earned, consent, sign, reverts_with):
    c = consent(points=1_001)
    with reverts_with("ERC20InsufficientBalance", customer, 1_000, 1_001):
        relay(points, c, sign(c), stranger)


def test_signed_redeem_of_zero_points_reverts(points, stranger, earned, consent, sign, reverts_with):
    c = consent(points=0)
    with reverts_with("CoalitionPointsZeroPoints"):
        relay(points, c, sign(c), stranger)


def test_paused_points_block_signed_redeem(points, operator, stranger, earned, consent, sign, reverts_with):
    points.pause({"from": operator})
    c = consent()
    with reverts_with("EnforcedPause"):
        relay(points, c, sign(c), stranger)


# ------------------------------------------------------------------ permit (EIP-2612)


def sign_permit(points, owner, spender, value, deadline, key=None):
    data = {
        "domain": {
            "name": "Coalition Points",
            "version": "1",
            "chainId": chain.id,
            "verifyingContract": points.address,
        },
        "types": {
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ]
        },
        "message": {
            "owner": owner.address,
            "spender": spender.address,
            "value": value,
            "nonce": points.nonces(owner),
            "deadline": deadline,
        },
    }
    signed = Account.sign_message(encode_typed_data(full_message=data), key or owner.private_key)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def test_permit_grants_an_allowance_from_a_signature(points, customer, stranger, earned):
    deadline = chain[-1].timestamp + 3600
    v, r, s = sign_permit(points, customer, stranger, 250, deadline)
    points.permit(customer, stranger, 250, deadline, v, r, s, {"from": stranger})
    assert points.allowance(customer, stranger) == 250
    assert points.nonces(customer) == 1
    points.transferFrom(customer, stranger, 250, {"from": stranger})
    assert points.balanceOf(stranger) == 250


def test_permit_signed_by_another_key_is_refused(points, customer, stranger, earned, reverts_with):
    deadline = chain[-1].timestamp + 3600
    forger = Account.create()
    v, r, s = sign_permit(points, customer, stranger, 250, deadline, key=forger.key)
    with reverts_with("ERC2612InvalidSigner", forger.address, customer):
        points.permit(customer, stranger, 250, deadline, v, r, s, {"from": stranger})


def test_expired_permit_is_refused(points, customer, stranger, earned, reverts_with):
    deadline = chain[-1].timestamp + 60
    v, r, s = sign_permit(points, customer, stranger, 250, deadline)
    chain.sleep(120)
    with reverts_with("ERC2612ExpiredSignature", deadline):
        points.permit(customer, stranger, 250, deadline, v, r, s, {"from": stranger})
