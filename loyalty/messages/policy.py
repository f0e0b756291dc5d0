"""When and whether a planned message goes out (pure: the clock is the caller's ``now``).

- **Frequency caps** (:class:`Cap`): at most ``limit`` marketing messages per customer in a rolling
  ``window``, across every partner and channel (one occurrence on three channels is one message).
  Transactional messages ignore caps.
- **Quiet hours** (:class:`QuietHours`, :func:`quiet_until`): a marketing message planned while it
  is between ``start`` and ``end`` (wall-clock times, possibly across midnight) in the customer's
  IANA time zone waits until the end: the instant the customer's clock next reads ``end``, found
  on the calendar (never ``now`` plus a duration), so that it is right across a DST change.
  Transactional messages ignore quiet hours (loyalty/messages/kinds.py).
- **Locale** (:func:`choose_locale`): the customer's, else the partner's default, else the
  coalition's.
- **The decision** (:func:`decide`) puts them together with the consent rule's answer
  (loyalty/messages/consent.py ``refusal``) and a suppressed address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# reasons of a suppressed message (``messages.reason``) besides the consent rule's
# ("opted-out", "no-consent", "unconfirmed")
SUPPRESSED_ADDRESS = "suppressed-address"
FREQUENCY_CAP = "frequency-cap"
# kinds that need no consent check: the email confirmation asks for the consent itself
CONSENT_EXEMPT = frozenset({"email_confirmation"})


def parse_hhmm(text: str) -> time:
    """``"21:00"`` -> 21:00; ValueError unless HH:MM with 00 <= HH <= 23, 00 <= MM <= 59."""
    hours, sep, minutes = text.strip().partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"expected a time as HH:MM, got {text!r}")
    return time(int(hours), int(minutes))


def zone_of(name: str | None, default: str) -> ZoneInfo:
    """The customer's zone ``name``, or ``default`` when they have none (or an unknown one)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(default)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Wall-clock times; ``start == end`` means no quiet hours. ``start`` is in, ``end`` is out."""

    start: time
    end: time

    @classmethod
    def of(cls, start: str, end: str) -> QuietHours:
        return cls(parse_hhmm(start), parse_hhmm(end))

    def holds(self, wall: time) -> bool:
        """Whether the wall-clock time ``wall`` is inside the quiet hours."""
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end  # across midnight


def quiet_until(now: datetime, zone: ZoneInfo, quiet: QuietHours) -> datetime | None:
    """None when ``now`` is outside the quiet hours in ``zone``; else the instant (UTC) they end:
    the first instant after ``now`` at which the clock in ``zone`` reads ``quiet.end``. An end
    that falls in a DST gap ends when the clock jumps past it (02:30 on a spring-forward night is
    03:30 summer time); one that occurs twice (autumn) ends at its first occurrence after ``now``."""
    local = now.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    if not quiet.holds(wall):
        return None
    day = local.date()
    if quiet.start > quiet.end and wall >= quiet.start:
        day += timedelta(days=1)  # held in the evening: the end is tomorrow morning
    candidates = [datetime.combine(day, quiet.end, tzinfo=zone).replace(fold=f).astimezone(UTC) for f in (0, 1)]
    # after now, and read back on the clock outside the quiet hours (in a gap, one reading of
    # the end maps to an instant before the change, when the clock still read the quiet hours)
    ended = [c for c in candidates if c > now and not quiet.holds(c.astimezone(zone).time().replace(tzinfo=None))]
    return min(ended) if ended else max(candidates)


@dataclass(frozen=True, slots=True)
class Cap:
    """At most ``limit`` marketing messages per customer in any ``window``."""

    limit: int
    window: timedelta

    def since(self, now: datetime) -> datetime:
        """The start of the window that ends at ``now``."""
        return now - self.window

    def reached(self, sent: int) -> bool:
        """Whether a customer with ``sent`` marketing messages in the window may get no more."""
        return sent >= self.limit


def choose_locale(profile: str | None, partner: str | None, default: str) -> str:
    """The customer's locale, else the partner's default, else the coalition's."""
    return profile or partner or default


def local_day(at: datetime, zone: ZoneInfo) -> date:
    """The calendar day ``at`` falls on in ``zone``."""
    return at.astimezone(zone).date()


def day_ended(day: date, now: datetime, zone: ZoneInfo, *, settle: timedelta = timedelta(0)) -> bool:
    """Whether ``day`` (in ``zone``) ended at least ``settle`` before ``now``."""
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return now >= midnight + settle


@dataclass(frozen=True, slots=True)
class Decision:
    """``status`` queued or suppressed; ``reason`` of a suppression; ``send_after`` of a queued one;
    ``detail`` for the message's log."""

    status: str
    reason: str | None
    send_after: datetime
    detail: str


def decide(
    *,
    kind: str,
    category: str,
    refusal: str | None,
    suppressed: str | None,
    capped: bool,
    now: datetime,
    zone: ZoneInfo,
    quiet: QuietHours,
) -> Decision:
    """What becomes of one message planned at ``now``: ``refusal`` is the consent rule's answer
    for its channel and partner, ``suppressed`` the reason its address is suppressed (a hard
    bounce, a complaint, a STOP) if it is, ``capped`` whether the customer's marketing cap is
    reached. In that order: consent, suppressed address, cap (marketing), quiet hours
    (marketing)."""
    if refusal is not None and kind not in CONSENT_EXEMPT:
        return Decision("suppressed", refusal, now, f"not sent: {refusal}")
    if suppressed is not None:
        return Decision("suppressed", SUPPRESSED_ADDRESS, now, f"not sent: the address is suppressed ({suppressed})")
    if category == "marketing":
        if capped:
            return Decision("suppressed", FREQUENCY_CAP, now, "not sent: the customer's marketing cap is reached")
        until = quiet_until(now, zone, quiet)
        if until is not None:
            return Decision("queued", None, until, f"held by quiet hours until {until.isoformat()}")
    return Decision("queued", None, now, "queued")
