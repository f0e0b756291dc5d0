"""The pure rules of enrolment (loyalty/members.py): the content an enrolment is known by (a CSV
row and a JSON body with the same data are the same enrolment), referral codes, and the reading
of an import file: every refused row with its line and reason, the rest checked and normalized."""

from __future__ import annotations

from datetime import date

import pytest

from loyalty.members import (
    REFERRAL_ALPHABET,
    REFERRAL_LENGTH,
    ConsentGiven,
    ImportInvalid,
    ReferralCodeInvalid,
    check_referral_code,
    csv_cell,
    enrolment_content,
    fingerprint,
    new_referral_code,
    read_import,
)

TODAY = date(2026, 11, 23)


def test_referral_codes_are_of_the_alphabet_and_read_back_loosely() -> None:
    codes = {new_referral_code() for _ in range(2_000)}
    assert len(codes) == 2_000
    assert all(len(c) == REFERRAL_LENGTH and set(c) <= set(REFERRAL_ALPHABET) for c in codes)
    code = next(iter(codes))
    assert check_referral_code(f" {code[:5].lower()}-{code[5:]} ") == code


@pytest.mark.parametrize("bad", ["", "ABC", "0OIL1ABCDE", "ABCDEFGHJKM"])
def test_a_referral_code_of_another_shape_is_refused(bad: str) -> None:
    with pytest.raises(ReferralCodeInvalid):
        check_referral_code(bad)


def test_the_same_data_is_the_same_enrolment_whatever_its_form() -> None:
    consents = [ConsentGiven("email", True, "pos")]
    a = enrolment_content({"email": "a@example.com", "phone": None, "attributes": {}}, consents, None, "custodial")
    b = enrolment_content({"email": "a@example.com"}, consents, None, "custodial")
    assert fingerprint(a) == fingerprint(b)
    c = enrolment_content({"email": "b@example.com"}, consents, None, "custodial")
    assert fingerprint(a) != fingerprint(c)
    d = enrolment_content({"birthday": date(1990, 1, 2)}, [], None, "custodial")
    assert d["profile"] == {"birthday": "1990-01-02"}


def test_import_reports_each_refused_row_with_its_line_and_field() -> None:
    text = (
        "ref,email,phone,birthday,time_zone,consent_email,referred_by_code,attributes\n"
        "a,a@example.com,+33612345678,1990-01-02,Europe/Paris,yes,,\n"
        "b,b@,,,,,,\n"
        "c,,0612,,,,,\n"
        "a,dup@example.com,,,,,,\n"
        "\n"
        "d,,,2999-01-01,,,,\n"
        "e,,,,Mars/Base,,,\n"
        "f,,,,,maybe,,\n"
        "g,,,,,,NOTACODE,\n"
        'h,,,,,,,"{""x"": 1"\n'
        "too,few\n"
        "bad ref!,,,,,,,\n"
        'ok,,,,,no,,"{""tier"": ""gold""}"\n'
    )
    plan = read_import(text, today=TODAY)
    assert [(r.line, r.ref, r.field) for r in plan.refused] == [
        (3, "b", "email"),
        (4, "c", "phone"),
        (5, "a", "ref"),
        (7, "d", "birthday"),
        (8, "e", "time_zone"),
        (9, "f", "consent_email"),
        (10, "g", "referred_by_code"),
        (11, "h", "attributes"),
        (12, None, None),
        (13, "bad ref!", "ref"),
    ]
    assert "line 2" in plan.refused[2].reason
    assert [r.ref for r in plan.rows] == ["a", "ok"]
    a, ok = plan.rows
    assert a.profile == {
        "email": "a@example.com",
        "phone": "+33612345678",
        "birthday": date(1990, 1, 2),
        "time_zone": "Europe/Paris",
    }
    assert a.consents == (ConsentGiven("email", True, "import"),)
    assert ok.consents == (ConsentGiven("email", False, "import"),) and ok.profile == {"attributes": {"tier": "gold"}}


@pytest.mark.parametrize("header", ["", "email,phone", "ref,name", "ref,ref"])
def test_a_file_without_the_import_header_is_refused_whole(header: str) -> None:
    with pytest.raises(ImportInvalid):
        read_import(header + "\nx,y\n", today=TODAY)


def test_an_export_reads_back_as_an_import() -> None:
    text = (
        "customer_id,partner_id,ref,wallet,custodial,email,referral_code,enrolled_at\n"
        "1,2,r,0xab,yes,r@example.com,ABCDEFGHJK,x\n"
    )
    plan = read_import(text, today=TODAY)
    assert not plan.refused and plan.rows[0].profile == {"email": "r@example.com"}


def test_export_cells_never_start_a_spreadsheet_formula() -> None:
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_cell("+33612345678") == "+33612345678"
    assert csv_cell(None) == "" and csv_cell(True) == "yes" and csv_cell({"a": 1}) == '{"a":1}'
    assert csv_cell(date(2000, 1, 2)) == "2000-01-02"
