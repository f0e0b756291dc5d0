"""Errors of the chain layer: one root, a subclass per kind of failure."""

from __future__ import annotations


class ChainError(Exception):
    """Root of every error raised by `network`."""


class NodeError(ChainError):
    """The local node could not be started, reached or stopped."""


class ChainMismatchError(ChainError):
    """The node answers with another chain id than the settings name."""


class SigningKeyError(ChainError):
    """A signing key could not be loaded (missing keystore, wrong password, forbidden mode)."""


class TransientRpcError(ChainError):
    """An RPC call failed in a way that a retry may cure (connection, timeout, 5xx).

    The chain handle (``network.node.ChainProvider``) and the gateway's read path
    (``network.eth_calls``) are the places that turn the transport's failures into it: callers
    catch this type, never the transport's own; Celery
    tasks retry on it (``autoretry_for``), never on a revert."""


class SenderLockedError(ChainError):
    """Another process already drives the sender of this signing key."""


def failure_name(exc: BaseException) -> str:
    """The name of the failure behind ``exc`` as an operator reads it: for a TransientRpcError,
    the transport's (``ConnectionError``, ``ReadTimeout``), else the error's own."""
    while isinstance(exc, TransientRpcError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__
