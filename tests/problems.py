"""``assert_problem``: an answer is one of the catalogue's problems, as problem+json.

One check for every test, in process (``TestClient``) or against a real gateway (``httpx``): the
status, type, title and status member of the catalogue ``PROBLEMS``, a detail that says something,
and ``WWW-Authenticate: Bearer`` on a 401.
"""

from __future__ import annotations

from typing import Any

import httpx

from gateway.problem_types import PROBLEMS
from gateway.problems import PROBLEM_JSON


def assert_problem(response: httpx.Response, slug: str, *, instance: str | None = None) -> dict[str, Any]:
    """``response`` is the problem ``slug`` of the catalogue, as problem+json; returns its body."""
    status, title = PROBLEMS[slug]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body = response.json()
    assert body["type"] == f"/problems/{slug}", body
    assert body["title"] == title, body
    assert body["status"] == status, body
    assert isinstance(body["detail"], str) and body["detail"], body
    if instance is not None:
        assert body["instance"] == instance, body
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    return body
