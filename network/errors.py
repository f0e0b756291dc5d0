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
    """An RPC call failed in a way that a retry may cure (connection, timeout, 5xx)."""


class SenderLockedError(ChainError):
    """Another process already drives the sender of this signing key."""
