"""Partner API: rewards catalogue and redemptions (burn, voucher, webhook)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["redemptions"])
