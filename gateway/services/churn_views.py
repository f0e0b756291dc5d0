"""HTML of churn risk on the operator's member page and of "rewards you may like" on the customer's
``/me`` (the figures of GET /v1/operator/members/{id}/churn and GET /v1/me/recommendations)."""

from __future__ import annotations

from gateway.services.churn import MemberChurn
from gateway.services.dashboard_html import e, figure, table
from gateway.services.recommendations import Recommended

TOP = 3


def churn_panel(seen: MemberChurn | None) -> str:
    """The member's risk, the model's AUC and training date, and the features that drive the score."""
    if seen is None:
        return ('<p class="muted" id="churn-none">No churn score: the member never bought, was enrolled after '
                "the last scoring, or no model is trained yet.</p>")  # fmt: skip
    m = seen.model
    auc = "n/a" if m.auc is None else f"{m.auc:.3f}"
    facts = (
        '<dl class="facts" id="churn">'
        "<dt>Churn risk</dt>" + figure("churn-risk", f"{seen.risk:.6f}", f"{seen.risk:.0%}", "dd", "")
        + f"<dt>As of</dt><dd>the end of {e(seen.day.isoformat())} (UTC)</dd>"
        "<dt>Model AUC</dt>" + figure("churn-auc", "" if m.auc is None else f"{m.auc:.6f}", auc, "dd", "")
        + f"<dt>Trained</dt><dd data-figure=\"churn-trained\" data-value=\"{e(m.trained_at.isoformat())}\">"
        f"{e(m.trained_at.strftime('%Y-%m-%d %H:%M'))} UTC on the cut-off {e(m.cutoff.date().isoformat())}, "
        f"validated on {e(m.validation_cutoff.date().isoformat())} ({m.n_validation} members, "
        f"{m.churned_validation} churned within {m.churn_days} days)</dd></dl>"
    )  # fmt: skip
    rows = [
        f'<tr data-feature="{e(c.feature)}"><td>{e(c.description)}</td>'
        + figure(f"churn-value-{c.feature}", f"{c.value:.6f}", f"{c.value:.2f}")
        + figure(f"churn-coef-{c.feature}", f"{c.coefficient:.6f}", f"{c.coefficient:+.2f}")
        + figure(f"churn-term-{c.feature}", f"{c.contribution:.6f}", f"{c.contribution:+.2f}")
        + f"<td>{'raises' if c.contribution > 0 else 'lowers'} the risk</td></tr>"
        for c in seen.contributions[:TOP]
    ]
    return facts + table(
        ["Feature", "#Value", "#Coefficient", "#Term (log-odds)", "Effect"], rows, table_id="churn-top",
        empty="No feature.",
    )  # fmt: skip


def recommended_section(found: list[Recommended], symbol: str) -> str:
    """The customer page's "rewards you may like"; nothing without a suggestion."""
    if not found:
        return ""
    items = "".join(
        f'<li data-figure="recommended-{i}" data-value="{r.reward_id}"><span class="c-offer-name">{e(r.name)}</span>'
        f'<span class="c-muted">{e(r.partner)} · members who redeemed {e(", ".join(r.because))} took it too</span>'
        f'<span class="c-offer-points">{r.points:,} {e(symbol)}</span></li>'
        for i, r in enumerate(found)
    )
    return (
        '<section class="c-panel" id="recommended"><div class="c-panel-head"><h2>Rewards you may like</h2>'
        '<span class="c-muted">what members who redeemed the same rewards as you redeemed</span></div>'
        f'<ul class="c-offers" data-figure="recommended-count" data-value="{len(found)}">{items}</ul></section>'
    )
