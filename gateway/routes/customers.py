"""Customer API (wallet sign-in, balance, history) and the partner's customer links and custodial wallets."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["customers"])
