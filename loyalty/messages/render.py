"""How a message reads: its subject, plain text and HTML in the customer's language.

INTERFACE (issue 18): :func:`render` is what the sender calls; helper ``templates18`` replaces
this module's body with sandboxed Jinja2 templates per kind, channel and locale (en, pl, cs, ru,
falling back to English), partners' overrides and brands. Until then it renders English only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Brand:
    """Whose message it is, as the templates show it (a partner's name and colours, or the coalition's)."""

    name: str = "Coalition"
    colour: str = "#1f5fbf"
    accent: str = "#f2a900"


@dataclass(frozen=True)
class Override:
    """A partner's own template of one kind, channel and locale (Jinja2 sources)."""

    subject: str | None
    text: str
    html: str | None = None


@dataclass(frozen=True)
class Rendered:
    """A message ready for its channel: ``subject`` (email; push: the title), ``text``, ``html`` (email)."""

    subject: str | None
    text: str
    html: str | None
    locale: str  # the locale the text is in (after the fallback)


def render(
    kind: str,
    channel: str,
    locale: str | None,
    data: Mapping[str, Any],
    *,
    brand: Brand = Brand(),
    override: Override | None = None,
) -> Rendered:
    """The message of ``kind`` for ``channel`` in ``locale`` (or its fallback) with ``data``."""
    text = f"{brand.name}: {kind.replace('_', ' ')}. " + ", ".join(f"{k}={v}" for k, v in sorted(data.items()))
    subject = f"{brand.name}: {kind.replace('_', ' ')}" if channel in ("email", "push") else None
    return Rendered(subject=subject, text=text, html=None if channel != "email" else f"<p>{text}</p>", locale="en")
