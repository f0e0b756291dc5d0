"""The settings of the app serving a request: ``get_settings``, or the tests' override of it.

The HTTP side of gateway/settings.py, apart so that workers, which read the settings too, load
nothing of the web framework.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from gateway.settings import GatewaySettings, get_settings


def settings_of(request: Request) -> GatewaySettings:
    """The settings of the app serving ``request``: ``get_settings``, or its override (the
    tests'). Also called directly by the hot routes, which skip FastAPI's solving of one more
    dependency (it costs more than the lookup)."""
    return settings_of_app(request.app)


async def settings_dependency(request: Request) -> GatewaySettings:
    """``get_settings`` as a route dependency, resolved on the event loop: FastAPI runs a sync
    dependency in a worker thread, a hop that costs more than the whole lookup."""
    return settings_of(request)


def settings_of_app(app: Any) -> GatewaySettings:
    """``settings_of`` for code that holds the app but no Request (the ASGI guard, the check it
    runs before a body is read): building a Request costs more than the lookup."""
    override = app.dependency_overrides.get(get_settings)
    return override() if override is not None else get_settings()
