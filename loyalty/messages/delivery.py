"""What a channel's answer means for a message, and when to try again. Pure.

An answer is ``sent`` (accepted: the provider's reference kept), ``retry`` (transient: a 4xx SMTP
reply, a connection lost or refused, a timeout, an HTTP 5xx or 429: queued again after a backoff
until the attempts run out, then ``failed``) or ``permanent`` (a 5xx SMTP reply to RCPT or DATA,
an HTTP 4xx such as a number the provider refuses: ``bounced`` and, when the address itself is
bad, suppressed for the channel: ``hard_bounce``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["sent", "retry", "permanent"]


@dataclass(frozen=True)
class Outcome:
    """What one send attempt of one message came to."""

    verdict: Verdict
    detail: str  # the server's reply or the provider's answer, for the message's log
    provider_ref: str | None = None  # sent: the provider's id (SMTP: the Message-ID)
    hard_bounce: bool = False  # permanent and the address is bad: suppress it for the channel


def smtp_outcome(code: int, reply: str, *, stage: str) -> Outcome:
    """A refusal of the SMTP server at ``stage`` (``rcpt``, ``data``, ``mail``)."""
    detail = f"{stage} {code} {reply}"[:255]
    if 500 <= code < 600:
        # 5.1.x (bad mailbox / address) at RCPT is the classic hard bounce; 5xx elsewhere is permanent too
        return Outcome("permanent", detail, hard_bounce=stage == "rcpt" or code in (550, 551, 553))
    return Outcome("retry", detail)


def http_outcome(status: int, detail: str) -> Outcome:
    """A provider's non-2xx HTTP answer."""
    if status == 429 or status >= 500:
        return Outcome("retry", f"http {status} {detail}"[:255])
    return Outcome("permanent", f"http {status} {detail}"[:255], hard_bounce=status in (400, 404, 422))


def backoff_s(attempts: int, *, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Wait before attempt ``attempts + 1``: base x 2^(attempts-1), capped, with "equal jitter"
    (a uniform draw in its upper half) so that many messages' retries do not come in step."""
    delay = min(cap_s, base_s * 2 ** max(attempts - 1, 0))
    return (rng or random).uniform(delay / 2, delay)
