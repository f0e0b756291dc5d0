"""Partner API: webhook endpoints and their deliveries."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["webhooks"])
