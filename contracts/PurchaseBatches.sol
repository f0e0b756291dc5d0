// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

/// @title PurchaseBatches
/// @notice The purchase word format and the Merkle tree over a batch of purchases.
/// The Python side (network/purchases.py) mirrors every function here.
library PurchaseBatches {
    /// @notice Splits a purchase word `customer (160) | seq (48) | points (48)`.
    function decode(bytes32 word) internal pure returns (address customer, uint256 seq, uint256 points) {
        uint256 w = uint256(word);
        customer = address(uint160(w >> 96));
        seq = (w >> 48) & 0xffffffffffff;
        points = w & 0xffffffffffff;
    }

    /// @notice The Merkle leaf of a purchase: keccak256 of its 32-byte word. Internal nodes hash
    /// 64 bytes, so a node can never pass for a leaf.
    function leaf(bytes32 word) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, word)
            h := keccak256(0x00, 0x20)
        }
    }

    /// @notice What a batch stores: its partner, the issue price it was minted at, and its root.
    function commitment(uint32 partnerId, uint96 issuePrice, bytes32 root) internal pure returns (bytes32) {
        return keccak256(abi.encode(partnerId, issuePrice, root));
    }

    /// @notice Merkle root of the first `n` leaves (n >= 1), pairs hashed sorted (OpenZeppelin's
    /// commutative keccak, as `MerkleProof` verifies), an odd last node carried up unchanged.
    /// Overwrites `leaves`.
    function merkleRoot(bytes32[] memory leaves, uint256 n) internal pure returns (bytes32) {
        while (n > 1) {
            uint256 m = 0;
            for (uint256 i = 0; i < n; i += 2) {
                leaves[m] = i + 1 < n ? Hashes.commutativeKeccak256(leaves[i], leaves[i + 1]) : leaves[i];
                // Cannot overflow: m < n <= leaves.length.
                unchecked {
                    ++m;
                }
            }
            n = m;
        }
        return leaves[0];
    }
}
