"""The customer page's new parts (issue 16 item 6): the view functions of
gateway/services/customer_views.py (the tier and its progress, each purchase's breakdown, the
points promised, the customer's data), and the page's routes that need no chain (gateway/routes/
me.py: ``/me/data``, ``/me/erasure``, ``/me/erased``, ``/me/enrolment``) in process on a migrated
SQLite store. The whole page on the real stack: tests/e2e/test_me_pages_e2e.py; in Chromium:
tests/browser/test_me_browser.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import customer_records, wallet_auth
from gateway.services.churn_views import recommended_section
from gateway.services.customer_views import (
    CustomerView,
    TokenView,
    breakdown_facts,
    customer_page,
    data_section,
    erased_page,
    offers_note,
    tier_section,
)
from gateway.services.history import EntryDetail
from gateway.services.points_value import cards
from gateway.services.recommendations import Recommended
from gateway.services.tiers import MemberTier
from gateway.settings import GatewaySettings
from loyalty.tier_progress import Progress
from network.store import CustomerErasure, CustomerProfile, CustomerSession, LedgerEntry, Member
from tests.problems import assert_problem
from tests.wallets import sign

REVIEW = datetime(2027, 3, 1, tzinfo=UTC)
DECIDED = datetime(2027, 3, 31, tzinfo=UTC)


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([^"]+)" data-value="([^"]*)"', html))


def member_tier(**kw: object) -> MemberTier:
    fields: dict[str, object] = {
        "at": datetime(2026, 12, 5, tzinfo=UTC),
        "tier": "Silver",
        "earned": "Silver",
        "qualifying_points": 150,
        "next_tier": "Gold",
        "points_to_next": 50,
        "review_at": REVIEW,
        "decided_at": DECIDED,
        "points_to_keep": 30,
        "leaving": (),
        "points_leaving": 20,
        "manual_until": None,
    }
    fields.update(kw)
    return MemberTier(customer_id=7, progress=Progress(**fields), multiplier=Decimal("1.25"), ladder_version=2)  # type: ignore[arg-type]


def earn(kind: str = "earned") -> LedgerEntry:
    return LedgerEntry(
        id=1, chain_id=1, block_number=5, block_time=1_790_000_000, tx_hash="0x" + "ab" * 32, log_index=0, item=0,
        kind=kind, customer="0x" + "11" * 20, partner_id=1, seq=1, points=88,
    )  # fmt: skip


def view(**kw: object) -> CustomerView:
    fields: dict[str, object] = {
        "wallet": "0x" + "11" * 20,
        "via": "wallet",
        "custodian": None,
        "balance": 110,
        "cards": cards({"earned": 110}),
        "token": TokenView(address="0x" + "22" * 20, symbol="PTS", decimals=0),
        "settlement_symbol": "cUSD",
        "settlement_decimals": 6,
        "worth": None,
        "worth_rates": {},
        "offers": [],
        "cheapest_other": None,
        "entries": [],
        "details": {},
        "partners": ["Grocer"],
        "chain_id": 31337,
        "wallet_rpc_url": None,
        "logo_url": "http://x/static/points-logo.svg",
    }
    fields.update(kw)
    return CustomerView(**fields)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ the tier


def test_the_tier_shows_its_progress_and_what_keeps_it() -> None:
    html = tier_section(member_tier(), "PTS")
    f = figures(html)
    assert (f["tier"], f["tier-multiplier"], f["tier-qualifying"]) == ("Silver", "1.25", "150")
    assert (f["tier-next"], f["tier-to-next"]) == ("Gold", "50")
    assert (f["tier-keep"], f["tier-decided"], f["tier-review"]) == (
        "30",
        "2027-03-31T00:00:00Z",
        "2027-03-01T00:00:00Z",
    )
    assert f["tier-leaving"] == "20"
    assert 'max="200" value="150"' in html  # the bar: 150 of Gold's 200
    assert "To keep Silver" in html and "2027-03-31" in html


def test_the_top_tier_kept_already_the_bottom_tier_and_a_manual_tier_say_so() -> None:
    top = tier_section(
        member_tier(tier="Gold", earned="Gold", next_tier=None, points_to_next=None, points_to_keep=0), "P"
    )
    assert figures(top)["tier-next"] == "" and "The top tier." in top
    assert figures(top)["tier-keep"] == "0" and "you have the points." in top and "<progress" not in top
    bottom = tier_section(
        member_tier(
            tier="Member", earned="Member", review_at=None, decided_at=None, points_to_keep=0, points_leaving=0
        ),
        "P",
    )
    assert "cannot be lost" in bottom and "tier-keep" not in figures(bottom)
    manual = tier_section(member_tier(tier="Gold", manual_until=datetime(2027, 1, 10, tzinfo=UTC)), "P")
    assert figures(manual)["tier-manual-until"] == "2027-01-10T00:00:00Z" and "(Silver) applies" in manual


def test_no_ladder_shows_no_tier_and_the_page_still_renders() -> None:
    assert tier_section(None, "PTS") == ""
    page = customer_page(view())
    assert 'id="tier"' not in page and 'data-figure="balance" data-value="110"' in page
    assert 'id="tier"' in customer_page(view(tier=member_tier()))


# ------------------------------------------------------------------------------ a purchase's breakdown


def test_a_purchase_shows_each_rules_points_and_the_tenders_that_earned_nothing() -> None:
    detail = EntryDetail(
        purchase_id="order-1",
        amount=Decimal("100.00"),
        currency="EUR",
        breakdown=[
            {"rule": "base", "version": 1, "kind": "base", "points": 63},
            {"rule": "wine-x2", "version": 3, "kind": "multiplier", "points": 30},
            {"rule": "monthly-cap", "version": 1, "kind": "cap", "points": -5},
        ],
        rule={"currency": "EUR", "points_per_unit": "1", "rounding": "down", "ruleset_version": 4},
        lines=3,
        paid_with={"points": "5", "gift_cards": "10.5"},
    )
    html = breakdown_facts(0, earn(), detail)
    f = figures(html)
    assert [f[f"history-0-rule-{j}"] for j in range(3)] == ["63", "30", "-5"]
    assert 'data-rule="wine-x2" data-version="3"' in html and "Multiplier" in html and "Cap" in html
    assert (f["history-0-ruleset"], f["history-0-lines"]) == ("4", "3")
    assert (f["history-0-paid-points"], f["history-0-paid-gift-cards"]) == ("5", "10.5")
    assert "5.00 EUR" in html and "10.50 EUR" in html and html.count("earns no points") == 2
    # in the row's details, behind the summary
    row_page = customer_page(view(entries=[(earn(), "Grocer")], details={1: detail}))
    details = row_page[row_page.index("<details>") : row_page.index("</details>")]
    assert 'id="breakdown-0"' in details


def test_a_purchase_by_the_rate_alone_says_so_and_other_movements_have_no_breakdown() -> None:
    by_rate = EntryDetail(
        purchase_id="o-2", amount=Decimal(12), currency="EUR", rule={"currency": "EUR", "points_per_unit": "1.5"}
    )
    html = breakdown_facts(2, earn(), by_rate)
    assert figures(html) == {"history-2-rate": "1.5"} and "the partner's rate" in html
    assert "earns no points" not in html
    assert breakdown_facts(2, earn("reversed"), by_rate) == ""
    assert breakdown_facts(2, earn(), None) == ""


# ------------------------------------------------------------------------------ offers, data


def test_points_held_at_a_till_are_named_next_to_the_offers() -> None:
    assert offers_note(view()) == ""
    f = figures(offers_note(view(promised=40)))
    assert (f["promised"], f["free"]) == ("40", "70")


def test_rewards_you_may_like_follow_the_offers_with_why() -> None:
    assert recommended_section([], "PTS") == "" and 'id="recommended"' not in customer_page(view())
    found = [Recommended(12, 3, "Cinema", "T-2D", "Cinema <ticket>", 1_900, 0.7, ["Popcorn", "Coffee"])]
    page = customer_page(view(recommended_html=recommended_section(found, "PTS")))
    assert page.index('id="offers"') < page.index('id="recommended"') < page.index('id="history-table"')
    f = figures(page)
    assert (f["recommended-count"], f["recommended-0"]) == ("1", "12")
    assert "Cinema &lt;ticket&gt;" in page and "1,900 PTS" in page and "redeemed Popcorn, Coffee took it too" in page


def test_the_data_section_offers_download_erasure_and_enrolment_as_the_session_allows() -> None:
    own = data_section(view(known=True, member=False))
    assert 'href="/me/data"' in own and 'id="erase-confirm"' in own and 'data-word="erase"' in own
    assert 'id="enrol-form"' in own
    member = data_section(view(known=True, member=True))
    assert 'id="erase-submit"' in member and 'id="enrol-form"' not in member
    link = data_section(view(known=True, member=True, via="link", custodian="Pharmacy"))
    assert 'href="/me/data"' in link and 'id="erase-confirm"' not in link and "ask Pharmacy" in link
    nobody = data_section(view(known=False))
    assert 'href="/me/data"' not in nobody and 'id="no-data"' in nobody and 'id="enrol-form"' in nobody


def test_the_erased_page_says_what_went_and_what_stays() -> None:
    html = erased_page({"customer_profiles": 1, "customer_links.ref": 2}, datetime(2026, 12, 5, 8, tzinfo=UTC))
    f = figures(html)
    assert (f["erased-customer_profiles"], f["erased-customer_links.ref"]) == ("1", "2")
    assert "What stays" in html and "ledger" in html
    assert "erased-counts" not in erased_page(None, None)


# ------------------------------------------------------------------------------ the routes


def _signed_in(client: TestClient, settings: GatewaySettings, account: LocalAccount) -> tuple[str, dict[str, str]]:
    challenge = client.post("/v1/auth/challenge", json={"address": account.address}).json()
    token = client.post(
        "/v1/auth/session", json={"message": challenge["message"], "signature": sign(account, challenge["message"])}
    ).json()["token"]
    client.cookies.clear()
    return token, {"Cookie": f"coalition_customer={token}"}


@pytest.fixture
def alice(client: TestClient, settings: GatewaySettings) -> tuple[LocalAccount, str, dict[str, str]]:
    account = Account.create()
    token, cookie = _signed_in(client, settings, account)
    enrolled = client.post(
        "/v1/me/enrolment", json={"email": "alice@example.com"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert enrolled.status_code == 201, enrolled.text
    return account, token, cookie


def test_the_pages_download_is_the_apis_json(
    client: TestClient, alice: tuple[LocalAccount, str, dict[str, str]]
) -> None:
    _, token, cookie = alice
    page = client.get("/me/data", headers=cookie)
    assert page.status_code == 200 and page.headers["content-disposition"] == 'attachment; filename="my-data.json"'
    assert page.json() == client.get("/v1/me/data", headers={"Authorization": f"Bearer {token}"}).json()
    assert page.json()["profile"]["email"] == "alice@example.com"
    assert_problem(client.get("/me/data"), "unauthorized")


def test_the_pages_erasure_asks_for_json_and_the_word_then_erases_and_signs_out(
    client: TestClient, alice: tuple[LocalAccount, str, dict[str, str]], sessions: sessionmaker[Session]
) -> None:
    account, token, cookie = alice
    form = client.post("/me/erasure", content="confirm=erase", headers={**cookie, "Content-Type": "text/plain"})
    assert_problem(form, "unauthorized")  # a cross-site form cannot send JSON
    assert_problem(client.post("/me/erasure", json={"confirm": "yes"}, headers=cookie), "validation-error")
    assert_problem(client.post("/me/erasure", json={"confirm": "erase"}), "unauthorized")
    with sessions() as s:
        assert s.scalar(select(CustomerProfile)) is not None  # nothing erased yet

    done = client.post("/me/erasure", json={"confirm": "erase"}, headers=cookie)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["page"] == "/me/erased" and body["requested_by"] == "customer"
    assert body["erased"]["customer_profiles"] == 1
    assert 'coalition_customer=""' in done.headers["set-cookie"] or "Max-Age=0" in done.headers["set-cookie"]
    erased_cookie = done.cookies["coalition_erased"]
    assert client.get("/v1/me/data", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with sessions() as s:
        assert s.scalar(select(CustomerProfile)) is None
        assert s.scalar(select(CustomerSession).where(CustomerSession.wallet == account.address)) is None
        row = s.scalar(select(CustomerErasure))
        assert row is not None and str(row.id) == erased_cookie
    client.cookies.clear()
    page = client.get("/me/erased", headers={"Cookie": f"coalition_erased={erased_cookie}", "Accept": "text/html"})
    assert page.status_code == 200 and figures(page.text)["erased-customer_profiles"] == "1"
    assert "What stays" in page.text
    assert "erased-counts" not in client.get("/me/erased").text  # without the cookie: what erasure does


def test_a_links_read_only_session_cannot_erase_or_enrol_from_the_page(
    client: TestClient,
    alice: tuple[LocalAccount, str, dict[str, str]],
    sessions: sessionmaker[Session],
    settings: GatewaySettings,
) -> None:
    account, _, _ = alice
    with sessions() as s:
        token, _ = wallet_auth.open_session(s, settings, account.address, via="link")
        s.commit()
    link = {"Cookie": f"coalition_customer={token}"}
    assert client.get("/me/data", headers=link).status_code == 200  # reading is allowed, as on the API
    assert_problem(client.post("/me/erasure", json={"confirm": "erase"}, headers=link), "read-only-session")
    assert_problem(client.post("/me/enrolment", json={}, headers=link), "read-only-session")
    with sessions() as s:
        assert s.scalar(select(CustomerProfile)) is not None and s.scalar(select(CustomerErasure)) is None


def test_a_wallet_joins_the_program_from_the_page(
    client: TestClient, settings: GatewaySettings, sessions: sessionmaker[Session]
) -> None:
    account = Account.create()
    _, cookie = _signed_in(client, settings, account)
    assert_problem(client.post("/me/enrolment", json={"email": "b@"}, headers=cookie), "profile-invalid")
    joined = client.post("/me/enrolment", json={"email": "bob@example.com"}, headers=cookie)
    assert joined.status_code == 201, joined.text
    assert client.post("/me/enrolment", json={"email": "bob@example.com"}, headers=cookie).status_code == 200
    with sessions() as s:
        customer = customer_records.find_by_wallet(s, wallet=account.address)
        assert customer is not None and s.get(Member, customer.id) is not None
