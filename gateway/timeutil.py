"""Datetimes in answers are UTC and carry their offset (SQLite hands them back naive)."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_instant(value: datetime) -> datetime:
    """An instant given by a client, in UTC (a naive one is read as UTC). ValueError, not
    OverflowError, when UTC cannot hold it: 9999-12-31T23:59:59-23:59 is in year 10000 there."""
    try:
        return as_utc(value)
    except OverflowError:
        raise ValueError("is outside the years 1 to 9999 once in UTC") from None
