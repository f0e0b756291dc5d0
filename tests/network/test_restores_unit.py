"""The restore outbox's chain side (network/restores.py) and the indexer's ledger entry of a
``Restored`` event: the calldata is ``restore(ref, customer, points, refundRef)`` as the ABI
encodes it, and the customer's ledger gains the points given back, at the capture's rate."""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak

from network.contracts import DecodedLog, load_abi
from network.indexer import ledger_entries
from network.restores import encode_restore, refund_ref
from network.store import OutboxRestore

CUSTOMER = "0x" + "ab" * 20
REF = "0x" + "21" * 32


def test_the_calldata_is_restore_as_the_abi_has_it() -> None:
    [fn] = [i for i in load_abi("CoalitionPoints") if i.get("type") == "function" and i["name"] == "restore"]
    assert [a["type"] for a in fn["inputs"]] == ["bytes32", "address", "uint256", "bytes32"]
    item = OutboxRestore(ref=REF, customer=CUSTOMER, points=750, refund_ref=refund_ref(3, "movie-6-back"))
    data = encode_restore(item)
    assert data[:4] == function_signature_to_4byte_selector("restore(bytes32,address,uint256,bytes32)")
    ref, customer, points, refund = abi_decode(["bytes32", "address", "uint256", "bytes32"], data[4:])
    assert (ref, customer, points) == (bytes.fromhex(REF[2:]), CUSTOMER, 750)
    assert refund == keccak(abi_encode(["uint32", "string"], [3, "movie-6-back"]))


def test_a_refund_ref_names_the_partners_refund() -> None:
    assert refund_ref(3, "r-1") != refund_ref(4, "r-1") != refund_ref(3, "r-2")
    assert len(bytes.fromhex(refund_ref(3, "r-1")[2:])) == 32


def test_a_restored_event_is_a_ledger_entry_of_the_points_given_back() -> None:
    event = DecodedLog(
        contract="CoalitionPoints",
        name="Restored",
        args={
            "partnerId": 3,
            "customer": CUSTOMER,
            "ref": REF,
            "refundRef": "0x" + "22" * 32,
            "points": 750,
            "reimbursementRate": 8_000,
        },
        address="0x" + "cd" * 20,
        block_number=12,
        block_hash="0x" + "33" * 32,
        tx_hash="0x" + "44" * 32,
        log_index=5,
    )
    [entry] = ledger_entries(event, 31337, 1_700_000_000)
    assert {k: entry[k] for k in ("kind", "customer", "partner_id", "points", "rate", "ref", "seq")} == {
        "kind": "restored",
        "customer": CUSTOMER,
        "partner_id": 3,
        "points": 750,
        "rate": 8_000,
        "ref": REF,
        "seq": None,
    }
