"""The customer page's referral and achievements panels (``/me``): the member's code with its share
link, and each badge with its progress (gateway/services/referrals.py, achievements.py)."""

from __future__ import annotations

from gateway.services.achievements import AWARDED, REVOKED, MyAchievement
from gateway.services.customer_views import day, e, iso_of
from gateway.services.referrals import MyReferrals


def referral_section(r: MyReferrals) -> str:
    """The code to share and its link; nothing for a member without a code (erased)."""
    if r.code is None:
        return ""
    link = e(r.share_url or "")
    return (
        '<section class="c-panel" id="referral"><div class="c-panel-head"><h2>Invite a friend</h2>'
        '<span class="c-muted">you both earn once their first purchase can no longer be refunded</span></div>'
        f'<p>Your code: <strong class="mono" data-figure="referral-code" data-value="{e(r.code)}">{e(r.code)}</strong>'
        f' · <a href="{link}" id="referral-link" data-figure="referral-link" data-value="{link}">share link</a></p>'
        f'<p class="c-note">Friends who joined with it: <span data-figure="referrals-pending" data-value="{r.pending}">'
        f'{r.pending}</span> waiting, <span data-figure="referrals-qualified" data-value="{r.qualified}">'
        f'{r.qualified}</span> rewarded (<span data-figure="referral-points" data-value="{r.points_earned}">'
        f"{r.points_earned:,}</span> points for you).</p></section>"
    )


def _badge(i: int, a: MyAchievement) -> str:
    p = a.progress
    if a.status == AWARDED and a.awarded_at is not None:
        state = f'earned on <time datetime="{iso_of(a.awarded_at)}">{day(a.awarded_at)}</time>'
    elif a.status == REVOKED:
        state = "taken back after a refund"
    else:
        state = f"{p.value} of {p.target}"
    return (
        f'<li class="c-badge" data-figure="achievement-{e(a.slug)}" data-value="{e(a.status or "")}">'
        f'<strong>{e(a.name)}</strong> <span class="c-muted">{e(a.description)}</span> '
        f'<progress max="{p.target}" value="{p.value}" data-figure="achievement-{e(a.slug)}-progress" '
        f'data-value="{p.value}">{p.value} / {p.target}</progress> <span class="c-note">{state}</span></li>'
    )


def achievements_section(badges: list[MyAchievement]) -> str:
    """Each badge, its progress and whether it is held; nothing when the program has none."""
    if not badges:
        return ""
    items = "".join(_badge(i, a) for i, a in enumerate(badges))
    return (
        '<section class="c-panel" id="achievements"><div class="c-panel-head"><h2>Your badges</h2>'
        '<span class="c-muted">from your purchases at every partner, net of refunds</span></div>'
        f'<ul class="c-badges">{items}</ul></section>'
    )
