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

    /// @notice Prices scheduled to replace a partner's, and when they may (0: none scheduled).
    struct PendingRates {
        uint96 issuePrice;
        uint96 reimbursementRate;
        uint64 effectiveAt;
    }

    /// @notice A treasury or minter scheduled to replace a partner's, and when it may (0: none).
    struct PendingAddress {
        address account;
        uint64 effectiveAt;
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
    event PartnerRerateScheduled(
        uint32 indexed partnerId, uint96 issuePrice, uint96 reimbursementRate, uint64 effectiveAt
    );
    event PartnerTreasuryChangeScheduled(uint32 indexed partnerId, address newTreasury, uint64 effectiveAt);
    event PartnerMinterChangeScheduled(uint32 indexed partnerId, address newMinter, uint64 effectiveAt);
    event PartnerChangesCancelled(uint32 indexed partnerId);
    event NoticePeriodChanged(uint32 notice, uint64 effectiveAt);

    error PartnerRegistryZeroAddress();
    error PartnerRegistryZeroIssuePrice();
    error PartnerRegistryMinterTaken(address minter, uint32 partnerId);
    error PartnerRegistryUnknownPartner(uint32 partnerId);
    error PartnerRegistryUnknownMinter(address minter);
    error PartnerRegistryNotActive(uint32 partnerId);
    error PartnerRegistryNotSuspended(uint32 partnerId);
    error PartnerRegistryNotTreasury(uint32 partnerId, address caller);
    error PartnerRegistryNothingScheduled(uint32 partnerId);
    error PartnerRegistryNoticeNotOver(uint32 partnerId, uint64 effectiveAt);
    error PartnerRegistryNoticeOutOfBounds(uint32 notice);

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

    /// @notice The rerate scheduled for a partner (effectiveAt 0: none).
    function pendingRerate(uint32 partnerId) external view returns (PendingRates memory);

    /// @notice The treasury change scheduled for a partner (effectiveAt 0: none).
    function pendingTreasury(uint32 partnerId) external view returns (PendingAddress memory);

    /// @notice The minter change scheduled for a partner (effectiveAt 0: none).
    function pendingMinter(uint32 partnerId) external view returns (PendingAddress memory);
}
