"""The "My plans" section of the customer page ``/me`` (gateway/routes/me.py): each subscription's
plan, status, next renewal (or until when its benefits hold) and perks, with a cancel button for a
wallet's session (a form POST to ``/me/memberships/{id}/cancel``, as POST
/v1/me/memberships/{id}/cancel). Pure HTML from what the services read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gateway.services.customer_views import e
from loyalty.memberships import Plan
from network.store import MembershipSubscription

STATUS_TEXT = {
    "trialing": "free trial",
    "active": "active",
    "past_due": "payment due: benefits held during the grace",
    "lapsed": "ended",
}


def _day(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d")


def membership_section(rows: Sequence[MembershipSubscription], plans: dict[int, Plan], *, writable: bool) -> str:
    """The section; empty when the customer never subscribed."""
    if not rows:
        return ""
    items = []
    for row in rows:
        plan = plans.get(row.plan_id)
        name = e(plan.name if plan else f"plan {row.plan_id}")
        status = "cancelled: ends at the period's end" if row.cancel_at_period_end else STATUS_TEXT[row.status]
        if row.status == "lapsed":
            when = f"ended {_day(row.ended_at)}"
        elif row.cancel_at_period_end:
            when = f"benefits until {_day(row.period_end)}"
        else:
            when = f'next renewal <span data-figure="membership-renewal">{_day(row.period_end)}</span>'
        perks = ", ".join(p.replace("_", " ") for p in plan.perks) if plan else ""
        price = f"{plan.price} {plan.currency} / {'month' if plan.period == 'monthly' else 'year'}" if plan else ""
        cancel = ""
        if writable and row.status != "lapsed" and not row.cancel_at_period_end:
            cancel = (
                f'<form method="post" action="/me/memberships/{row.id}/cancel" class="c-inline">'
                '<button type="submit">Cancel at the period\'s end</button></form>'
            )
        items.append(
            f'<li data-subscription="{row.id}" data-status="{e(row.status)}"><strong>{name}</strong> '
            f'<span class="c-muted">· {e(price)} · {e(status)} · {when}</span>'
            + (f'<br><span class="c-small">Perks: {e(perks)}</span>' if perks else "")
            + cancel
            + "</li>"
        )
    return '<section class="c-memberships"><h3>My plans</h3><ul>' + "".join(items) + "</ul></section>"
