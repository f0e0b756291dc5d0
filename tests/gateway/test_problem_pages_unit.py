"""Every problem ``type`` is a link that answers: ``/problems/<slug>`` tells what the problem
means and how to fix it (HTML, or JSON on ``Accept: application/json``), for every slug of the
catalogue; and a validation problem's ``detail`` names each field with its reason, not only
the field."""

from __future__ import annotations

import re
from html import unescape

import pytest

from gateway.problem_types import PROBLEM_HELP, PROBLEMS
from tests.gateway.purchases import WALLET, purchase_body
from tests.problems import assert_problem


def test_every_problem_type_has_its_help():
    assert set(PROBLEM_HELP) == set(PROBLEMS), "add an (example detail, how to fix) for each new problem type"
    for slug, (example, fix) in PROBLEM_HELP.items():
        assert example.strip() and fix.strip().endswith("."), slug


@pytest.mark.parametrize("slug", sorted(PROBLEMS))
def test_every_problem_type_has_a_page(client, slug):
    status, title = PROBLEMS[slug]
    example, fix = PROBLEM_HELP[slug]
    page = client.get(f"/problems/{slug}", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    shown = " ".join(unescape(re.sub(r"<[^>]+>", "", page.text)).split())  # the text a person reads
    for text in (title, fix.replace("`", ""), f"/problems/{slug}", f"HTTP status {status}"):
        assert text in shown, text
    as_json = client.get(f"/problems/{slug}", headers={"Accept": "application/json"})
    assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
    assert as_json.json() == {
        "type": f"/problems/{slug}",
        "slug": slug,
        "status": status,
        "title": title,
        "example_detail": example,
        "how_to_fix": fix,
    }


def test_the_index_links_every_problem_type(client):
    page = client.get("/problems")
    assert page.status_code == 200
    for slug in PROBLEMS:
        assert f'href="/problems/{slug}"' in page.text
    assert [p["slug"] for p in client.get("/problems", headers={"Accept": "application/json"}).json()["problems"]] == (
        list(PROBLEMS)
    )


def test_an_unknown_problem_type_is_a_404_problem(client):
    assert_problem(client.get("/problems/no-such-thing"), "not-found")


def test_the_type_of_a_real_answer_links_to_its_page(client, partner):
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body(amount="0"))
    body = assert_problem(r, "validation-error")
    page = client.get(body["type"])
    assert page.status_code == 200 and PROBLEM_HELP["validation-error"][1].split(" ")[0] in page.text


def test_a_validation_detail_names_each_field_and_its_reason(client, partner):
    bad = purchase_body(customer={"wallet": WALLET.lower()}, amount="0")
    body = assert_problem(client.post("/v1/purchases", headers=partner.headers, json=bad), "validation-error")
    assert "body.customer.wallet: must be a checksummed (EIP-55) 20-byte hex address" in body["detail"]
    assert "body.amount: " in body["detail"] and "greater than 0" in body["detail"]
    assert {e["field"] for e in body["errors"]} == {"body.customer.wallet", "body.amount"}  # the structured list stays
    for e in body["errors"]:
        assert set(e) == {"field", "message", "kind"}


def test_a_validation_detail_in_a_batch_result_names_the_reason_too(client, partner):
    both = purchase_body(customer={"wallet": WALLET, "ref": "loyalty-0042"})
    r = client.post("/v1/purchases/batch", headers=partner.headers, json={"purchases": [both]})
    assert r.status_code == 200, r.text
    problem = r.json()["results"][0]["problem"]
    assert problem["type"] == "/problems/validation-error"
    assert problem["detail"] == "customer: give exactly one of wallet or ref"


def test_a_long_validation_detail_names_the_first_fields_and_counts_the_rest(client, partner):
    r = client.post("/v1/purchases", headers=partner.headers, json={"purchase_id": "", "x": 1, "y": 2, "z": 3})
    body = assert_problem(r, "validation-error")
    assert len(body["errors"]) > 5
    assert body["detail"].endswith(f"; and {len(body['errors']) - 5} more (see errors)")
