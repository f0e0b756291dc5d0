"""Churn risk and "rewards you may like" on a generated store (bench/analytics_data.py), on SQLite and
PostgreSQL, against plain-Python references over the rows (tests/gateway/analytics_reference.py's
counting): the values at a cut-off, the labels, the fitted model and its held-out AUC (by counting
pairs), the daily scores, the run's idempotence, the ``churn_risk`` segment condition, a member's
explanation; co-occurrence over redemptions with erased customers and failed redemptions left out."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bench.analytics_data import CHAIN_ID, fill, wallet
from gateway.services import churn as service
from gateway.services import recommendations, segments
from loyalty import churn
from loyalty.recommendations import counts, recommend
from network.store import (
    ChurnModel,
    ChurnScore,
    CustomerErasure,
    Member,
    Redemption,
    Reward,
    TierChangeRecord,
    TierLadder,
)
from tests.gateway import analytics_reference as ref
from tests.pg import StoreKind
from tests.stores import migrated_store

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
TODAY = NOW.date()
H = 60  # churn days
MEMBERS = 300
LEVELS = {"base": 0, "silver": 1, "gold": 2}
ERASED = (4, 9)


@pytest.fixture(scope="module")
def filled(store: StoreKind, tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    sessions = migrated_store(store.new_url(tmp_path_factory.mktemp(f"churn-{store.name}")))
    with sessions() as session:
        fill(session, members=MEMBERS, partners=4, purchases_per_member=8, end=NOW, days=300, seed=23)
        session.add(TierLadder(
            tiers=[{"name": "base", "threshold": 0}, {"name": "silver", "threshold": 300, "multiplier": "1.2"},
                   {"name": "gold", "threshold": 1000, "multiplier": "1.5"}],
            policy={"window": "rolling_12_months"}, status="active",
        ))  # fmt: skip
        session.execute(update(Member).where(Member.customer_id.in_(ERASED)).values(erased_at=NOW - timedelta(days=1)))
        session.commit()
    return sessions


# --- the reference


def reference_values(rows: ref.Rows, changes: list[TierChangeRecord], at: datetime) -> dict[int, list[float]]:
    per: dict[int, list[ref.Row]] = defaultdict(list)
    for p, _amount, points in rows.counted(at, None):
        per[p.customer].append(p)
        p.net_points = points  # type: ignore[attr-defined]
    tier: dict[int, tuple[int, str]] = {}
    for c in changes:
        if ref.aware(c.at) < at and c.id > tier.get(c.customer_id, (0, ""))[0]:
            tier[c.customer_id] = (c.id, c.to_tier)
    out = {}
    for c, bought in per.items():
        m = rows.members.get(c)
        if m is None or m.erased_at is not None or ref.aware(m.enrolled_at) >= at:
            continue
        last = max(p.at for p in bought)
        recent = sum(1 for p in bought if p.at >= at - timedelta(days=H))
        out[c] = [
            math.log1p((at - last).total_seconds() / 86_400),
            math.log1p(len(bought)),
            math.log1p(recent),
            math.log1p(sum(p.net_points for p in bought)),  # type: ignore[attr-defined]
            float(len({p.partner for p in bought})),
            math.log1p((at - ref.aware(m.enrolled_at)).total_seconds() / 86_400),
            float(LEVELS[tier[c][1]] if c in tier else 0),
        ]
    return out


def reference_labels(rows: ref.Rows, ids: list[int], at: datetime) -> list[int]:
    bought = {p.customer for p, _, _ in rows.counted(at + timedelta(days=H), None) if p.at >= at}
    return [0 if c in bought else 1 for c in ids]


def auc_by_pairs(scores: list[float], labels: list[int]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / (len(pos) * len(neg))


def day_start(days_before: int) -> datetime:
    return datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC) - timedelta(days=days_before)


# --- the tests


def test_training_scoring_and_the_segment_condition(filled: sessionmaker[Session]) -> None:
    done = service.run(filled, now=lambda: NOW, churn_days=H, min_members=20)
    assert done.trained and done.scored is not None
    again = service.run(filled, now=lambda: NOW, churn_days=H, min_members=20)
    assert (again.trained, again.scored, again.model_id) == (False, None, done.model_id)  # idempotent
    t0, t1, end = day_start(2 * H), day_start(H), day_start(0)  # end: of yesterday
    with filled() as session:
        model = session.scalars(select(ChurnModel)).one()
        rows, changes = ref.Rows(session), list(session.scalars(select(TierChangeRecord)))
        scores = {s.customer_id: s for s in session.scalars(select(ChurnScore))}
        # the model: the reference's fit on the reference's rows and labels at the past cut-off
        train = reference_values(rows, changes, t0)
        ids = sorted(train)
        ys = reference_labels(rows, ids, t0)
        fitted = churn.fit([train[c] for c in ids], ys)
        assert (model.cutoff, model.validation_cutoff, model.churn_days) == (t0, t1, H)
        assert (model.n_train, model.churned_train) == (len(ids), sum(ys))
        assert model.coefficients == pytest.approx(list(fitted.coefficients), abs=1e-6)
        assert model.intercept == pytest.approx(fitted.intercept, abs=1e-6)
        m = service.model_of(model)
        # the AUC on the later, held-out period, by counting pairs
        held = reference_values(rows, changes, t1)
        vids = sorted(held)
        vys = reference_labels(rows, vids, t1)
        assert (model.n_validation, model.churned_validation) == (len(vids), sum(vys))
        assert model.auc == pytest.approx(auc_by_pairs([churn.risk(m, held[c]) for c in vids], vys), abs=1e-12)
        assert model.auc > 0.55  # better than chance: frequent buyers (low ids buy more in the generator) churn less
        assert dict(zip(model.features, model.coefficients, strict=True))["recency_days"] > 0
        # the scores: every member with a purchase by the end of yesterday, risk from their values
        now_values = reference_values(rows, changes, end)
        assert scores.keys() == now_values.keys() and done.scored == len(now_values)
        assert model.scored_day == TODAY - timedelta(days=1)
        assert not set(ERASED) & scores.keys()
        for c, x in now_values.items():
            assert scores[c].values == pytest.approx(x, abs=1e-9), c
            assert scores[c].risk == pytest.approx(churn.risk(m, x), abs=1e-12)
        assert {s.values[6] for s in scores.values()} == {0.0, 1.0, 2.0}  # tiers by the ladder's order
        # the segment condition, as the stored scores say
        mid = round(sorted(s.risk for s in scores.values())[len(scores) // 2], 4)
        for cond, keep in (
            ({"field": "churn_risk", "op": ">", "value": mid}, lambda r: r is not None and r > mid),
            ({"field": "churn_risk", "op": ">=", "value": 0.5}, lambda r: r is not None and r >= 0.5),
            (
                {"field": "churn_risk", "op": "between", "value": [0.2, 0.6]},
                lambda r: r is not None and 0.2 <= r <= 0.6,
            ),
            ({"not": {"field": "churn_risk", "op": "<", "value": 0.3}}, lambda r: r is None or r >= 0.3),
        ):
            want = sorted(
                c for c, mem in rows.members.items()
                if mem.erased_at is None and keep(scores[c].risk if c in scores else None)
            )  # fmt: skip
            page = segments.members(session, condition=cond, chain_id=CHAIN_ID, limit=1_000, now=NOW)
            assert page.customer_ids == want and page.count == len(want), cond
        higher = segments.count(session, condition={"field": "churn_risk", "op": ">", "value": mid}, chain_id=CHAIN_ID,
                                now=NOW)  # fmt: skip
        assert len(scores) / 3 < higher < len(scores)
        # a member's explanation adds up to their score
        c = max(scores, key=lambda k: scores[k].risk)
        seen = service.explain(session, customer_id=c)
        assert seen is not None and seen.risk == scores[c].risk and seen.model.id == model.id
        logit = seen.model.intercept + sum(x.contribution for x in seen.contributions)
        assert 1 / (1 + math.exp(-logit)) == pytest.approx(seen.risk, abs=1e-12)
        assert [abs(x.contribution) for x in seen.contributions] == sorted(
            (abs(x.contribution) for x in seen.contributions), reverse=True
        )
        assert service.explain(session, customer_id=ERASED[0]) is None
        # erased after the scoring: neither explained nor in a segment until the next scoring drops the row
        session.execute(update(Member).where(Member.customer_id == c).values(erased_at=NOW))
        assert service.explain(session, customer_id=c) is None
        every = {"field": "churn_risk", "op": ">=", "value": 0}
        assert c not in segments.members(session, condition=every, chain_id=CHAIN_ID, limit=1_000, now=NOW).customer_ids
        session.rollback()


def test_no_model_without_enough_history_and_a_sample_beyond_the_most(filled: sessionmaker[Session]) -> None:
    with filled() as session:
        assert service.train(session, today=date(2026, 4, 1), churn_days=H, min_members=20) is None  # no purchase yet
        assert service.train(session, today=TODAY, churn_days=30, min_members=10_000) is None  # too few members
        assert session.scalar(select(func.count()).select_from(ChurnModel).where(ChurnModel.churn_days == 30)) == 0
        rows, changes = ref.Rows(session), list(session.scalars(select(TierChangeRecord)))
        sampled = service.train(session, today=TODAY, churn_days=30, max_members=100)  # 300 - erased: every 3rd
        assert sampled is not None
        everyone = reference_values(rows, changes, day_start(60))
        kept = sorted(c for c in everyone if c % 3 == 0)
        assert 0 < sampled.n_train == len(kept) < len(everyone) / 2
        session.rollback()


def test_rewards_you_may_like_never_use_erased_customers(filled: sessionmaker[Session]) -> None:
    rng = random.Random(5)
    with filled() as session:
        rewards = [Reward(partner_id=1 + i % 4, sku=f"sku{i}", name=f"Reward {i}", points=100 + i,
                          stock=0 if i == 11 else None, active=i != 10) for i in range(12)]  # fmt: skip
        session.add_all(rewards)
        session.flush()
        ids = [r.id for r in rewards]
        erased_customer = 30  # erased through customer_erasures only (no member flag)
        session.add(CustomerErasure(customer_id=erased_customer, requested_by="operator", erased={}))
        n = 0
        for c in range(1, 61):
            for r in rng.sample(ids, rng.randrange(1, 5)):
                n += 1
                status = "failed" if n % 9 == 0 else rng.choice(["accepted", "burned", "fulfilled"])
                session.add(Redemption(
                    partner_id=1, redemption_id=f"red{n}", request_hash="0" * 64, reward_id=r, sku="s",
                    quantity=1, points=100, stock_reserved=False, customer_wallet=wallet(c), ref=f"0x{n:064x}",
                    nonce=str(n), deadline=0, signature=b"", status=status,
                ))  # fmt: skip
        # erased customers who redeemed reward 0 with reward 5: without them nobody links the two
        for c in (*ERASED, erased_customer):
            for r in (ids[0], ids[5]):
                n += 1
                session.add(Redemption(
                    partner_id=1, redemption_id=f"red{n}", request_hash="0" * 64, reward_id=r, sku="s",
                    quantity=1, points=100, stock_reserved=False, customer_wallet=wallet(c), ref=f"0x{n:064x}",
                    nonce=str(n), deadline=0, signature=b"", status="burned",
                ))  # fmt: skip
        session.commit()
        reds = list(session.scalars(select(Redemption)))
        erased = {erased_customer, *session.scalars(select(Member.customer_id).where(Member.erased_at.is_not(None)))}
        assert erased >= set(ERASED)
        baskets: dict[int, set[int]] = defaultdict(set)
        for red in reds:
            c = int(red.customer_wallet[2:], 16)
            if red.status != "failed" and c not in erased:
                baskets[c].add(int(red.reward_id))  # type: ignore[arg-type]
        n_, co = counts(baskets.values())
        offered = set(ids) - {ids[10], ids[11]}
        checked = 0
        for c in range(1, 61, 3):
            if c in erased:
                continue
            mine = {int(r.reward_id) for r in reds if r.customer_wallet == wallet(c) and r.status != "failed"}  # type: ignore[arg-type]
            want = recommend(mine, n_, co, k=4, offered=offered)
            got = recommendations.for_wallet(session, wallet=wallet(c), k=4)
            assert [(g.reward_id, round(g.score, 9)) for g in got] == [(w.reward_id, round(w.score, 9)) for w in want]
            assert not {g.reward_id for g in got} & (mine | {ids[10], ids[11]})
            checked += len(got)
        assert checked > 20
        # a customer who redeemed only reward 0: reward 5 is suggested only from non-erased members
        lonely = wallet(max(set(range(61, MEMBERS + 1)) - erased))
        session.add(Redemption(
            partner_id=1, redemption_id="lonely", request_hash="0" * 64, reward_id=ids[0], sku="s", quantity=1,
            points=100, stock_reserved=False, customer_wallet=lonely, ref="0x" + "f" * 64, nonce="1", deadline=0,
            signature=b"", status="burned",
        ))  # fmt: skip
        session.flush()
        got = {g.reward_id: g.score for g in recommendations.for_wallet(session, wallet=lonely, k=20)}
        n0 = n_.get(ids[0], 0) + 1
        together = sum(1 for b in baskets.values() if ids[0] in b and ids[5] in b)
        expected = together / math.sqrt(n0 * n_[ids[5]]) if together else None
        assert got.get(ids[5]) == (pytest.approx(expected) if expected else None)
        session.rollback()
