// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IPartnerRegistry} from "./interfaces/IPartnerRegistry.sol";

/// @title PartnerRegistry
/// @notice The coalition's list of partner merchants: who may mint points, at which prices,
/// and up to which issuance limit. The operator onboards, suspends and reactivates partners and
/// sets their issuance limits at once (each only stops or bounds issuance). Every change that
/// moves a partner's money (its prices, its treasury, its minter key) takes effect only after a
/// notice period enforced here, so that the partner can react (withdraw its free funds, stop
/// issuing); the partner's own treasury changes its treasury and minter key at once. The
/// deployer (DEFAULT_ADMIN_ROLE) only grants and revokes roles.
/// @dev Prices are in settlement-token units (6 decimals) per point: 10_000 is 0.01 per point.
contract PartnerRegistry is AccessControl, IPartnerRegistry {
    /// @notice Role that onboards, suspends and reactivates partners, sets their limits and schedules
    /// their re-rates, treasury and minter changes (in force after the notice period).
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    /// @notice Shortest notice the operator may set: no scheduled change applies sooner.
    uint32 public constant MIN_NOTICE = 1 days;
    /// @notice Longest notice the operator may set.
    uint32 public constant MAX_NOTICE = 90 days;

    /// @dev A notice period change: a shorter notice applies only after the current one.
    struct PendingNotice {
        uint32 notice;
        uint64 effectiveAt;
    }

    mapping(uint32 partnerId => Partner) private _partners;
    mapping(address minter => uint32 partnerId) private _partnerOfMinter;
    uint32 private _partnerCount;
    uint32 private _notice = 7 days;
    PendingNotice private _pendingNotice;
    mapping(uint32 partnerId => PendingRates) private _pendingRates;
    mapping(uint32 partnerId => PendingAddress) private _pendingTreasury;
    mapping(uint32 partnerId => PendingAddress) private _pendingMinter;

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

    // ------------------------------------------------------------------ changes at once

    /// @notice Sets a partner's cap on unsettled issuance, at once: it only bounds new issuance
    /// (lowering it below the partner's exposure stops its earns until settlements bring it back).
    /// @param partnerId The partner.
    /// @param issuanceLimit New cap, in settlement-token units.
    /// Emits a {PartnerRerated} event with the partner's terms after the change.
    function setIssuanceLimit(uint32 partnerId, uint128 issuanceLimit) external onlyRole(OPERATOR_ROLE) {
        Partner storage p = _existing(partnerId);
        p.issuanceLimit = issuanceLimit;
        emit PartnerRerated(partnerId, p.issuePrice, p.reimbursementRate, issuanceLimit);
    }

    /// @notice The partner's own treasury replaces its treasury, at once.
    /// @param partnerId The partner.
    /// @param newTreasury The new treasury.
    /// Emits a {PartnerTreasuryChanged} event.
    function setTreasury(uint32 partnerId, address newTreasury) external {
        Partner storage p = _existing(partnerId);
        if (msg.sender != p.treasury) revert PartnerRegistryNotTreasury(partnerId, msg.sender);
        _changeTreasury(partnerId, p, newTreasury);
    }

    /// @notice The partner's own treasury replaces its minter key, at once (after a leak, or a
    /// routine rotation; the operator can suspend the partner at once meanwhile).
    /// @param partnerId The partner.
    /// @param newMinter The new key; it must not belong to another partner.
    /// Emits a {PartnerMinterChanged} event.
    function setMinter(uint32 partnerId, address newMinter) external {
        Partner storage p = _existing(partnerId);
        if (msg.sender != p.treasury) revert PartnerRegistryNotTreasury(partnerId, msg.sender);
        _changeMinter(partnerId, p, newMinter);
    }

    // ------------------------------------------------------------------ changes after notice

    /// @notice Schedules new prices for a partner, effective once the notice period has passed
    /// ({applyRerate}). Points already issued keep the price they were issued at; redemptions are
    /// reimbursed at the rate in force when they happen. Replaces a rerate scheduled before.
    /// @param partnerId The partner to re-rate.
    /// @param issuePrice New price per point issued.
    /// @param reimbursementRate New reimbursement per point redeemed.
    /// Emits a {PartnerRerateScheduled} event.
    function scheduleRerate(uint32 partnerId, uint96 issuePrice, uint96 reimbursementRate)
        external
        onlyRole(OPERATOR_ROLE)
    {
        _existing(partnerId);
        if (issuePrice == 0) revert PartnerRegistryZeroIssuePrice();
        uint64 effectiveAt = _effectiveAt();
        _pendingRates[partnerId] = PendingRates(issuePrice, reimbursementRate, effectiveAt);
        emit PartnerRerateScheduled(partnerId, issuePrice, reimbursementRate, effectiveAt);
    }

    /// @notice Puts a scheduled rerate in force once its time has come. Anyone may call it.
    /// @param partnerId The partner.
    /// Emits a {PartnerRerated} event.
    function applyRerate(uint32 partnerId) external {
        Partner storage p = _existing(partnerId);
        PendingRates memory r = _pendingRates[partnerId];
        _checkDue(partnerId, r.effectiveAt);
        delete _pendingRates[partnerId];
        p.issuePrice = r.issuePrice;
        p.reimbursementRate = r.reimbursementRate;
        emit PartnerRerated(partnerId, r.issuePrice, r.reimbursementRate, p.issuanceLimit);
    }

    /// @notice Schedules a new treasury for a partner (e.g. the partner lost its treasury key),
    /// effective once the notice period has passed ({applyTreasury}).
    /// @param partnerId The partner.
    /// @param newTreasury The new treasury.
    /// Emits a {PartnerTreasuryChangeScheduled} event.
    function scheduleTreasury(uint32 partnerId, address newTreasury) external onlyRole(OPERATOR_ROLE) {
        _existing(partnerId);
        if (newTreasury == address(0)) revert PartnerRegistryZeroAddress();
        uint64 effectiveAt = _effectiveAt();
        _pendingTreasury[partnerId] = PendingAddress(newTreasury, effectiveAt);
        emit PartnerTreasuryChangeScheduled(partnerId, newTreasury, effectiveAt);
    }

    /// @notice Puts a scheduled treasury change in force once its time has come. Anyone may call it.
    /// @param partnerId The partner.
    /// Emits a {PartnerTreasuryChanged} event.
    function applyTreasury(uint32 partnerId) external {
        Partner storage p = _existing(partnerId);
        PendingAddress memory t = _pendingTreasury[partnerId];
        _checkDue(partnerId, t.effectiveAt);
        delete _pendingTreasury[partnerId];
        _changeTreasury(partnerId, p, t.account);
    }

    /// @notice Schedules a new minter key for a partner, effective once the notice period has
    /// passed ({applyMinter}). In an emergency the operator suspends the partner at once.
    /// @param partnerId The partner.
    /// @param newMinter The new key; it must not belong to another partner (checked again when applied).
    /// Emits a {PartnerMinterChangeScheduled} event.
    function scheduleMinter(uint32 partnerId, address newMinter) external onlyRole(OPERATOR_ROLE) {
        _existing(partnerId);
        _checkFreeMinter(newMinter);
        uint64 effectiveAt = _effectiveAt();
        _pendingMinter[partnerId] = PendingAddress(newMinter, effectiveAt);
        emit PartnerMinterChangeScheduled(partnerId, newMinter, effectiveAt);
    }

    /// @notice Puts a scheduled minter change in force once its time has come. Anyone may call it.
    /// @param partnerId The partner.
    /// Emits a {PartnerMinterChanged} event.
    function applyMinter(uint32 partnerId) external {
        Partner storage p = _existing(partnerId);
        PendingAddress memory m = _pendingMinter[partnerId];
        _checkDue(partnerId, m.effectiveAt);
        delete _pendingMinter[partnerId];
        _changeMinter(partnerId, p, m.account);
    }

    /// @notice Cancels every change scheduled for a partner (rates, treasury, minter).
    /// @param partnerId The partner.
    /// Emits a {PartnerChangesCancelled} event.
    function cancelScheduled(uint32 partnerId) external onlyRole(OPERATOR_ROLE) {
        _existing(partnerId);
        delete _pendingRates[partnerId];
        delete _pendingTreasury[partnerId];
        delete _pendingMinter[partnerId];
        emit PartnerChangesCancelled(partnerId);
    }

    /// @notice Sets the notice period of scheduled changes, within [MIN_NOTICE, MAX_NOTICE]. A
    /// longer notice applies at once; a shorter one only after the notice in force now, so that
    /// no change can be made to take effect sooner than partners were told.
    /// @param notice The new notice period, in seconds.
    /// Emits a {NoticePeriodChanged} event.
    function setNoticePeriod(uint32 notice) external onlyRole(OPERATOR_ROLE) {
        if (notice < MIN_NOTICE || notice > MAX_NOTICE) revert PartnerRegistryNoticeOutOfBounds(notice);
        uint32 current = noticePeriod();
        uint64 effectiveAt = uint64(block.timestamp);
        if (notice >= current) {
            _notice = notice;
            delete _pendingNotice;
        } else {
            _notice = current; // a pending shorter notice that came due is folded in first
            effectiveAt += current;
            _pendingNotice = PendingNotice(notice, effectiveAt);
        }
        emit NoticePeriodChanged(notice, effectiveAt);
    }

    /// @notice The notice period in force now, in seconds.
    function noticePeriod() public view returns (uint32) {
        PendingNotice memory n = _pendingNotice;
        if (n.effectiveAt != 0 && block.timestamp >= n.effectiveAt) return n.notice;
        return _notice;
    }

    /// @inheritdoc IPartnerRegistry
    function pendingRerate(uint32 partnerId) external view returns (PendingRates memory) {
        return _pendingRates[partnerId];
    }

    /// @inheritdoc IPartnerRegistry
    function pendingTreasury(uint32 partnerId) external view returns (PendingAddress memory) {
        return _pendingTreasury[partnerId];
    }

    /// @inheritdoc IPartnerRegistry
    function pendingMinter(uint32 partnerId) external view returns (PendingAddress memory) {
        return _pendingMinter[partnerId];
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

    function _effectiveAt() private view returns (uint64) {
        return uint64(block.timestamp) + noticePeriod();
    }

    function _checkDue(uint32 partnerId, uint64 effectiveAt) private view {
        if (effectiveAt == 0) revert PartnerRegistryNothingScheduled(partnerId);
        if (block.timestamp < effectiveAt) revert PartnerRegistryNoticeNotOver(partnerId, effectiveAt);
    }

    function _changeTreasury(uint32 partnerId, Partner storage p, address newTreasury) private {
        if (newTreasury == address(0)) revert PartnerRegistryZeroAddress();
        address old = p.treasury;
        p.treasury = newTreasury;
        emit PartnerTreasuryChanged(partnerId, old, newTreasury);
    }

    function _changeMinter(uint32 partnerId, Partner storage p, address newMinter) private {
        _checkFreeMinter(newMinter);
        address old = p.minter;
        delete _partnerOfMinter[old];
        p.minter = newMinter;
        _partnerOfMinter[newMinter] = partnerId;
        emit PartnerMinterChanged(partnerId, old, newMinter);
    }

    function _checkFreeMinter(address minter) private view {
        if (minter == address(0)) revert PartnerRegistryZeroAddress();
        uint32 holder = _partnerOfMinter[minter];
        if (holder != 0) revert PartnerRegistryMinterTaken(minter, holder);
    }
}
