// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IClearing} from "./interfaces/IClearing.sol";
import {IPartnerRegistry} from "./interfaces/IPartnerRegistry.sol";

/// @title Clearing
/// @notice The coalition's clearing house. Partners prefund it in the settlement token; what a
/// partner has issued and not yet settled (its exposure) may never exceed those funds nor its
/// issuance limit, so a stolen minter key can only mint what the partner already paid for.
/// Each period the operator settles every partner's net (reimbursements for redeemed points,
/// plus credits for reversed points, minus the price of points issued) against the operator's
/// own account, so that all nets and the operator's sum to zero. Points a partner restores to a
/// customer after refunding a till capture are reserved like issuance, at the capture's
/// reimbursement rate, and debited at that rate: the reverse of the capture's credit.
///
/// A reversal (a refund's clawback) is a credit that only a settlement pays: until then it
/// neither frees headroom for new issuance nor makes funds withdrawable, so no key can turn
/// reversals into issuance or withdrawals before the operator's statement has covered them.
/// @dev Periods are contiguous block ranges, settled in order, each exactly once. Invariants
/// (tests/contracts/test_invariants.py): funds >= exposure for every partner; the token balance
/// of this contract is the sum of every partner's funds and the operator's.
contract Clearing is AccessControl, ReentrancyGuard, IClearing {
    using SafeERC20 for IERC20;

    /// @notice Role that settles periods and moves the operator's own funds.
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    /// @notice One partner's line of a period's statement, each value at the rates its events carry.
    struct PartnerNet {
        uint32 partnerId;
        uint256 issuedValue; // points issued x issue price
        uint256 reversedValue; // points reversed x the issue price of their purchase
        uint256 redeemedValue; // points redeemed x reimbursement rate
        uint256 restoredValue; // points restored after a refund x the rate of the capture they reverse
    }

    struct Period {
        uint64 fromBlock;
        uint64 toBlock;
        bytes32 statementHash;
        int256 operatorNet;
    }

    IERC20 public immutable settlementToken;
    IPartnerRegistry public immutable registry;
    /// @notice The `CoalitionPoints` contract, bound once after deployment.
    address public points;

    mapping(uint32 partnerId => uint256) private _funds;
    mapping(uint32 partnerId => uint256) private _exposure;
    mapping(uint32 partnerId => uint256) private _pendingCredit;
    uint256 public operatorFunds;

    /// @notice The next period to settle (periods start at 1).
    uint64 public nextPeriodId = 1;
    /// @notice The last block covered by a settled period; the next period starts after it.
    uint64 public settledThroughBlock;
    mapping(uint64 periodId => Period) private _periods;

    event PointsBound(address indexed points);
    event Deposited(uint32 indexed partnerId, address indexed from, uint256 amount);
    event Withdrawn(uint32 indexed partnerId, address indexed treasury, uint256 amount);
    event OperatorFunded(address indexed from, uint256 amount);
    event OperatorWithdrawn(address indexed to, uint256 amount);
    event IssuanceReserved(uint32 indexed partnerId, uint256 value, uint256 exposure);
    event ReversalRecorded(uint32 indexed partnerId, uint256 value, uint256 pendingCredit);
    event PartnerSettled(
        uint64 indexed periodId,
        uint32 indexed partnerId,
        uint256 issuedValue,
        uint256 reversedValue,
        uint256 redeemedValue,
        uint256 restoredValue,
        int256 net
    );
    event PeriodSettled(
        uint64 indexed periodId, uint64 fromBlock, uint64 toBlock, bytes32 statementHash, int256 operatorNet
    );

    error ClearingPointsAlreadyBound(address points);
    error ClearingOnlyPoints(address caller);
    error ClearingZeroAmount();
    error ClearingNotTreasury(uint32 partnerId, address caller);
    error ClearingInsufficientFreeFunds(uint32 partnerId, uint256 free, uint256 needed);
    error ClearingIssuanceOverFunds(uint32 partnerId, uint256 exposure, uint256 funds);
    error ClearingIssuanceOverLimit(uint32 partnerId, uint256 exposure, uint256 limit);
    error ClearingInsufficientOperatorFunds(uint256 funds, uint256 needed);
    error ClearingWrongPeriod(uint64 periodId, uint64 expected);
    error ClearingBadBlockRange(uint64 fromBlock, uint64 toBlock, uint64 expectedFrom);
    error ClearingBadStatement(uint256 index);
    error ClearingIssuedAboveExposure(uint32 partnerId, uint256 debitedValue, uint256 exposure);
    error ClearingReversedAbovePending(uint32 partnerId, uint256 reversedValue, uint256 pendingCredit);

    /// @param token The settlement token (a stablecoin).
    /// @param registry_ The partner registry.
    /// @param admin Holder of DEFAULT_ADMIN_ROLE (binds the points contract, grants roles).
    /// @param operator Holder of OPERATOR_ROLE.
    constructor(IERC20 token, IPartnerRegistry registry_, address admin, address operator) {
        settlementToken = token;
        registry = registry_;
        settledThroughBlock = SafeCast.toUint64(block.number);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(OPERATOR_ROLE, operator);
    }

    /// @notice Binds the `CoalitionPoints` contract that may reserve issuance and record reversals. Once.
    /// @param points_ The points contract.
    /// Emits a {PointsBound} event.
    function bindPoints(address points_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (points != address(0)) revert ClearingPointsAlreadyBound(points);
        points = points_;
        emit PointsBound(points_);
    }

    /// @notice Adds to a partner's funds; anyone may pay in for a partner.
    /// @param partnerId The partner credited (must be onboarded).
    /// @param amount Settlement-token amount, pulled from the caller (approve first).
    /// Emits a {Deposited} event.
    function deposit(uint32 partnerId, uint256 amount) external nonReentrant {
        if (amount == 0) revert ClearingZeroAmount();
        registry.partner(partnerId); // reverts for an unknown partner
        _funds[partnerId] += amount;
        settlementToken.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(partnerId, msg.sender, amount);
    }

    /// @notice Pays out a partner's free funds (those not backing unsettled issuance) to its
    /// treasury. Only the treasury may call it. Credits of reversals are not free funds until a
    /// settlement has paid them.
    /// @param partnerId The partner.
    /// @param amount Amount to withdraw.
    /// Emits a {Withdrawn} event.
    function withdraw(uint32 partnerId, uint256 amount) external nonReentrant {
        if (amount == 0) revert ClearingZeroAmount();
        address treasury = registry.partner(partnerId).treasury;
        if (msg.sender != treasury) revert ClearingNotTreasury(partnerId, msg.sender);
        uint256 free = freeFundsOf(partnerId);
        if (amount > free) revert ClearingInsufficientFreeFunds(partnerId, free, amount);
        _funds[partnerId] -= amount;
        settlementToken.safeTransfer(treasury, amount);
        emit Withdrawn(partnerId, treasury, amount);
    }

    /// @notice Adds to the operator's account, from which the operator pays net reimbursements.
    /// @param amount Amount pulled from the caller.
    /// Emits an {OperatorFunded} event.
    function fundOperator(uint256 amount) external nonReentrant {
        if (amount == 0) revert ClearingZeroAmount();
        operatorFunds += amount;
        settlementToken.safeTransferFrom(msg.sender, address(this), amount);
        emit OperatorFunded(msg.sender, amount);
    }

    /// @notice Pays out of the operator's account (its spread and breakage).
    /// @param to Receiver.
    /// @param amount Amount.
    /// Emits an {OperatorWithdrawn} event.
    function withdrawOperator(address to, uint256 amount) external onlyRole(OPERATOR_ROLE) nonReentrant {
        if (amount == 0) revert ClearingZeroAmount();
        if (amount > operatorFunds) revert ClearingInsufficientOperatorFunds(operatorFunds, amount);
        operatorFunds -= amount;
        settlementToken.safeTransfer(to, amount);
        emit OperatorWithdrawn(to, amount);
    }

    /// @inheritdoc IClearing
    /// @dev Emits an {IssuanceReserved} event.
    function reserveIssuance(uint32 partnerId, uint256 value, uint256 issuanceLimit) external {
        if (msg.sender != points) revert ClearingOnlyPoints(msg.sender);
        uint256 exposure = _exposure[partnerId] + value;
        uint256 funds = _funds[partnerId];
        if (exposure > funds) revert ClearingIssuanceOverFunds(partnerId, exposure, funds);
        if (exposure > issuanceLimit) revert ClearingIssuanceOverLimit(partnerId, exposure, issuanceLimit);
        _exposure[partnerId] = exposure;
        emit IssuanceReserved(partnerId, value, exposure);
    }

    /// @inheritdoc IClearing
    /// @dev Emits a {ReversalRecorded} event.
    function recordReversal(uint32 partnerId, uint256 value) external {
        if (msg.sender != points) revert ClearingOnlyPoints(msg.sender);
        uint256 pending = _pendingCredit[partnerId] + value;
        _pendingCredit[partnerId] = pending;
        emit ReversalRecorded(partnerId, value, pending);
    }

    /// @notice Settles one period: credits or debits every listed partner by its net, and the
    /// operator by the opposite of their sum. Periods are settled in order, each once, over
    /// contiguous block ranges that end before the current block. No partner can make a period
    /// fail: its debit never exceeds its funds, because its funds always cover its exposure
    /// (every reserve and withdrawal keeps funds >= exposure) and a line's issued plus restored
    /// value may not exceed that exposure.
    /// @param periodId Must be `nextPeriodId`.
    /// @param fromBlock Must be `settledThroughBlock + 1`.
    /// @param toBlock Last block of the period, before the current block.
    /// @param statementHash keccak256 of the period's statement (JSON), for anyone to check.
    /// @param lines One per partner with activity in the period, by strictly increasing id:
    /// the value of the points issued, of the points reversed (each at the issue price stored with
    /// its purchase) and of the points redeemed at the partner (at the reimbursement rate in force
    /// at each redemption), and of the points restored after refunds of till captures (each at
    /// its capture's reimbursement rate). Issued plus restored, and reversed, values cannot
    /// exceed what is unsettled.
    /// Emits a {PartnerSettled} event per partner and a {PeriodSettled} event.
    function settle(
        uint64 periodId,
        uint64 fromBlock,
        uint64 toBlock,
        bytes32 statementHash,
        PartnerNet[] calldata lines
    ) external onlyRole(OPERATOR_ROLE) {
        if (periodId != nextPeriodId) revert ClearingWrongPeriod(periodId, nextPeriodId);
        uint64 expectedFrom = settledThroughBlock + 1;
        if (fromBlock != expectedFrom || toBlock < fromBlock || toBlock >= block.number) {
            revert ClearingBadBlockRange(fromBlock, toBlock, expectedFrom);
        }
        int256 operatorNet = 0;
        uint32 previous = 0;
        for (uint256 i = 0; i < lines.length; ++i) {
            PartnerNet calldata line = lines[i];
            if (line.partnerId <= previous) revert ClearingBadStatement(i);
            previous = line.partnerId;
            registry.partner(line.partnerId); // reverts for a partner that was never onboarded
            operatorNet -= _settlePartner(periodId, line);
        }
        if (operatorNet < 0) {
            uint256 owed = uint256(-operatorNet);
            if (owed > operatorFunds) revert ClearingInsufficientOperatorFunds(operatorFunds, owed);
            operatorFunds -= owed;
        } else {
            operatorFunds += uint256(operatorNet);
        }
        _periods[periodId] = Period(fromBlock, toBlock, statementHash, operatorNet);
        settledThroughBlock = toBlock;
        nextPeriodId = periodId + 1;
        emit PeriodSettled(periodId, fromBlock, toBlock, statementHash, operatorNet);
    }

    /// @notice A partner's funds: deposits plus settled nets minus withdrawals.
    function fundsOf(uint32 partnerId) external view returns (uint256) {
        return _funds[partnerId];
    }

    /// @notice Value of the partner's issuance not yet settled (points x issue price, and points
    /// restored x their capture's reimbursement rate). Reversals
    /// do not lower it: they are credited by the settlement that covers them.
    function exposureOf(uint32 partnerId) external view returns (uint256) {
        return _exposure[partnerId];
    }

    /// @notice Value of the partner's reversals not yet settled: a credit the next settlement pays.
    function pendingCreditOf(uint32 partnerId) external view returns (uint256) {
        return _pendingCredit[partnerId];
    }

    /// @notice Funds a partner may withdraw: those not backing its unsettled issuance.
    function freeFundsOf(uint32 partnerId) public view returns (uint256) {
        uint256 funds = _funds[partnerId];
        uint256 exposure = _exposure[partnerId];
        return exposure >= funds ? 0 : funds - exposure;
    }

    /// @notice The value of new issuance the partner may still reserve: the lower of its funds
    /// and its issuance limit, less its exposure (0 when either bound is reached).
    function headroomOf(uint32 partnerId) external view returns (uint256) {
        uint256 funds = _funds[partnerId];
        uint256 limit = registry.partner(partnerId).issuanceLimit;
        uint256 bound = funds < limit ? funds : limit;
        uint256 exposure = _exposure[partnerId];
        return exposure >= bound ? 0 : bound - exposure;
    }

    /// @notice A settled period (zeroes for one not settled yet).
    function period(uint64 periodId) external view returns (Period memory) {
        return _periods[periodId];
    }

    /// @dev Books one line and returns the partner's net.
    function _settlePartner(uint64 periodId, PartnerNet calldata line) private returns (int256 net) {
        uint32 partnerId = line.partnerId;
        uint256 exposure = _exposure[partnerId];
        uint256 debited = line.issuedValue + line.restoredValue;
        if (debited > exposure) revert ClearingIssuedAboveExposure(partnerId, debited, exposure);
        uint256 pending = _pendingCredit[partnerId];
        if (line.reversedValue > pending) {
            revert ClearingReversedAbovePending(partnerId, line.reversedValue, pending);
        }
        // Cannot underflow: checked just above.
        unchecked {
            _exposure[partnerId] = exposure - debited;
            _pendingCredit[partnerId] = pending - line.reversedValue;
        }
        net = SafeCast.toInt256(line.redeemedValue + line.reversedValue) - SafeCast.toInt256(debited);
        if (net >= 0) {
            _funds[partnerId] += uint256(net);
        } else {
            // Cannot underflow: funds >= exposure >= issued + restored >= -net (see settle's notice).
            _funds[partnerId] -= uint256(-net);
        }
        emit PartnerSettled(
            periodId, partnerId, line.issuedValue, line.reversedValue, line.redeemedValue, line.restoredValue, net
        );
    }
}
