"""What both clients share: the configuration, retries with backoff, and reading answers."""

from __future__ import annotations

import random
from typing import Any, TypeVar

import httpx

from partners.sdk.calls import SUCCEEDED, Call
from partners.sdk.errors import OperationFailed, ProblemError

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 502, 503, 504})
USER_AGENT = "coalition-partner-sdk/0.2"


class ClientBase:
    """The gateway's URL, the partner's API key, and the retry policy: transport errors, 429
    and 5xx are retried ``retries`` times with exponential backoff (``backoff_s`` doubling up to
    ``cap_s``, with jitter; ``Retry-After`` honoured). Safe: every write carries the partner's
    own id, so a retried write is answered the first answer."""

    def __init__(self, base_url: str, api_key: str, *, retries: int = 5, backoff_s: float = 0.2, cap_s: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}
        self.retries = retries
        self.backoff_s = backoff_s
        self.cap_s = cap_s

    def _retry(self, attempt: int, response: httpx.Response | None) -> bool:
        """Whether to try again: a transport error (``response`` None), a 429 or a 5xx, while attempts remain."""
        if attempt >= self.retries:
            return False
        return response is None or response.status_code in RETRY_STATUSES or response.status_code >= 500

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and (after := response.headers.get("Retry-After")):
            try:
                return min(float(after), self.cap_s)
            except ValueError:
                pass
        return min(self.cap_s, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)


def read(call: Call[T], response: httpx.Response) -> T:
    """The call's typed result, or :class:`ProblemError` for a problem answer."""
    if not response.is_success:
        try:
            body = response.json()
        except ValueError:
            body = {"type": "about:blank", "detail": response.text[:200]}
        raise ProblemError(response.status_code, body)
    if call.text:
        return call.parse(response.text)
    return call.parse(response.json() if response.content else None)


def settled(resource: Any) -> bool:
    """Whether a status answer is final and succeeded; raises :class:`OperationFailed` if it failed."""
    if resource["status"] == "failed":
        raise OperationFailed(resource)
    return resource["status"] in SUCCEEDED
