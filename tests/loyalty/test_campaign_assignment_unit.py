"""A campaign's arms (loyalty/campaigns/assignment.py): sha256 of the salt and the customer id into
10,000 buckets, control below the holdout; deterministic, stable, independent between campaigns."""

from __future__ import annotations

import hashlib
import math

import pytest

from loyalty.campaigns.assignment import (
    BUCKETS,
    DEFAULT_HOLDOUT_BP,
    NO_HOLDOUT_WARNING,
    arm,
    bucket,
    holdout_warning,
    new_salt,
    validate_holdout,
)


def test_the_bucket_is_the_sha256_of_salt_then_customer_id_modulo_10000() -> None:
    for salt, customer in (("a1b2", 7), ("winback-2026", 123456789), ("", 0)):
        expected = int(hashlib.sha256(f"{salt}{customer}".encode()).hexdigest(), 16) % 10_000
        assert bucket(salt, customer) == expected


def test_a_known_bucket_never_changes_between_versions() -> None:
    # pinned: if this moves, every running campaign's control group would reshuffle
    assert bucket("0123456789abcdef0123456789abcdef", 42) == 9715
    assert arm("0123456789abcdef0123456789abcdef", 42) == "treatment"


def test_the_same_customer_always_lands_in_the_same_arm() -> None:
    salt = new_salt()
    first = [arm(salt, customer) for customer in range(500)]
    assert [arm(salt, customer) for customer in range(500)] == first


def test_the_default_holdout_is_ten_percent_and_the_control_share_follows_it() -> None:
    assert DEFAULT_HOLDOUT_BP == 1_000
    salt, n = "share-check", 20_000
    for holdout_bp in (1_000, 2_500):
        controls = sum(arm(salt, customer, holdout_bp) == "control" for customer in range(n))
        share = holdout_bp / BUCKETS
        assert abs(controls - n * share) < 4 * math.sqrt(n * share * (1 - share))  # 4 sigma, binomial


def test_no_holdout_puts_everybody_in_treatment_with_a_warning_and_a_full_one_in_control() -> None:
    assert {arm("s", customer, 0) for customer in range(1_000)} == {"treatment"}
    assert {arm("s", customer, BUCKETS) for customer in range(1_000)} == {"control"}
    assert holdout_warning(0) == NO_HOLDOUT_WARNING
    assert holdout_warning(1_000) is None


def test_raising_the_holdout_only_moves_treatment_members_into_control() -> None:
    before = {customer: arm("s", customer, 1_000) for customer in range(5_000)}
    after = {customer: arm("s", customer, 2_000) for customer in range(5_000)}
    assert all(after[c] == "control" for c, side in before.items() if side == "control")
    assert any(after[c] == "control" for c, side in before.items() if side == "treatment")


def test_two_campaigns_control_groups_are_independent() -> None:
    n = 40_000
    both = sum(arm("campaign-a", c) == "control" and arm("campaign-b", c) == "control" for c in range(n))
    # independent 10 % holdouts overlap on 1 % of the members (binomial, 4 sigma)
    assert abs(both - n * 0.01) < 4 * math.sqrt(n * 0.01 * 0.99)


def test_new_salts_are_random_hex() -> None:
    salts = {new_salt() for _ in range(100)}
    assert len(salts) == 100
    assert all(len(s) == 32 and int(s, 16) >= 0 for s in salts)


@pytest.mark.parametrize("bad", [-1, 10_001, 0.1, "1000", True, None])
def test_a_holdout_outside_0_to_10000_basis_points_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="basis points"):
        validate_holdout(bad)  # type: ignore[arg-type]


def test_a_customer_id_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        bucket("s", "42")  # type: ignore[arg-type]
