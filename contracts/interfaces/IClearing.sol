// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IClearing
/// @notice The part of `Clearing` that `CoalitionPoints` calls: the prefunded issuance bound.
interface IClearing {
    /// @notice Books `value` of new issuance against the partner's funds: points earned x issue
    /// price, or points restored after a refund x the reimbursement rate of the capture they reverse.
    /// Reverts unless the partner's unsettled issuance stays within both its funds in
    /// `Clearing` and `issuanceLimit`. Only the points contract may call it.
    function reserveIssuance(uint32 partnerId, uint256 value, uint256 issuanceLimit) external;

    /// @notice Records `value` (points x their issue price) reversed after a refund: a credit the
    /// next settlement pays the partner. It frees no headroom and no funds before then. Only the
    /// points contract may call it.
    function recordReversal(uint32 partnerId, uint256 value) external;
}
