"""One drain of a partner's outbox: its minter key's sender run for a time budget.

The Celery task (gateway/tasks/earn.py ``drain_partner``) builds the sender and calls
:func:`drain`, which starts it (taking the key's lease), steps it until the budget is spent or
nothing is left, and stops it (handing the lease back). A step that sent or confirmed nothing
is followed by a short sleep that doubles up to ``IDLE_MAX_S`` (waiting for a batch to fill or
a receipt costs ~1 ms of CPU per step); a node that cannot be reached is retried after
``UNREACHABLE_WAIT_S``. The caller learns whether work is left, and enqueues a successor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from network.errors import TransientRpcError
from network.locks import SenderLockedError
from network.sender import EarnSender

log = logging.getLogger(__name__)
IDLE_FIRST_S, IDLE_MAX_S = 0.01, 0.08  # a drain with nothing to do backs off between steps, up to this
UNREACHABLE_WAIT_S = 0.5


@dataclass(frozen=True)
class Drained:
    """What one drain did: ``result`` is ``drained``, ``busy`` (another worker holds the key's
    lease) or ``lost the key's lease`` (it expired mid-step: whoever holds it now drives)."""

    result: str
    steps: int = 0
    sent_items: int = 0
    confirmed_txs: int = 0

    def report(self, partner_id: int) -> dict[str, int | str]:
        if self.result == "busy":
            return {"partner": partner_id, "result": self.result}
        return {
            "partner": partner_id,
            "result": self.result,
            "steps": self.steps,
            "sent_items": self.sent_items,
            "confirmed_txs": self.confirmed_txs,
        }


def drain(sender: EarnSender, *, budget_s: float, batch_max_wait_s: float, has_work: Callable[[], bool]) -> Drained:
    """Runs ``sender`` for up to ``budget_s`` (see the module doc); ``has_work()`` says whether
    the partner has anything left to send or confirm."""
    try:
        sender.start()
    except SenderLockedError:
        return Drained("busy")  # another worker drives this key right now
    sent = confirmed = steps = 0
    idle_s = IDLE_FIRST_S
    deadline = time.monotonic() + budget_s
    try:
        while time.monotonic() < deadline:
            try:
                report = sender.step()
            except SenderLockedError as exc:
                log.warning("partner %s: %s", sender.partner_id, exc)
                return Drained("lost the key's lease", steps, sent, confirmed)
            except TransientRpcError as exc:
                log.warning("partner %s: node unreachable, retrying: %s", sender.partner_id, exc)
                time.sleep(UNREACHABLE_WAIT_S)
                continue
            steps += 1
            sent += report.sent_items
            confirmed += report.confirmed_txs
            if report.sent_txs or report.confirmed_txs:
                idle_s = IDLE_FIRST_S
                continue
            if not has_work():
                break
            time.sleep(idle_s)
            idle_s = min(idle_s * 2, IDLE_MAX_S, max(batch_max_wait_s / 4, IDLE_FIRST_S))
    finally:
        sender.stop()
    return Drained("drained", steps, sent, confirmed)
