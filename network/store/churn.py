"""Churn risk (migration 0030 churn): the models trained (loyalty/churn.py's logistic regression) and
each member's latest score.

:class:`ChurnModel` is one training: on the members' history before ``cutoff`` with the label "no
counted purchase in the ``churn_days`` that follow", validated on the later cut-off
``validation_cutoff`` (``cutoff + churn_days``: the held-out period starts where the training
labels end), its AUC there, the features' means and scales and the coefficients. One model per
(cut-off, churn days): a second training of the same cut-off is refused by the key.

:class:`ChurnScore` holds each member's risk under the latest model as of the end of ``day`` (UTC)
with the raw feature values it was computed from (so a score's explanation is exactly the score's),
replaced whole, in one transaction, by each day's scoring.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, Float, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from network.store.base import Base, UTCDateTime, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")


class ChurnModel(Base):
    """A trained churn model and its validation."""

    __tablename__ = "churn_models"
    __table_args__ = (UniqueConstraint("cutoff", "churn_days", name="uq_churn_models_cutoff_days"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime())
    validation_cutoff: Mapped[datetime] = mapped_column(UTCDateTime())
    churn_days: Mapped[int] = mapped_column(Integer)
    features: Mapped[list] = mapped_column(JSON)
    means: Mapped[list] = mapped_column(JSON)
    scales: Mapped[list] = mapped_column(JSON)
    intercept: Mapped[float] = mapped_column(Float)
    coefficients: Mapped[list] = mapped_column(JSON)
    n_train: Mapped[int] = mapped_column(Integer)
    churned_train: Mapped[int] = mapped_column(Integer)
    n_validation: Mapped[int] = mapped_column(Integer)
    churned_validation: Mapped[int] = mapped_column(Integer)
    auc: Mapped[float | None] = mapped_column(Float)  # None: the validation period lacks a class
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seconds: Mapped[float] = mapped_column(Float)
    scored_day: Mapped[date | None] = mapped_column(Date)  # the last day scored with this model


class ChurnScore(Base):
    """A member's churn risk as of the end of ``day`` under model ``model_id``; ``values``: the raw
    feature values (loyalty/churn.py ``raw``) in the model's order."""

    __tablename__ = "churn_scores"
    __table_args__ = (Index("ix_churn_scores_risk", "risk"),)

    customer_id: Mapped[int] = mapped_column(_ID, primary_key=True)
    model_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    risk: Mapped[float] = mapped_column(Float)
    values: Mapped[list] = mapped_column(JSON)
