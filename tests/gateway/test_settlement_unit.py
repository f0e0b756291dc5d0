"""Unit tests of the settlement maths (loyalty/settlement.py, loyalty/statement.py) and of the
period boundaries (gateway/services/settlement.py): plain records, no chain, figures checked by
hand in the comments."""

from __future__ import annotations

import csv
import io
import json

from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.services.settlement import last_block_before, period_end_time
from loyalty.settlement import (
    EARLIER_ISSUER,
    PartnerLine,
    PointsEvent,
    bilateral_matrix,
    format_units,
    operator_net,
    partner_lines,
    split_pro_rata,
)
from loyalty.statement import build_statement, canonical_bytes, statement_csv, statement_hash

EVENTS = [
    PointsEvent("earned", 1, 100, 10_000),  # 1_000_000
    PointsEvent("redeemed", 2, 200, 9_000),  # 1_800_000
    PointsEvent("earned", 1, 50, 12_000),  # re-rated mid-period: 600_000
    PointsEvent("reversed", 1, 20, 10_000),  # refund at the price it was issued at: 200_000 back
    PointsEvent("redeemed", 1, 30, 8_000),  # 240_000
    PointsEvent("earned", 2, 40, 5_000),  # 200_000
    PointsEvent("redeemed", 3, 7, 1_000),  # 7_000
]


def test_lines_at_each_events_rate() -> None:
    lines = partner_lines(EVENTS)
    assert lines == [
        PartnerLine(1, 150, 20, 30, 1_600_000, 200_000, 240_000),
        PartnerLine(2, 40, 0, 200, 200_000, 0, 1_800_000),
        PartnerLine(3, 0, 0, 7, 0, 0, 7_000),
    ]
    assert [line.net for line in lines] == [-1_160_000, 1_600_000, 7_000]
    assert operator_net(lines) == -447_000  # the operator pays 0.447 cUSD net this period
    assert sum(line.net for line in lines) + operator_net(lines) == 0


def test_bilateral_matrix_is_pro_rata_with_largest_remainders() -> None:
    # net issuance: partner 1 130 points, partner 2 40, partner 3 0 (weights 130:40)
    # partner 1 redeemed 30: 22.94 / 7.06 -> floors 22 + 7 = 29, the extra point to the larger remainder (1)
    # partner 2 redeemed 200: 152.94 / 47.06 -> 152 + 47, extra to 1
    # partner 3 redeemed 7: 5.35 / 1.65 -> 5 + 1, extra to 2 (remainder 110/170 > 60/170)
    assert bilateral_matrix(partner_lines(EVENTS)) == {1: {1: 23, 2: 7}, 2: {1: 153, 2: 47}, 3: {1: 5, 2: 2}}


def test_split_rules() -> None:
    assert split_pro_rata(1, {3: 1, 2: 1}) == {2: 1}  # a tie goes to the lower id
    assert split_pro_rata(5, {1: 0, 2: -3}) == {EARLIER_ISSUER: 5}  # no net issuance in the period
    assert split_pro_rata(0, {1: 10}) == {}
    assert split_pro_rata(10, {1: 1, 2: 1, 3: 1}) == {1: 4, 2: 3, 3: 3}


def test_format_units_is_exact() -> None:
    assert format_units(-1_160_000, 6) == "-1.160000"
    assert format_units(5, 6) == "0.000005"
    assert format_units(10**30 + 1, 6) == "1000000000000000000000000.000001"
    assert format_units(42, 0) == "42"


def _statement() -> dict:
    return build_statement(chain_id=31337, period_id=4, from_block=10, to_block=20, lines=partner_lines(EVENTS))


def test_statement_content_and_canonical_hash() -> None:
    s = _statement()
    assert s["operator_net"] == -447_000 and s["operator_net_formatted"] == "-0.447000"
    assert s["sum_check"] == {"partners_net": 447_000, "operator_net": -447_000, "total": 0}
    assert [p["net_formatted"] for p in s["partners"]] == ["-1.160000", "1.600000", "0.007000"]
    assert {"redeemed_at": 3, "issued_by": 2, "points": 2} in s["bilateral"]["points"]
    raw = canonical_bytes(s)
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    assert statement_hash(s) == keccak(raw)
    reordered = json.loads(json.dumps(s, sort_keys=False))
    reordered = dict(reversed(list(reordered.items())))
    assert statement_hash(reordered) == statement_hash(s)  # key order does not matter
    changed = _statement()
    changed["partners"][0]["net"] += 1
    assert statement_hash(changed) != statement_hash(s)


def test_statement_csv() -> None:
    rows = list(csv.reader(io.StringIO(statement_csv(_statement()))))
    assert rows[0] == ["period_id", "4", "from_block", "10", "to_block", "20"]
    assert rows[1][7:9] == ["points_restored", "restored_value"]
    assert rows[2] == ["1", "150", "20", "30", "1600000", "200000", "240000", "0", "0", "-1160000", "-1.160000"]
    assert rows[5] == ["operator", "", "", "", "", "", "", "", "", "-447000", "-0.447000"]
    assert rows[7] == ["redeemed_at", "issued_by", "points"]
    expired = rows.index(["points_expired", "0"])
    assert rows[8 : expired - 1] == [
        ["1", "1", "23"],
        ["1", "2", "7"],
        ["2", "1", "153"],
        ["2", "2", "47"],
        ["3", "1", "5"],
        ["3", "2", "2"],
    ]
    assert rows[expired - 1] == []
    assert rows[expired + 1 :] == [  # statements from version 5: the membership fees section (none here)
        [],
        ["membership_fees", "reported_after", "", "reported_through", ""],
        ["currency", "partner_id", "plan_id", "payments", "fees", "coalition_share", "partner_net"],
    ]


def test_a_capture_restored_after_its_refund_nets_to_zero_at_the_captures_rate() -> None:
    """750 points paid at a till at 0.008 and given back by the refund (restored at the capture's
    0.008, even if the partner's rate changed since): the partner's line nets to exactly zero."""
    events = [PointsEvent("redeemed", 2, 750, 8_000), PointsEvent("restored", 2, 750, 8_000)]
    [line] = partner_lines(events)
    assert (line.points_redeemed, line.points_restored, line.redeemed_value, line.restored_value) == (
        750,
        750,
        6_000_000,
        6_000_000,
    )
    assert line.net == 0 and operator_net([line]) == 0
    assert line.settle_args == (2, 0, 0, 6_000_000, 6_000_000)
    s = build_statement(chain_id=1, period_id=1, from_block=1, to_block=2, lines=[line])
    assert (s["partners"][0]["points_restored"], s["partners"][0]["restored_value"], s["partners"][0]["net"]) == (
        750,
        6_000_000,
        0,
    )
    assert s["sum_check"]["total"] == 0


def test_period_boundaries_align_to_the_epoch() -> None:
    assert period_end_time(86_399, 86_400) == 86_400
    assert period_end_time(86_400, 86_400) == 172_800
    assert period_end_time(7_205, 3_600) == 10_800
    stamps = {10: 100, 11: 105, 12: 110, 13: 110, 14: 130, 15: 200}
    assert last_block_before(stamps.__getitem__, 10, 15, 120) == 13
    assert last_block_before(stamps.__getitem__, 10, 15, 100) == 9  # none before: lo - 1
    assert last_block_before(stamps.__getitem__, 10, 15, 10_000) == 15
    assert last_block_before(stamps.__getitem__, 12, 15, 110) == 11


event_st = st.builds(
    PointsEvent,
    kind=st.sampled_from(["earned", "redeemed", "reversed", "restored"]),
    partner_id=st.integers(1, 6),
    points=st.integers(0, 2**48 - 1),
    rate=st.integers(0, 2**96 - 1),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(event_st, max_size=40))
def test_property_nets_and_operator_sum_to_zero(events: list[PointsEvent]) -> None:
    lines = partner_lines(events)
    assert sum(line.net for line in lines) + operator_net(lines) == 0
    for line in lines:  # each line is the formula applied event by event
        mine = [e for e in events if e.partner_id == line.partner_id]
        issued = sum(e.points * e.rate for e in mine if e.kind == "earned")
        reversed_ = sum(e.points * e.rate for e in mine if e.kind == "reversed")
        redeemed = sum(e.points * e.rate for e in mine if e.kind == "redeemed")
        restored = sum(e.points * e.rate for e in mine if e.kind == "restored")
        assert (line.issued_value, line.reversed_value, line.redeemed_value, line.restored_value) == (
            issued,
            reversed_,
            redeemed,
            restored,
        )
        assert line.net == redeemed + reversed_ - issued - restored
        assert line.settle_args == (line.partner_id, issued, reversed_, redeemed, restored)
    matrix = bilateral_matrix(lines)
    for line in lines:  # every redeemed point is attributed to exactly one issuer
        assert sum(matrix.get(line.partner_id, {}).values()) == line.points_redeemed
    s = build_statement(chain_id=1, period_id=1, from_block=1, to_block=2, lines=lines)
    assert s["sum_check"]["total"] == 0
