"""Partner API: refunds of purchases claw back their points."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["refunds"])
