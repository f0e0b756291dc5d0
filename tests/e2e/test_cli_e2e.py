"""End to end, real processes: ``coalition demo --exit`` as a subprocess, with every port and
every file of the network moved into the test's directory.

On a fresh directory it must start anvil (deploying the contracts), Redis, Celery workers, beat
and the gateway, play a small month of issue 16's program (members enrolled with profiles,
purchases with lines under each shop's earning rules, a purchase in the Pharmacy's bonus window,
members moving up the tier ladder, one payment with points at a till and its refund), settle it,
print that both checks hold, exit 0 and leave nothing running. On a network already up (``coalition
up``) it must pass twice in a row; the second run's results are then read back independently:
the points its refund gave back from the store and from the token's ``Transfer`` logs, the members
it moved up from the tier tables, a member's profile from the store.

Ports: 8800-8819.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from web3 import HTTPProvider, Web3

from network.contracts import CoalitionContracts
from network.deployments import load_address_book
from network.node import port_in_use
from network.store import (
    CustomerLink,
    CustomerProfile,
    PointsGiveBack,
    Refund,
    TierChangeRecord,
    TierState,
    open_store,
)
from tests.e2e.cli import cli_env, coalition, free_ports, state_logs

pytestmark = pytest.mark.timeout(900)
MONTH = ("--purchases", "90", "--customers", "4", "--refunds", "3", "--redemptions", "6")
MOVED = re.compile(r"│ (\w{6}-c\d+)\s+│ [^│]+│\s+([\d,]+) │ Member → ([\w →]+?)\s+│")


@dataclass(frozen=True)
class Printed:
    """What a run printed of the program: its run id, who moved up (qualifying points, tier
    now), who paid with points (their balance after the refund), the points given back, where."""

    run: str
    moves: dict[str, tuple[int, str]]
    payer: str
    balance: int
    given_back: int
    till_partner: int


def program_steps(out: str) -> Printed:
    """What a run printed of issue 16's program, checked to be there."""
    assert "month played: 90 purchases, 3 refunds, 6 redemptions confirmed" in out, out
    assert "Members enrolled (4, each at a home shop, with a profile and consents)" in out, out
    run = re.search(r"Grocery (\w{6}): partner #(\d+)", out)
    assert run is not None, out
    run_id = run.group(1)
    for rule in ("fresh-x2", "no-tobacco", "welcome", "happy-hours", "car-wash-x3", "no-prescription"):
        assert f"│ {rule} " in out, out
    bonus = re.search(r"│ happy-hours\s+│ bonus_window\s+│\s+\d+ │\s+([\d,]+) │", out)
    assert bonus is not None and int(bonus.group(1).replace(",", "")) > 0, out
    moved = re.search(r"Tier moves: (\d+) of 4 members moved up", out)
    assert moved is not None and int(moved.group(1)) >= 1, out
    moves = {ref: (int(points.replace(",", "")), path.split(" → ")[-1]) for ref, points, path in MOVED.findall(out)}
    assert len(moves) == int(moved.group(1)) and all(points >= 1500 for points, _ in moves.values()), out
    given = re.search(
        r"✔ given back on chain: (\w{6}-c\d+) has ([\d,]+) points again\s+"
        r"\(−(\d+) paid, \+(\d+) earned, −(\d+) clawed\s+back, \+(\d+) given\s+back\)",
        out,
    )
    assert given is not None, out
    payer, balance, paid, earned, clawed, back = given.groups()
    assert paid == back and earned == clawed and int(paid) > 0, out
    shop = re.search(r"Paying with points at the (.+?) till", out)
    assert shop is not None, out
    partner = re.search(rf"{re.escape(shop.group(1))}: partner #(\d+)", out)
    assert partner is not None, out
    assert "BOTH CHECKS HOLD" in out and "A CHECK FAILED" not in out, out
    return Printed(run_id, moves, payer, int(balance.replace(",", "")), int(back), int(partner.group(1)))


def expiry_steps(out: str) -> tuple[int, int, int, int]:
    """What a run printed of issue 17's expiry, checked to be there: (period, its first block, its
    last block, the points of its breakage line)."""
    assert re.search(r"the chain's clock is moved \d+ days forward: a local demo chain only", out), out
    head = r"reminder points\.expiring: 0x[0-9a-fA-F]{40} has [\d,]+ points expiring at \S+"
    for days in (30, 7):
        assert re.search(rf"{head} \({days} days before", out), out
    assert "swept by the network's sweep job" in out, out
    breakage = re.search(r"Breakage: ([\d,]+) points expired in period (\d+): the operator's", out)
    assert breakage is not None, out
    period = int(breakage.group(2))
    blocks = re.search(rf"Settlement of period {period} \(blocks (\d+)-(\d+)\)", out)
    assert blocks is not None, out
    assert "check 3: the breakage line equals the chain's Expired events" in out and "EXPIRY CHECKS HOLD" in out, out
    assert re.search(r"demo run time: \d+ s", out), out
    return period, int(blocks.group(1)), int(blocks.group(2)), int(breakage.group(1).replace(",", ""))


def expired_on_chain(w3: Web3, contracts: CoalitionContracts, from_block: int, to_block: int) -> int:
    """The points of every ``Expired(holder, points, expiresAt)`` log of the range, decoded by hand
    from ``eth_getLogs`` (not by our bindings): ``points`` is the data's first word."""
    topic = "0x" + Web3.keccak(text="Expired(address,uint256,uint64)").hex().removeprefix("0x")
    logs = w3.eth.get_logs(
        {"address": contracts.points.address, "fromBlock": from_block, "toBlock": to_block, "topics": [topic]}
    )
    return sum(int(bytes(log["data"])[:32].hex(), 16) for log in logs)


def mints_and_burns(w3: Web3, contracts: CoalitionContracts, wallet: str) -> list[tuple[int, int, str, int]]:
    """(block, log index, "mint" or "burn", points) of the wallet, from the token's ``Transfer``
    logs (to or from the zero address), in chain order: however the contract gives points back
    (an earn, a restore), a mint to the wallet is a ``Transfer`` from zero."""
    zero = "0x" + "00" * 32
    topic = "0x" + Web3.keccak(text="Transfer(address,address,uint256)").hex().removeprefix("0x")
    who = "0x" + "00" * 12 + wallet.lower().removeprefix("0x")
    found = []
    for kind, topics in (("mint", [topic, zero, who]), ("burn", [topic, who, zero])):
        logs = w3.eth.get_logs(
            {"address": contracts.points.address, "fromBlock": 0, "toBlock": "latest", "topics": topics}
        )
        found += [(log["blockNumber"], log["logIndex"], kind, int(log["data"].hex(), 16)) for log in logs]
    return sorted(found)


def test_demo_exit_settles_a_month_that_checks_out_and_stops_everything(tmp_path: Path) -> None:
    anvil, redis, gateway = free_ports(3)
    env = cli_env(tmp_path, anvil, redis, gateway)
    try:
        run = coalition(env, "demo", "--exit", *MONTH, timeout=400)
        out = run.stdout + run.stderr
        assert run.returncode == 0, f"{out}\n{state_logs(tmp_path)}"
        assert "check 1: the nets and the operator's sum to zero" in out and "sum of 3 partner nets" in out, out
        assert "check 2: the statement matches an independent recomputation" in out, out
        assert "Tier ladder v1 (applied now)" in out, out
        program_steps(out)
        period, _, _, breakage = expiry_steps(out)
        assert period == 2 and breakage > 0 and "expiry window applied now" in out, out
        for partner in ("Grocery", "Fuel station", "Pharmacy"):
            assert partner in out, out
        # everything it started is stopped: no port held, no pid file left
        assert [p for p in (anvil, redis, gateway) if port_in_use(p)] == [], state_logs(tmp_path)
        assert list((tmp_path / "state" / "run").glob("*.json")) == []
        assert (tmp_path / "deployments" / "31337.json").exists(), "the contracts were deployed and recorded"
    finally:
        coalition(env, "down", timeout=60)  # whatever a failure left behind


def test_demo_runs_twice_on_a_network_already_up_and_its_results_are_in_the_store_and_on_chain(
    tmp_path: Path,
) -> None:
    anvil, redis, gateway = free_ports(3)
    env = cli_env(tmp_path, anvil, redis, gateway)
    try:
        up = coalition(env, "up", timeout=120)
        assert up.returncode == 0, f"{up.stdout}{up.stderr}\n{state_logs(tmp_path)}"
        runs = [coalition(env, "demo", "--exit", *MONTH, timeout=400) for _ in range(2)]
        outs = [r.stdout + r.stderr for r in runs]
        for run, out in zip(runs, outs, strict=True):
            assert run.returncode == 0, f"{out}\n{state_logs(tmp_path)}"
            assert "network already up, reused" in out, out
        assert "Tier ladder v1 (applied now)" in outs[0] and "Tier ladder v1 (already in force)" in outs[1], outs
        assert "Settlement of period 1 " in outs[0] and "Settlement of period 3 " in outs[1], outs
        expiries = [expiry_steps(out) for out in outs]
        assert [e[0] for e in expiries] == [2, 4], expiries
        assert "expiry window applied now" in outs[0] and "expiry window already in force" in outs[1], outs
        first, second = program_steps(outs[0]), program_steps(outs[1])
        assert first.run != second.run
        assert port_in_use(gateway), "a run on a network it found up leaves it up"

        run_id = second.run
        sessions = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        with sessions() as session:
            [back] = session.scalars(
                select(PointsGiveBack)
                .join(Refund, Refund.id == PointsGiveBack.refund_pk)
                .where(Refund.refund_id == f"{run_id}-till-back")
            ).all()
            profile = session.scalar(
                select(CustomerProfile)
                .join(CustomerLink, CustomerLink.customer_id == CustomerProfile.customer_id)
                .where(CustomerLink.ref == f"{run_id}-c0")
            )
            tiers = {}
            for ref in second.moves:
                link = session.scalar(select(CustomerLink).where(CustomerLink.ref == ref))
                assert link is not None
                state = session.get(TierState, link.customer_id)
                changes = session.scalars(
                    select(TierChangeRecord.to_tier).where(TierChangeRecord.customer_id == link.customer_id)
                ).all()
                tiers[ref] = (state.tier if state else None, list(changes))
        sessions.kw["bind"].dispose()
        assert (back.partner_id, back.points) == (second.till_partner, second.given_back)
        assert profile is not None and profile.email == f"{run_id}-c0@example.com" and profile.locale == "fr-FR"
        for ref, (_, tier) in second.moves.items():
            assert tiers[ref][0] == tier and tier in tiers[ref][1], tiers

        # on chain: the payment burned the points, a mint gave as many back after it, and the balance is back
        w3 = Web3(HTTPProvider(f"http://127.0.0.1:{anvil}"))
        contracts = CoalitionContracts(w3, load_address_book(31337, tmp_path / "deployments"))
        moves = mints_and_burns(w3, contracts, back.customer_wallet)
        burned = max(i for i, m in enumerate(moves[:-1]) if m[2:] == ("burn", back.points))
        assert ("mint", back.points) in [m[2:] for m in moves[burned + 1 : -1]], moves
        # then the 30-day window the first run put in force expired the second run's points: the payer's
        # balance burned whole, after the payment's give-back
        assert moves[-1][2:] == ("burn", second.balance), moves
        assert contracts.points.functions.balanceOf(back.customer_wallet).call() == 0
        # each run's breakage line is the points of the Expired logs of its second period, read by hand
        for _, first_block, last_block, breakage in expiries:
            assert breakage == expired_on_chain(w3, contracts, first_block, last_block) > 0, expiries
    finally:
        coalition(env, "down", timeout=60)
