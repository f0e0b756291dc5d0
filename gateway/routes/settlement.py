"""Operator API: settlement periods, statements, reconciliation."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["settlement"])
