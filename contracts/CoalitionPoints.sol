// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IClearing} from "./interfaces/IClearing.sol";
import {IPartnerRegistry} from "./interfaces/IPartnerRegistry.sol";
import {PurchaseBatches} from "./PurchaseBatches.sol";

/// @title CoalitionPoints
/// @notice The one loyalty point that every partner of the coalition issues and accepts.
/// Integer points (no decimals), ERC-20 with EIP-2612 permit.
///
/// A purchase is one 32-byte word: `customer (160 bits) | seq (48 bits) | points (48 bits)`,
/// where `seq` is the partner's own sequence number for the purchase. Each `(partner, seq)`
/// mints at most once (a bitmap per partner). A batch stores one commitment to the Merkle root
/// of its minted purchases, so that a refund can later prove the purchase and claw back at most
/// its points, with no per-purchase storage at earn time. The same storage slot holds the
/// batch's refund deadline: reversals are accepted only within the refund window in force when
/// the batch was minted, so a partner's key can never claw back old, long-settled purchases.
///
/// Expiry (inactivity): a holder's points expire when the holder has had no activity (points
/// earned, redeemed, reversed, sent or received) for the expiry window. Each holder's account is
/// one storage slot, `expiresAt (64 bits) | balance (192 bits)`, so the earn path writes no more
/// storage than a plain ERC-20. Every movement of a holder's points moves `expiresAt` to
/// `max(expiresAt, now + window)`: a later policy never shortens the life of points already held.
/// Points past their `expiresAt` are burned by the next movement of their holder's points (before
/// it, so they are never spent nor revived) or by anyone's {expire}; nobody can burn them sooner.
/// The window changes only after EXPIRY_NOTICE ({scheduleExpiryWindow}, {applyExpiryWindow}).
/// `balanceOf` and `totalSupply` count expired points until they are burned, with a {Transfer} to
/// the zero address as ERC-20 requires: the balances always sum to the supply and match the events.
contract CoalitionPoints is ERC20, ERC20Permit, AccessControl, Pausable {
    /// @notice Role that pauses and unpauses the token.
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    /// @notice EIP-712 type of a customer's consent to burn points at a partner.
    bytes32 public constant REDEEM_TYPEHASH = keccak256(
        "Redeem(address customer,uint32 partnerId,uint256 points,bytes32 ref,uint256 nonce,uint256 deadline)"
    );
    /// @notice EIP-712 type of a customer's cancellation of one of its {Redeem} consents (by its nonce).
    bytes32 public constant CANCEL_REDEEM_TYPEHASH =
        keccak256("CancelRedeem(address customer,uint256 nonce,uint256 deadline)");

    /// @notice Why {redeemBatchWithSignatures} skipped a consent ({RedemptionSkipped}'s `reason`).
    /// Its deadline passed.
    uint8 public constant SKIP_EXPIRED = 1;
    /// @notice Its nonce was used (redeemed, earlier in the same batch or before) or cancelled.
    uint8 public constant SKIP_NONCE_USED = 2;
    /// @notice Its signature is not the customer's for exactly these fields (or is malformed).
    uint8 public constant SKIP_BAD_SIGNATURE = 3;
    /// @notice Its partner is unknown or suspended.
    uint8 public constant SKIP_PARTNER_NOT_ACTIVE = 4;
    /// @notice Zero points (or, for a till capture, more than a capture's slot holds).
    uint8 public constant SKIP_INVALID_POINTS = 5;
    /// @notice A till capture whose (partner, customer, ref) captured before.
    uint8 public constant SKIP_REF_USED = 6;
    /// @notice The customer's points not expired are fewer than the consent's.
    uint8 public constant SKIP_INSUFFICIENT_BALANCE = 7;

    /// @notice A customer's signed {Redeem} consent as a batch carries it ({redeemBatchWithSignatures}):
    /// the consent's fields, its signature in EIP-2098's compact form (`r`, and `vs`: the y parity in
    /// the top bit of `s`), and whether it is a till capture ({captureWithSignature}) or a redemption
    /// ({redeemWithSignature}). A static struct: nine calldata words, no offsets.
    struct SignedRedeem {
        address customer;
        uint32 partnerId;
        bool capture;
        uint256 points;
        bytes32 ref;
        uint256 nonce;
        uint256 deadline;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice Shortest refund window the operator may set.
    uint64 public constant MIN_REFUND_WINDOW = 14 days;
    /// @notice Longest refund window the operator may set.
    uint64 public constant MAX_REFUND_WINDOW = 365 days;
    /// @notice Shortest expiry window the operator may set.
    uint64 public constant MIN_EXPIRY_WINDOW = 30 days;
    /// @notice Longest expiry window the operator may set.
    uint64 public constant MAX_EXPIRY_WINDOW = 3650 days;
    /// @notice How long after it is scheduled a new expiry window may be applied, at the earliest.
    uint64 public constant EXPIRY_NOTICE = 90 days;

    IPartnerRegistry public immutable registry;
    IClearing public immutable clearing;

    /// @notice Id of the next batch (ids start at 1).
    uint64 public nextBatchId = 1;
    /// @notice How long after a batch is minted its purchases may be reversed (for new batches).
    /// Shares nextBatchId's storage slot: an earn reads both with one load.
    uint64 public refundWindow = 120 days;
    /// @notice How long a holder's points live after the holder's last activity (see the contract's
    /// notice). Shares nextBatchId's storage slot too: the first purchase of a batch loads it.
    uint64 public expiryWindow = 730 days;

    /// @dev An expiry window scheduled by the operator, applicable from `effectiveAt`.
    struct PendingExpiryWindow {
        uint64 window;
        uint64 effectiveAt;
    }

    /// @notice The expiry window scheduled and not applied yet (zeroes: none).
    PendingExpiryWindow public pendingExpiryWindow;
    // the holder's account: expiresAt << 192 | balance (see the contract's notice)
    mapping(address holder => uint256) private _accounts;
    uint256 private _supply;
    uint256 private constant EXPIRES_SHIFT = 192;
    uint256 private constant BALANCE_MASK = (1 << 192) - 1;
    // high 192 bits: of keccak256(partnerId, issuePrice, root); low 64 bits: the refund deadline
    mapping(uint256 batchId => bytes32) private _batchCommitment;
    mapping(uint256 key => uint256) private _mintedBits; // key: partnerId << 64 | seq >> 8
    mapping(uint256 key => uint256) private _reversedPoints; // key: partnerId << 64 | seq
    mapping(address customer => mapping(uint256 word => uint256)) private _redeemNonceBits;
    // key: keccak256(partnerId, customer, ref) of a till capture; value: RESTORABLE_FLAG |
    // points still restorable << 96 | the capture's reimbursement rate (see {captureWithSignature})
    mapping(bytes32 key => uint256) private _restorable;
    uint256 private constant RESTORABLE_FLAG = 1 << 255;
    uint256 private constant RATE_MASK = (1 << 96) - 1;

    /// @notice Points minted for a batch of purchases (a single earn is a batch of one).
    /// @param purchases The purchase words minted, in order (skipped duplicates left out).
    event Earned(
        uint32 indexed partnerId,
        uint256 indexed batchId,
        uint96 issuePrice,
        bytes32 root,
        uint256 points,
        bytes32[] purchases
    );
    /// @notice A purchase of a batch was not minted because its seq was minted before.
    event PurchaseSkipped(uint32 indexed partnerId, uint256 indexed seq, address indexed customer, uint256 points);
    /// @notice A customer spent points at a partner.
    event Redeemed(
        uint32 indexed partnerId, address indexed customer, bytes32 indexed ref, uint256 points, uint96 reimbursementRate
    );
    /// @notice A signed consent of a batch ({redeemBatchWithSignatures}) was not redeemed: nothing of
    /// it changed (its nonce stays unused unless `reason` is SKIP_NONCE_USED).
    /// @param nonce The consent's nonce.
    /// @param reason One of the SKIP_* codes.
    event RedemptionSkipped(
        uint32 indexed partnerId, address indexed customer, bytes32 indexed ref, uint256 nonce, uint8 reason
    );
    /// @notice A customer cancelled redemption consents: the nonces of `mask`'s bits in bitmap word
    /// `word` (nonce = word * 256 + bit) are used from now on, and no consent of theirs can be redeemed.
    event RedeemNoncesCancelled(address indexed customer, uint256 indexed word, uint256 mask);
    /// @notice A partner minted back points of one of its till captures after a refund, at the
    /// capture's reimbursement rate: settlement debits the partner points × rate, the reverse of
    /// the capture's {Redeemed} credit.
    /// @param ref The capture's redemption ref (its {Redeemed} event's).
    /// @param refundRef The partner's or gateway's reference of the refund that gives them back.
    event Restored(
        uint32 indexed partnerId,
        address indexed customer,
        bytes32 indexed ref,
        bytes32 refundRef,
        uint256 points,
        uint96 reimbursementRate
    );
    /// @notice The refund window of batches minted from now on changed.
    event RefundWindowChanged(uint64 refundWindow);
    /// @notice A partner clawed back points of one of its purchases after a refund.
    event Reversed(
        uint32 indexed partnerId,
        address indexed customer,
        uint256 indexed batchId,
        uint256 seq,
        uint256 points,
        uint96 issuePrice
    );

    /// @notice A holder's points expired and were burned (after a {Transfer} to the zero address).
    /// @param points The points burned: the holder's whole balance.
    /// @param expiresAt The holder's expiry time, which the block's time was past.
    event Expired(address indexed holder, uint256 points, uint64 expiresAt);
    /// @notice The operator scheduled a new expiry window, applicable from `effectiveAt`.
    event ExpiryWindowScheduled(uint64 window, uint64 effectiveAt);
    /// @notice The operator cancelled the scheduled expiry window.
    event ExpiryWindowCancelled(uint64 window);
    /// @notice The expiry window in force changed (also emitted at deployment).
    event ExpiryWindowChanged(uint64 window);

    error CoalitionPointsEmptyBatch();
    error CoalitionPointsInvalidPurchase(uint256 index);
    error CoalitionPointsZeroPoints();
    error CoalitionPointsUnknownPurchase(uint32 partnerId, uint256 batchId);
    error CoalitionPointsReversalExceedsPurchase(uint32 partnerId, uint256 seq, uint256 purchased, uint256 reversed);
    error CoalitionPointsRefundWindowClosed(uint256 batchId, uint64 refundDeadline);
    error CoalitionPointsRefundWindowOutOfBounds(uint64 refundWindow);
    error CoalitionPointsExpiredSignature(uint256 deadline);
    error CoalitionPointsInvalidSigner(address signer, address customer);
    error CoalitionPointsNonceUsed(address customer, uint256 nonce);
    error CoalitionPointsExpiryWindowOutOfBounds(uint64 window);
    error CoalitionPointsNoExpiryWindowScheduled();
    error CoalitionPointsExpiryNoticeNotOver(uint64 effectiveAt);
    error CoalitionPointsSupplyOverflow(uint256 supply);
    error CoalitionPointsCaptureRefUsed(uint32 partnerId, address customer, bytes32 ref);
    error CoalitionPointsCaptureTooLarge(uint256 points);
    error CoalitionPointsNotRestorable(uint32 partnerId, address customer, bytes32 ref);
    error CoalitionPointsRestoreExceedsCapture(uint32 partnerId, bytes32 ref, uint256 restorable, uint256 points);
    error CoalitionPointsEmptyCancel();

    /// @param registry_ The partner registry.
    /// @param clearing_ The clearing house that bounds each partner's issuance by its funds.
    /// @param admin Holder of DEFAULT_ADMIN_ROLE.
    /// @param operator Holder of OPERATOR_ROLE (pause).
    constructor(IPartnerRegistry registry_, IClearing clearing_, address admin, address operator)
        ERC20("Coalition Points", "PTS")
        ERC20Permit("Coalition Points")
    {
        registry = registry_;
        clearing = clearing_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(OPERATOR_ROLE, operator);
        emit ExpiryWindowChanged(expiryWindow);
    }

    /// @notice Points are whole numbers.
    function decimals() public pure override returns (uint8) {
        return 0;
    }

    /// @notice The holder's points, expired ones included until they are burned ({expiredPointsOf}).
    function balanceOf(address holder) public view override returns (uint256) {
        return _accounts[holder] & BALANCE_MASK;
    }

    /// @notice All points held, expired ones included until they are burned.
    function totalSupply() public view override returns (uint256) {
        return _supply;
    }

    // ------------------------------------------------------------------ expiry

    /// @notice When the holder's points expire: they may be burned once the block's time is past it
    /// (0: the holder holds nothing, or its last points expired).
    function expiresAtOf(address holder) external view returns (uint64) {
        return uint64(_accounts[holder] >> EXPIRES_SHIFT);
    }

    /// @notice The points of the holder that have expired and not been burned yet: what {expire}
    /// would burn now (0 if none).
    function expiredPointsOf(address holder) external view returns (uint256) {
        uint256 account = _accounts[holder];
        return block.timestamp > account >> EXPIRES_SHIFT ? account & BALANCE_MASK : 0;
    }

    /// @notice Burns the points of each holder whose points have expired (block time past its
    /// {expiresAtOf}); skips the others. Anyone may call it: it burns only what the policy says
    /// has expired, so it can only do what the holder's next activity would do anyway.
    /// @param holders The holders to sweep (duplicates and holders with nothing due are skipped).
    /// @return total The points burned.
    /// Emits a {Transfer} to the zero address and an {Expired} event per holder whose points expired.
    function expire(address[] calldata holders) external whenNotPaused returns (uint256 total) {
        for (uint256 i = 0; i < holders.length; ++i) {
            address holder = holders[i];
            uint256 account = _accounts[holder];
            uint256 points = account & BALANCE_MASK;
            if (points == 0 || block.timestamp <= account >> EXPIRES_SHIFT) continue;
            delete _accounts[holder]; // an expired account keeps nothing: its expiresAt is past
            // Cannot overflow: the sum of balances is the supply.
            unchecked {
                total += points;
            }
            emit Transfer(holder, address(0), points);
            emit Expired(holder, points, uint64(account >> EXPIRES_SHIFT));
        }
        // Cannot underflow: the points burned were part of the supply.
        unchecked {
            _supply -= total;
        }
    }

    // ------------------------------------------------------------------ earn

    /// @notice Mints the points of one purchase. Only an active partner's minter may call it.
    /// @param purchase The purchase word (see the contract's notice).
    /// @return batchId The batch that records it, or 0 if its seq was minted before (skipped).
    /// Emits {Transfer} and {Earned}, or {PurchaseSkipped}.
    function earn(bytes32 purchase) external whenNotPaused returns (uint256 batchId) {
        bytes32[] memory one = new bytes32[](1);
        one[0] = purchase;
        return _earn(one);
    }

    /// @notice Mints the points of a batch of purchases in one transaction. A purchase whose seq
    /// was minted before (in this batch or an earlier one) is skipped with a {PurchaseSkipped}
    /// event; the others are minted. Reverts as a whole only for a malformed purchase, an
    /// inactive partner, or issuance beyond the partner's funds or limit.
    /// @param purchases The purchase words.
    /// @return batchId The batch that records the minted purchases, or 0 if all were skipped.
    /// Emits a {Transfer} per minted purchase, a {PurchaseSkipped} per duplicate, and one {Earned}.
    function earnBatch(bytes32[] calldata purchases) external whenNotPaused returns (uint256 batchId) {
        return _earn(purchases);
    }

    // ------------------------------------------------------------------ redeem

    /// @notice Burns the caller's own points at a partner (the customer's own consent).
    /// @param partnerId The active partner where the points are spent.
    /// @param points How many points.
    /// @param ref The partner's or gateway's reference of the redemption.
    /// Emits {Transfer} and {Redeemed}.
    function redeem(uint32 partnerId, uint256 points, bytes32 ref) external whenNotPaused {
        _redeem(msg.sender, partnerId, points, ref);
    }

    /// @notice Burns a customer's points with the customer's EIP-712 signature of a {Redeem}
    /// (bound to this contract and chain). Anyone may relay it; each nonce works once.
    /// @param customer The points' owner, who signed.
    /// @param partnerId The active partner where the points are spent.
    /// @param points How many points.
    /// @param ref The redemption's reference.
    /// @param nonce Any unused number of the customer's choosing (unordered nonces).
    /// @param deadline Last timestamp at which the signature is valid.
    /// @param signature The customer's 65-byte signature.
    /// Emits {Transfer} and {Redeemed}.
    function redeemWithSignature(
        address customer,
        uint32 partnerId,
        uint256 points,
        bytes32 ref,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external whenNotPaused {
        _useConsent(customer, partnerId, points, ref, nonce, deadline, signature);
        _redeem(customer, partnerId, points, ref);
    }

    /// @notice A till capture: burns a customer's points at a partner as a payment for a purchase,
    /// with the customer's EIP-712 signature of a {Redeem} exactly as {redeemWithSignature}
    /// (same consent, same {Redeemed} event, settled alike), and records the capture as
    /// restorable: if the purchase is refunded, the partner's minter may mint these points back
    /// ({restore}) at this capture's reimbursement rate. Ordinary redemptions store nothing of
    /// the kind; this one costs one more storage slot. Each (partner, customer, ref) captures once.
    /// @param customer The points' owner, who signed.
    /// @param partnerId The active partner where the points pay.
    /// @param points How many points.
    /// @param ref The capture's reference (the redemption's ref).
    /// @param nonce Any unused number of the customer's choosing (unordered nonces).
    /// @param deadline Last timestamp at which the signature is valid.
    /// @param signature The customer's 65-byte signature.
    /// Emits {Transfer} and {Redeemed}.
    function captureWithSignature(
        address customer,
        uint32 partnerId,
        uint256 points,
        bytes32 ref,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external whenNotPaused {
        _useConsent(customer, partnerId, points, ref, nonce, deadline, signature);
        uint96 rate = _redeem(customer, partnerId, points, ref);
        bytes32 key = _restorableKey(partnerId, customer, ref);
        if (_restorable[key] != 0) revert CoalitionPointsCaptureRefUsed(partnerId, customer, ref);
        if (points >> 159 != 0) revert CoalitionPointsCaptureTooLarge(points); // the slot keeps 159 bits
        _restorable[key] = RESTORABLE_FLAG | (points << 96) | rate;
    }

    /// @notice Redeems a batch of customers' signed consents in one transaction, each exactly as
    /// {redeemWithSignature} (or {captureWithSignature} when `capture`) would: the same checks, the
    /// same nonce spent, the same {Transfer} and {Redeemed} events (and a capture's restorable slot).
    /// A consent that would make the single call revert is skipped instead, with a
    /// {RedemptionSkipped} event naming its ref and a SKIP_* reason, and changes nothing; the others
    /// are redeemed, in order (a later consent sees the balance and nonces the earlier ones left).
    /// Anyone may relay it. Reverts as a whole only for an empty batch or while paused. A skip for an
    /// unknown or suspended partner is the registry's call failing: a relayer that starves that call
    /// of gas can make a consent skip (never redeem one wrongly), as it could by not relaying it.
    /// @param consents The signed consents (see {SignedRedeem}).
    /// @return redeemed How many consents were redeemed (the rest were skipped).
    /// Emits {Transfer} and {Redeemed} per consent redeemed, {RedemptionSkipped} per consent skipped.
    function redeemBatchWithSignatures(SignedRedeem[] calldata consents)
        external
        whenNotPaused
        returns (uint256 redeemed)
    {
        if (consents.length == 0) revert CoalitionPointsEmptyBatch();
        uint32 ratePartner = 0; // the partner whose rate was read last (ids start at 1)
        uint96 rate = 0;
        for (uint256 i = 0; i < consents.length; ++i) {
            SignedRedeem calldata c = consents[i];
            uint8 reason = _checkSignedRedeem(c);
            if (reason == 0 && c.partnerId != ratePartner) {
                (bool active, uint96 partnerRate) = _activeRate(c.partnerId);
                if (active) (ratePartner, rate) = (c.partnerId, partnerRate);
                else reason = SKIP_PARTNER_NOT_ACTIVE;
            }
            if (reason == 0 && c.capture) {
                if (c.points >> 159 != 0) reason = SKIP_INVALID_POINTS; // a capture's slot keeps 159 bits
                else if (_restorable[_restorableKey(c.partnerId, c.customer, c.ref)] != 0) reason = SKIP_REF_USED;
            }
            if (reason == 0) {
                uint256 account = _accounts[c.customer];
                uint256 live = block.timestamp > account >> EXPIRES_SHIFT ? 0 : account & BALANCE_MASK;
                if (live < c.points) reason = SKIP_INSUFFICIENT_BALANCE;
            }
            if (reason != 0) {
                emit RedemptionSkipped(c.partnerId, c.customer, c.ref, c.nonce, reason);
                continue;
            }
            _redeemNonceBits[c.customer][c.nonce >> 8] |= 1 << (c.nonce & 0xff);
            _burn(c.customer, c.points);
            emit Redeemed(c.partnerId, c.customer, c.ref, c.points, rate);
            if (c.capture) {
                _restorable[_restorableKey(c.partnerId, c.customer, c.ref)] =
                    RESTORABLE_FLAG | (c.points << 96) | rate;
            }
            // Cannot overflow: at most one per consent.
            unchecked {
                ++redeemed;
            }
        }
    }

    /// @notice Cancels redemption consents the caller signed and wants no one to relay: the nonces
    /// of `mask`'s bits in the caller's bitmap word `word` (nonce = word * 256 + bit) are used from now
    /// on. Cancelling a used nonce changes nothing. Allowed while paused.
    /// @param word The bitmap word (nonce >> 8).
    /// @param mask The bits of the nonces to cancel (bit nonce & 255), at least one.
    /// Emits a {RedeemNoncesCancelled} event.
    function cancelRedeemNonces(uint256 word, uint256 mask) external {
        if (mask == 0) revert CoalitionPointsEmptyCancel();
        _redeemNonceBits[msg.sender][word] |= mask;
        emit RedeemNoncesCancelled(msg.sender, word, mask);
    }

    /// @notice Cancels one of a customer's redemption consents with the customer's EIP-712 signature
    /// of a {CancelRedeem} of its nonce (for a customer with no gas of its own; anyone may relay it).
    /// The nonce is used from then on. Reverts if it is used already (redeemed or cancelled: too late,
    /// or done). Allowed while paused.
    /// @param customer The consent's signer.
    /// @param nonce The nonce of the consent to cancel.
    /// @param deadline Last timestamp at which the cancellation's signature is valid.
    /// @param signature The customer's 65-byte signature of the {CancelRedeem}.
    /// Emits a {RedeemNoncesCancelled} event.
    function cancelRedeemWithSignature(address customer, uint256 nonce, uint256 deadline, bytes calldata signature)
        external
    {
        if (block.timestamp > deadline) revert CoalitionPointsExpiredSignature(deadline);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CANCEL_REDEEM_TYPEHASH, customer, nonce, deadline)));
        address signer = ECDSA.recover(digest, signature);
        if (signer != customer) revert CoalitionPointsInvalidSigner(signer, customer);
        uint256 bit = 1 << (nonce & 0xff);
        uint256 bits = _redeemNonceBits[customer][nonce >> 8];
        if (bits & bit != 0) revert CoalitionPointsNonceUsed(customer, nonce);
        _redeemNonceBits[customer][nonce >> 8] = bits | bit;
        emit RedeemNoncesCancelled(customer, nonce >> 8, bit);
    }

    /// @notice Whether a customer's redemption nonce was used.
    function redeemNonceUsed(address customer, uint256 nonce) external view returns (bool) {
        return _redeemNonceBits[customer][nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    /// @notice Points of a till capture that may still be restored, and the capture's rate
    /// (zeroes for a redemption that was not a capture).
    function restorableOf(uint32 partnerId, address customer, bytes32 ref)
        external
        view
        returns (uint256 points, uint96 reimbursementRate)
    {
        uint256 slot = _restorable[_restorableKey(partnerId, customer, ref)];
        return ((slot & ~RESTORABLE_FLAG) >> 96, uint96(slot & RATE_MASK));
    }

    // ------------------------------------------------------------------ restore

    /// @notice Mints back to the customer points of one of the caller's till captures
    /// ({captureWithSignature}) after a refund of the purchase they paid for. Across calls, the
    /// points restored of a capture never exceed the points it burned. Valued at the capture's own
    /// reimbursement rate: settlement debits the partner points × rate, the reverse of the
    /// capture's credit, so a captured-then-restored payment nets to zero. Like an earn, the value
    /// is reserved against the partner's funds and issuance limit until the settlement that covers it.
    /// @param ref The capture's ref (its {Redeemed} event's).
    /// @param customer The customer whose points the capture burned.
    /// @param points How many points to give back.
    /// @param refundRef The refund's reference (recorded in the event).
    /// Emits {Transfer} and {Restored}.
    function restore(bytes32 ref, address customer, uint256 points, bytes32 refundRef) external whenNotPaused {
        if (points == 0) revert CoalitionPointsZeroPoints();
        (uint32 partnerId,, uint128 limit) = registry.activePartnerOf(msg.sender);
        bytes32 key = _restorableKey(partnerId, customer, ref);
        uint256 slot = _restorable[key];
        if (slot == 0) revert CoalitionPointsNotRestorable(partnerId, customer, ref);
        uint256 restorable = (slot & ~RESTORABLE_FLAG) >> 96;
        if (points > restorable) revert CoalitionPointsRestoreExceedsCapture(partnerId, ref, restorable, points);
        uint96 rate = uint96(slot & RATE_MASK);
        // Cannot underflow: points <= restorable, checked just above.
        unchecked {
            _restorable[key] = RESTORABLE_FLAG | ((restorable - points) << 96) | rate;
        }
        clearing.reserveIssuance(partnerId, points * rate, limit);
        _mint(customer, points);
        emit Restored(partnerId, customer, ref, refundRef, points, rate);
    }

    // ------------------------------------------------------------------ reverse

    /// @notice Claws back up to the points of one of the caller's purchases, after a refund,
    /// until the refund deadline of its batch ({refundDeadlineOf}). Across calls, the points
    /// reversed for a purchase never exceed the points it minted. The value reversed is a credit
    /// to the partner that the next settlement pays; it frees no issuance headroom before then.
    /// @param batchId The batch that minted the purchase (from its {Earned} event).
    /// @param purchase The purchase word, as minted.
    /// @param issuePrice The issue price recorded in the batch's {Earned} event.
    /// @param proof Merkle proof of the purchase in the batch (empty for a batch of one).
    /// @param points How many points to claw back from the customer.
    /// Emits {Transfer} and {Reversed}.
    function reverse(
        uint256 batchId,
        bytes32 purchase,
        uint96 issuePrice,
        bytes32[] calldata proof,
        uint256 points
    ) external whenNotPaused {
        (uint32 partnerId,,) = registry.activePartnerOf(msg.sender);
        bytes32 root = MerkleProof.processProofCalldata(proof, PurchaseBatches.leaf(purchase));
        uint256 stored = uint256(_batchCommitment[batchId]);
        if (uint256(PurchaseBatches.commitment(partnerId, issuePrice, root)) >> 64 != stored >> 64) {
            revert CoalitionPointsUnknownPurchase(partnerId, batchId);
        }
        uint64 deadline = uint64(stored);
        if (block.timestamp > deadline) revert CoalitionPointsRefundWindowClosed(batchId, deadline);
        _reverse(partnerId, batchId, purchase, issuePrice, points);
    }

    /// @notice Points reversed so far for a partner's purchase.
    function reversedPoints(uint32 partnerId, uint256 seq) external view returns (uint256) {
        return _reversedPoints[(uint256(partnerId) << 64) | seq];
    }

    /// @notice Whether a partner's purchase seq was minted.
    function isMinted(uint32 partnerId, uint256 seq) external view returns (bool) {
        return _mintedBits[(uint256(partnerId) << 64) | (seq >> 8)] & (1 << (seq & 0xff)) != 0;
    }

    /// @notice The stored commitment of a batch: the high 192 bits of
    /// keccak256(partnerId, issuePrice, root), its refund deadline in the low 64 bits.
    function batchCommitment(uint256 batchId) external view returns (bytes32) {
        return _batchCommitment[batchId];
    }

    /// @notice The last timestamp at which purchases of a batch may be reversed (0: no such batch).
    function refundDeadlineOf(uint256 batchId) external view returns (uint64) {
        return uint64(uint256(_batchCommitment[batchId]));
    }

    // ------------------------------------------------------------------ operator

    /// @notice Sets the refund window of the batches minted from now on (batches minted before
    /// keep their deadline), within [MIN_REFUND_WINDOW, MAX_REFUND_WINDOW].
    /// @param refundWindow_ The new window, in seconds.
    /// Emits a {RefundWindowChanged} event.
    function setRefundWindow(uint64 refundWindow_) external onlyRole(OPERATOR_ROLE) {
        if (refundWindow_ < MIN_REFUND_WINDOW || refundWindow_ > MAX_REFUND_WINDOW) {
            revert CoalitionPointsRefundWindowOutOfBounds(refundWindow_);
        }
        refundWindow = refundWindow_;
        emit RefundWindowChanged(refundWindow_);
    }

    /// @notice Schedules a new expiry window, applicable ({applyExpiryWindow}) once EXPIRY_NOTICE
    /// has passed, within [MIN_EXPIRY_WINDOW, MAX_EXPIRY_WINDOW]. Replaces a window scheduled
    /// before. Whatever the new window, no holder's {expiresAtOf} ever moves earlier.
    /// @param window The new window, in seconds.
    /// Emits an {ExpiryWindowScheduled} event.
    function scheduleExpiryWindow(uint64 window) external onlyRole(OPERATOR_ROLE) {
        if (window < MIN_EXPIRY_WINDOW || window > MAX_EXPIRY_WINDOW) {
            revert CoalitionPointsExpiryWindowOutOfBounds(window);
        }
        uint64 effectiveAt = uint64(block.timestamp) + EXPIRY_NOTICE;
        pendingExpiryWindow = PendingExpiryWindow(window, effectiveAt);
        emit ExpiryWindowScheduled(window, effectiveAt);
    }

    /// @notice Puts the scheduled expiry window in force once its notice is over. Anyone may call it.
    /// Emits an {ExpiryWindowChanged} event.
    function applyExpiryWindow() external {
        PendingExpiryWindow memory p = pendingExpiryWindow;
        if (p.effectiveAt == 0) revert CoalitionPointsNoExpiryWindowScheduled();
        if (block.timestamp < p.effectiveAt) revert CoalitionPointsExpiryNoticeNotOver(p.effectiveAt);
        delete pendingExpiryWindow;
        expiryWindow = p.window;
        emit ExpiryWindowChanged(p.window);
    }

    /// @notice Cancels the scheduled expiry window.
    /// Emits an {ExpiryWindowCancelled} event.
    function cancelExpiryWindow() external onlyRole(OPERATOR_ROLE) {
        PendingExpiryWindow memory p = pendingExpiryWindow;
        if (p.effectiveAt == 0) revert CoalitionPointsNoExpiryWindowScheduled();
        delete pendingExpiryWindow;
        emit ExpiryWindowCancelled(p.window);
    }

    /// @notice Stops every balance change (earn, redeem, capture, restore, reverse,
    /// transfer, expire).
    /// Emits a {Paused} event.
    function pause() external onlyRole(OPERATOR_ROLE) {
        _pause();
    }

    /// @notice Resumes balance changes.
    /// Emits an {Unpaused} event.
    function unpause() external onlyRole(OPERATOR_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------ internals

    function _earn(bytes32[] memory purchases) private returns (uint256 batchId) {
        if (purchases.length == 0) revert CoalitionPointsEmptyBatch();
        (uint32 partnerId, uint96 issuePrice, uint128 limit) = registry.activePartnerOf(msg.sender);
        bytes32[] memory leaves = new bytes32[](purchases.length);
        (uint256 minted, uint256 total) = _mintNew(partnerId, purchases, leaves);
        if (minted == 0) return 0;
        clearing.reserveIssuance(partnerId, total * issuePrice, limit);
        bytes32 root = PurchaseBatches.merkleRoot(leaves, minted);
        batchId = nextBatchId++;
        // the deadline fits 64 bits for billions of years; the hash keeps its high 192 bits
        uint256 deadline = block.timestamp + refundWindow;
        _batchCommitment[batchId] =
            bytes32((uint256(PurchaseBatches.commitment(partnerId, issuePrice, root)) >> 64 << 64) | deadline);
        assembly ("memory-safe") {
            mstore(purchases, minted) // shorten the array to the minted words
        }
        emit Earned(partnerId, batchId, issuePrice, root, total, purchases);
    }

    /// @dev Mints every purchase whose seq is new, skips the others. Moves the minted words to
    /// the front of `purchases` and writes their leaves to `leaves`. Consecutive seqs share a
    /// bitmap word, which is read and written once.
    function _mintNew(uint32 partnerId, bytes32[] memory purchases, bytes32[] memory leaves)
        private
        returns (uint256 minted, uint256 total)
    {
        uint256 bitsKey = type(uint256).max; // no bitmap word loaded yet
        uint256 bits = 0;
        for (uint256 i = 0; i < purchases.length; ++i) {
            bytes32 word = purchases[i];
            (address customer, uint256 seq, uint256 points) = PurchaseBatches.decode(word);
            if (customer == address(0) || points == 0) revert CoalitionPointsInvalidPurchase(i);
            if ((uint256(partnerId) << 64) | (seq >> 8) != bitsKey) {
                if (bitsKey != type(uint256).max) _mintedBits[bitsKey] = bits;
                bitsKey = (uint256(partnerId) << 64) | (seq >> 8);
                bits = _mintedBits[bitsKey];
            }
            if (bits & (1 << (seq & 0xff)) != 0) {
                emit PurchaseSkipped(partnerId, seq, customer, points);
                continue;
            }
            bits |= 1 << (seq & 0xff);
            _mint(customer, points);
            purchases[minted] = word; // minted <= i: never overwrites a word not yet read
            leaves[minted] = PurchaseBatches.leaf(word);
            // Cannot overflow: fewer than 2^64 purchases of under 2^48 points each.
            unchecked {
                total += points;
                ++minted;
            }
        }
        _mintedBits[bitsKey] = bits;
    }

    function _reverse(uint32 partnerId, uint256 batchId, bytes32 purchase, uint96 issuePrice, uint256 points)
        private
    {
        if (points == 0) revert CoalitionPointsZeroPoints();
        (address customer, uint256 seq, uint256 purchased) = PurchaseBatches.decode(purchase);
        uint256 key = (uint256(partnerId) << 64) | seq;
        uint256 reversed = _reversedPoints[key] + points;
        if (reversed > purchased) revert CoalitionPointsReversalExceedsPurchase(partnerId, seq, purchased, reversed);
        _reversedPoints[key] = reversed;
        _burn(customer, points);
        clearing.recordReversal(partnerId, points * issuePrice);
        emit Reversed(partnerId, customer, batchId, seq, points, issuePrice);
    }

    function _redeem(address customer, uint32 partnerId, uint256 points, bytes32 ref) private returns (uint96 rate) {
        if (points == 0) revert CoalitionPointsZeroPoints();
        rate = registry.reimbursementRateOf(partnerId); // reverts unless the partner is active
        _burn(customer, points);
        emit Redeemed(partnerId, customer, ref, points, rate);
    }

    /// @dev Checks a customer's signed {Redeem} consent and spends its nonce.
    function _useConsent(
        address customer,
        uint32 partnerId,
        uint256 points,
        bytes32 ref,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) private {
        if (block.timestamp > deadline) revert CoalitionPointsExpiredSignature(deadline);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(REDEEM_TYPEHASH, customer, partnerId, points, ref, nonce, deadline))
        );
        address signer = ECDSA.recover(digest, signature);
        if (signer != customer) revert CoalitionPointsInvalidSigner(signer, customer);
        uint256 bit = 1 << (nonce & 0xff);
        uint256 bits = _redeemNonceBits[customer][nonce >> 8];
        if (bits & bit != 0) revert CoalitionPointsNonceUsed(customer, nonce);
        _redeemNonceBits[customer][nonce >> 8] = bits | bit;
    }

    /// @dev The first reason (a SKIP_* code) a batch must skip a signed consent for, of those that
    /// need no other contract: 0 if there is none. Reads and writes nothing but the nonce's word.
    function _checkSignedRedeem(SignedRedeem calldata c) private view returns (uint8) {
        if (block.timestamp > c.deadline) return SKIP_EXPIRED;
        if (c.points == 0) return SKIP_INVALID_POINTS;
        if (_redeemNonceBits[c.customer][c.nonce >> 8] & (1 << (c.nonce & 0xff)) != 0) return SKIP_NONCE_USED;
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(REDEEM_TYPEHASH, c.customer, c.partnerId, c.points, c.ref, c.nonce, c.deadline))
        );
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, c.r, c.vs);
        if (err != ECDSA.RecoverError.NoError || signer != c.customer) return SKIP_BAD_SIGNATURE;
        return 0;
    }

    /// @dev (true, its reimbursement rate) for an active partner; (false, 0) if the registry refuses.
    function _activeRate(uint32 partnerId) private view returns (bool active, uint96 rate) {
        try registry.reimbursementRateOf(partnerId) returns (uint96 r) {
            return (true, r);
        } catch {
            return (false, 0);
        }
    }

    function _restorableKey(uint32 partnerId, address customer, bytes32 ref) private pure returns (bytes32) {
        return keccak256(abi.encode(partnerId, customer, ref));
    }

    /// @dev The one path of every balance change but {expire}'s; blocked while paused. Replaces
    /// ERC20._update (whose storage it does not use): the points of `from` and of `to` that have
    /// expired are burned first, then `value` moves, and a movement (value > 0) is activity for
    /// both sides: their expiresAt becomes max(expiresAt, now + window).
    function _update(address from, address to, uint256 value) internal override whenNotPaused {
        uint256 expiresAt = block.timestamp + expiryWindow; // fits 64 bits for billions of years
        if (from == address(0)) {
            uint256 supply = _supply + value;
            if (supply > BALANCE_MASK) revert CoalitionPointsSupplyOverflow(supply);
            _supply = supply;
        } else {
            uint256 account = _live(from);
            uint256 balance = account & BALANCE_MASK;
            if (balance < value) revert ERC20InsufficientBalance(from, balance, value);
            // Cannot underflow: checked just above.
            unchecked {
                _accounts[from] = _touched(account - value, value, expiresAt);
            }
        }
        if (to == address(0)) {
            // Cannot underflow: value was in from's balance, which is part of the supply.
            unchecked {
                _supply -= value;
            }
        } else {
            // Cannot overflow into expiresAt: a balance is at most the supply, kept within BALANCE_MASK.
            unchecked {
                _accounts[to] = _touched(_live(to) + value, value, expiresAt);
            }
        }
        emit Transfer(from, to, value);
    }

    /// @dev The holder's account once its expired points, if any, are burned (not stored yet).
    /// Emits a {Transfer} to the zero address and an {Expired} event if they were.
    function _live(address holder) private returns (uint256 account) {
        account = _accounts[holder];
        uint256 points = account & BALANCE_MASK;
        if (points == 0 || block.timestamp <= account >> EXPIRES_SHIFT) return account;
        // Cannot underflow: the holder's points are part of the supply.
        unchecked {
            _supply -= points;
        }
        emit Transfer(holder, address(0), points);
        emit Expired(holder, points, uint64(account >> EXPIRES_SHIFT));
        return 0;
    }

    /// @dev The account after a movement of `value`: a movement (value > 0) pushes its expiresAt
    /// out to `expiresAt` if that is later; nothing ever moves it earlier.
    function _touched(uint256 account, uint256 value, uint256 expiresAt) private pure returns (uint256) {
        if (value == 0 || expiresAt <= account >> EXPIRES_SHIFT) return account;
        return (expiresAt << EXPIRES_SHIFT) | (account & BALANCE_MASK);
    }
}
