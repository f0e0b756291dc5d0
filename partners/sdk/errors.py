"""The SDK's errors: one root, :class:`CoalitionError`, whose every instance carries a problem
(RFC 9457: ``type`` ``/problems/<slug>``, ``title``, ``detail``). Branch on ``slug``: it is stable,
and each one is documented at ``<gateway>/problems/<slug>``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class CoalitionError(Exception):
    """Root of the SDK's errors."""

    def __init__(self, message: str, problem: Mapping[str, Any]) -> None:
        self.problem = dict(problem)
        self.type: str = str(problem.get("type", "about:blank"))
        self.slug = self.type.rsplit("/", 1)[-1]
        self.title: str = str(problem.get("title", ""))
        self.detail: str = str(problem.get("detail", ""))
        super().__init__(message)


class ProblemError(CoalitionError):
    """An ``application/problem+json`` answer: the gateway refused the request (``status`` is
    the HTTP status; a ``validation-error`` lists its ``problem["errors"]``)."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        slug = str(problem.get("type", "about:blank")).rsplit("/", 1)[-1]
        super().__init__(f"{status} {slug}: {problem.get('detail', '')}", problem)


class OperationFailed(CoalitionError):
    """``wait()`` found the purchase, refund or redemption ``failed``: it was accepted, then the
    chain (or the gateway) refused it. ``problem`` is the answer's ``failure`` (e.g. ``slug ==
    "partner-funds-exhausted"``), ``resource`` the whole status answer (a typed result), and
    ``failure_reason`` the raw reason: give it to support."""

    def __init__(self, resource: Any) -> None:
        self.resource = resource
        self.failure_reason: str | None = resource.get("failure_reason")
        problem = resource.get("failure") or {
            "type": "/problems/transaction-refused",  # a gateway from before failures were mapped
            "title": "The operation failed",
            "detail": str(self.failure_reason or "no reason given"),
        }
        super().__init__(f"{resource.get('status_url', '')} failed: {problem.get('detail', '')}", problem)


class WaitTimeout(CoalitionError, TimeoutError):
    """``wait()`` ran out of time; ``resource`` is the last status answer. A held purchase carries
    its ``failure`` (why it waits: ``partner-funds-exhausted``), which becomes this problem."""

    def __init__(self, path: str, resource: Any, timeout_s: float) -> None:
        self.resource = resource
        problem = resource.get("failure") or {"type": "about:blank", "title": "Still in progress", "detail": ""}
        why = f": {problem['detail']}" if problem.get("detail") else ""
        super().__init__(f"{path} is still {resource.get('status')} after {timeout_s} s{why}", problem)
