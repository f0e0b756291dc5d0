// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IPartnerRegistry} from "./interfaces/IPartnerRegistry.sol";

/// @title PartnerRegistry
/// @notice The coalition's list of partner merchants: who may mint points, at which prices,
/// and up to which issuance limit. The operator onboards, suspends, re-rates and rotates keys;
/// the deployer (DEFAULT_ADMIN_ROLE) only grants and revokes roles.
/// @dev Prices are in settlement-token units (6 decimals) per point: 10_000 is 0.01 per point.
contract PartnerRegistry is AccessControl, IPartnerRegistry {
    /// @notice Role that onboards, suspends, re-rates partners and rotates their keys.
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    mapping(uint32 partnerId => Partner) private _partners;
    mapping(address minter => uint32 partnerId) private _partnerOfMinter;
    uint32 private _partnerCount;

    /// @param admin Holder of DEFAULT_ADMIN_ROLE (grants roles).
    /// @param operator Holder of OPERATOR_ROLE (runs the coalition day to day).
    constructor(address admin, address operator) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(OPERATOR_ROLE, operator);
    }

    /// @notice Onboards a partner; it is active at once.
    /// @param minter The key that signs the partner's earn, batch earn and reverse transactions.
    /// @param treasury The only address that may withdraw the partner's funds from `Clearing`.
    /// @param issuePrice What the partner pays per point it issues.
    /// @param reimbursementRate What the partner is paid per point redeemed at its shops.
    /// @param issuanceLimit Cap on the partner's unsettled issuance, in settlement-token units
    /// (the prefunded deposit in `Clearing` is the other bound; the lower one applies).
    /// @return partnerId The new partner's id (ids start at 1).
    /// Emits a {PartnerOnboarded} event.
    function onboard(
        address minter,
        address treasury,
        uint96 issuePrice,
        uint96 reimbursementRate,
        uint128 issuanceLimit
    ) external onlyRole(OPERATOR_ROLE) returns (uint32 partnerId) {
        if (treasury == address(0)) revert PartnerRegistryZeroAddress();
        _checkFreeMinter(minter);
        if (issuePrice == 0) revert PartnerRegistryZeroIssuePrice();
        partnerId = ++_partnerCount;
        _partners[partnerId] = Partner({
            minter: minter,
            status: PartnerStatus.Active,
            treasury: treasury,
            issuePrice: issuePrice,
            reimbursementRate: reimbursementRate,
            issuanceLimit: issuanceLimit
        });
        _partnerOfMinter[minter] = partnerId;
        emit PartnerOnboarded(partnerId, minter, treasury, issuePrice, reimbursementRate, issuanceLimit);
    }

    /// @notice Suspends a partner: it can no longer earn, reverse, or accept redemptions.
    /// @param partnerId The partner to suspend.
    /// Emits a {PartnerSuspended} event.
    function suspend(uint32 partnerId) external onlyRole(OPERATOR_ROLE) {
        Partner storage p = _existing(partnerId);
        if (p.status != PartnerStatus.Active) revert PartnerRegistryNotActive(partnerId);
        p.status = PartnerStatus.Suspended;
        emit PartnerSuspended(partnerId);
    }

    /// @notice Reactivates a suspended partner.
    /// @param partnerId The partner to reactivate.
    /// Emits a {PartnerReactivated} event.
    function reactivate(uint32 partnerId) external onlyRole(OPERATOR_ROLE) {
        Partner storage p = _existing(partnerId);
        if (p.status != PartnerStatus.Suspended) revert PartnerRegistryNotSuspended(partnerId);
        p.status = PartnerStatus.Active;
        emit PartnerReactivated(partnerId);
    }

    /// @notice Changes a partner's prices and issuance limit. Points already issued keep the
    /// price they were issued at; redemptions are reimbursed at the rate in force when they happen.
    /// @param partnerId The partner to re-rate.
    /// @param issuePrice New price per point issued.
    /// @param reimbursementRate New reimbursement per point redeemed.
    /// @param issuanceLimit New cap on unsettled issuance, in settlement-token units.
    /// Emits a {PartnerRerated} event.
    function rerate(uint32 partnerId, uint96 issuePrice, uint96 reimbursementRate, uint128 issuanceLimit)
        external
        onlyRole(OPERATOR_ROLE)
    {
        Partner storage p = _existing(partnerId);
        if (issuePrice == 0) revert PartnerRegistryZeroIssuePrice();
        p.issuePrice = issuePrice;
        p.reimbursementRate = reimbursementRate;
        p.issuanceLimit = issuanceLimit;
        emit PartnerRerated(partnerId, issuePrice, reimbursementRate, issuanceLimit);
    }

    /// @notice Replaces a partner's minter key (after a leak, or a routine rotation).
    /// @param partnerId The partner whose key changes.
    /// @param newMinter The new key; it must not belong to another partner.
    /// Emits a {PartnerMinterChanged} event.
    function setMinter(uint32 partnerId, address newMinter) external onlyRole(OPERATOR_ROLE) {
        Partner storage p = _existing(partnerId);
        _checkFreeMinter(newMinter);
        address old = p.minter;
        delete _partnerOfMinter[old];
        p.minter = newMinter;
        _partnerOfMinter[newMinter] = partnerId;
        emit PartnerMinterChanged(partnerId, old, newMinter);
    }

    /// @notice Replaces a partner's treasury (the address its withdrawals go to).
    /// @param partnerId The partner whose treasury changes.
    /// @param newTreasury The new treasury.
    /// Emits a {PartnerTreasuryChanged} event.
    function setTreasury(uint32 partnerId, address newTreasury) external onlyRole(OPERATOR_ROLE) {
        Partner storage p = _existing(partnerId);
        if (newTreasury == address(0)) revert PartnerRegistryZeroAddress();
        address old = p.treasury;
        p.treasury = newTreasury;
        emit PartnerTreasuryChanged(partnerId, old, newTreasury);
    }

    /// @inheritdoc IPartnerRegistry
    function activePartnerOf(address minter)
        external
        view
        returns (uint32 partnerId, uint96 issuePrice, uint128 issuanceLimit)
    {
        partnerId = _partnerOfMinter[minter];
        if (partnerId == 0) revert PartnerRegistryUnknownMinter(minter);
        Partner storage p = _partners[partnerId];
        if (p.status != PartnerStatus.Active) revert PartnerRegistryNotActive(partnerId);
        return (partnerId, p.issuePrice, p.issuanceLimit);
    }

    /// @inheritdoc IPartnerRegistry
    function reimbursementRateOf(uint32 partnerId) external view returns (uint96) {
        Partner storage p = _existing(partnerId);
        if (p.status != PartnerStatus.Active) revert PartnerRegistryNotActive(partnerId);
        return p.reimbursementRate;
    }

    /// @inheritdoc IPartnerRegistry
    function partner(uint32 partnerId) external view returns (Partner memory) {
        return _existing(partnerId);
    }

    /// @inheritdoc IPartnerRegistry
    function partnerIdOf(address minter) external view returns (uint32) {
        return _partnerOfMinter[minter];
    }

    /// @inheritdoc IPartnerRegistry
    function partnerCount() external view returns (uint32) {
        return _partnerCount;
    }

    function _existing(uint32 partnerId) private view returns (Partner storage p) {
        p = _partners[partnerId];
        if (p.status == PartnerStatus.None) revert PartnerRegistryUnknownPartner(partnerId);
    }

    function _checkFreeMinter(address minter) private view {
        if (minter == address(0)) revert PartnerRegistryZeroAddress();
        uint32 holder = _partnerOfMinter[minter];
        if (holder != 0) revert PartnerRegistryMinterTaken(minter, holder);
    }
}
