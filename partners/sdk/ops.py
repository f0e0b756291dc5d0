"""Turning a call builder of calls.py into a client method, typed for each client: the sync
method returns the builder's result type, the async one an awaitable of it."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from partners.sdk.calls import Call

P = ParamSpec("P")
T = TypeVar("T")
C = TypeVar("C")


class Runs(Protocol):
    def run(self, call: Call[Any], /) -> Any: ...


def _like(method: Callable[..., Any], build: Callable[..., Any], returns: str) -> None:
    """The method shows the builder's name, doc and parameters (after ``self``), and returns
    what the builder's call reads (``returns`` wraps it: ``{}`` or ``Awaitable[{}]``)."""
    signature = inspect.signature(build)
    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    result = str(signature.return_annotation).removeprefix("Call[").removesuffix("]")
    method.__name__ = method.__qualname__ = build.__name__
    method.__doc__ = build.__doc__
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[this, *signature.parameters.values()], return_annotation=returns.format(result)
    )
    method.__builder__ = build  # type: ignore[attr-defined]


def sync_op(build: Callable[P, Call[T]]) -> Callable[Concatenate[Any, P], T]:
    def method(self: Runs, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.run(build(*args, **kwargs))  # type: ignore[no-any-return]

    _like(method, build, "{}")
    return method


def async_op(build: Callable[P, Call[T]]) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
    async def method(self: Runs, /, *args: P.args, **kwargs: P.kwargs) -> T:
        awaitable: Awaitable[T] = self.run(build(*args, **kwargs))
        return await awaitable

    _like(method, build, "Awaitable[{}]")
    return method
