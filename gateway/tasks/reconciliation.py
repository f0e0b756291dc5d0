"""Reconciliation of the store against the chain."""

from __future__ import annotations
