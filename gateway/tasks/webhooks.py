"""Webhook delivery with backoff."""

from __future__ import annotations
