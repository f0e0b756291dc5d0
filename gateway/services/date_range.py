"""A range of business days as the dashboard's chart and the operator's liability report take it:
at most ``MAX_DAYS`` days, ``DEFAULT_DAYS`` when a client gives no bound."""

from __future__ import annotations

from datetime import date

DEFAULT_DAYS = 30
MAX_DAYS = 366


class RangeError(ValueError):
    """A date range that cannot be drawn or reported (reversed, or longer than ``MAX_DAYS``)."""


def check_range(start: date, end: date) -> None:
    if end < start:
        raise RangeError(f"the range ends ({end}) before it starts ({start})")
    if (end - start).days + 1 > MAX_DAYS:
        raise RangeError(f"the range is {(end - start).days + 1} days long; at most {MAX_DAYS} are drawn")
