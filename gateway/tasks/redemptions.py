"""Reward redemption: burn the points, then fulfil (voucher), then notify."""

from __future__ import annotations
