// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IPartnerRegistry
/// @notice What `CoalitionPoints` and `Clearing` need to know about partners, plus the
/// registry's types, events and errors.
interface IPartnerRegistry {
    enum PartnerStatus {
        None,
        Active,
        Suspended
    }

    struct Partner {
        address minter;
        PartnerStatus status;
        address treasury;
        uint96 issuePrice;
        uint96 reimbursementRate;
        uint128 issuanceLimit;
    }

    event PartnerOnboarded(
        uint32 indexed partnerId,
        address indexed minter,
        address treasury,
        uint96 issuePrice,
        uint96 reimbursementRate,
        uint128 issuanceLimit
    );
    event PartnerSuspended(uint32 indexed partnerId);
    event PartnerReactivated(uint32 indexed partnerId);
    event PartnerRerated(uint32 indexed partnerId, uint96 issuePrice, uint96 reimbursementRate, uint128 issuanceLimit);
    event PartnerMinterChanged(uint32 indexed partnerId, address indexed oldMinter, address indexed newMinter);
    event PartnerTreasuryChanged(uint32 indexed partnerId, address oldTreasury, address newTreasury);

    error PartnerRegistryZeroAddress();
    error PartnerRegistryZeroIssuePrice();
    error PartnerRegistryMinterTaken(address minter, uint32 partnerId);
    error PartnerRegistryUnknownPartner(uint32 partnerId);
    error PartnerRegistryUnknownMinter(address minter);
    error PartnerRegistryNotActive(uint32 partnerId);
    error PartnerRegistryNotSuspended(uint32 partnerId);

    /// @notice The active partner whose minter key is `minter`, with its current issue price
    /// and issuance limit. Reverts if `minter` is no partner's key or the partner is suspended.
    function activePartnerOf(address minter)
        external
        view
        returns (uint32 partnerId, uint96 issuePrice, uint128 issuanceLimit);

    /// @notice The reimbursement rate of an active partner. Reverts if it is unknown or suspended.
    function reimbursementRateOf(uint32 partnerId) external view returns (uint96);

    /// @notice Everything the registry holds about a partner. Reverts if it is unknown.
    function partner(uint32 partnerId) external view returns (Partner memory);

    /// @notice The partner id of a minter key, or 0.
    function partnerIdOf(address minter) external view returns (uint32);

    /// @notice How many partners were ever onboarded (the highest id).
    function partnerCount() external view returns (uint32);
}
