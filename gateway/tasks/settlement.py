"""Settlement of periods between partners, from the indexed events."""

from __future__ import annotations
