"""EIP-55 addresses, remembered.

The indexer meets every customer address twice per purchase (the ``Transfer`` of its mint and
its word in the ``Earned`` event) and the contracts' own addresses in every log; each EIP-55
checksum is a keccak. One cache, shared by both decoders, makes the second meeting free.
"""

from __future__ import annotations

from functools import lru_cache

from eth_utils import to_checksum_address

CACHED = 65_536  # addresses remembered: a few earn batches' customers


@lru_cache(maxsize=CACHED)
def checksum(address: str) -> str:
    """The EIP-55 form of a 0x-prefixed hex address, in any case."""
    return to_checksum_address(address.lower())
