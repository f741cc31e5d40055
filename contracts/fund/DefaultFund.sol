// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IComplianceRegistry} from "../interfaces/IComplianceRegistry.sol";
import {Action, ActionKind, Approval, EngineStatus, IDefaultFund, MemberStatus} from "../interfaces/IDefaultFund.sol";
import {Signatures} from "../utils/Signatures.sol";

/// @title DefaultFund
/// @notice The members' mutualised default fund. See {IDefaultFund}.
/// @dev Key concepts:
///      - Shares. A member owns `shares`; the pool holds `totalAssets` cash against
///        `totalShares`. `balanceOf(m) = floor(shares(m) * totalAssets / totalShares)`. A first
///        contribution (empty pool) mints `INITIAL_SHARES_PER_UNIT` shares per unit, so one
///        share is worth far less than a unit and rounding never costs a member more than one
///        unit. Contributions mint `floor(amount * totalShares / totalAssets)` shares and
///        withdrawals burn `ceil(amount * totalShares / totalAssets)`: rounding always favours
///        the members who stay, so the value of a share only falls by a draw.
///      - Waterfall without loops. The defaulter's shares are burnt for its part (all of them
///        when its balance does not cover the loss); the survivors' part lowers `totalAssets`
///        alone, which lowers every remaining member's balance pro rata to its shares, hence to
///        its balance. When that takes the last unit, `epoch` increments and `totalShares`
///        restarts from zero: a member's stored shares count only in the epoch they were minted.
///      - Dust. Balances round down, so their sum is below `totalAssets` by less than one unit
///        per member. The dust stays in `totalAssets`: nobody can withdraw it (a withdrawal is
///        bounded by a rounded-down balance), it backs the shares (raising their value a hair),
///        and it is paid out like any other asset, by the waterfall or to the last shareholder.
///      - Governance. {execute} checks a deadline, the fund-wide nonce and `threshold` member
///        signatures over the EIP-712 digest of the action, then dispatches on its kind. Members
///        are the only signers; there is no admin role. An action is `(kind, params, nonce,
///        deadline)` with `params = abi.encode(...)` per kind (see {ActionKind}); signers sign
///        `keccak256(params)` inside the typed struct, so one typehash covers every kind and a
///        new kind needs no new typehash. Approvals are sorted by signer, which makes
///        duplicates detectable in one pass; EOAs are checked with ECDSA, contract members
///        (e.g. a bank's own multisig) with ERC-1271.
///      - Storage. One slot per member (shares, open IM, epoch, flags) and a second one for the
///        requirement governance adopted for it, read only while it has open IM; one for the pool
///        (assets, shares), one for the rules, nonce and member count, one for the last draw
///        and the replenishment window: a 2-of-3 withdrawal reads five cold slots of the fund. Limits: pool and member shares and assets below 2^128, open IM
///        below 2^96, the floor and members' own requirements below 2^96, 65,535 exhaustions;
///        beyond them calls revert.
///
///      Invariants (tested in tests/fund/test_fund_properties.py):
///      - cash.balanceOf(fund) == totalAssets + surplus, and surplus changes only by direct
///        transfers to the fund and {ActionKind.ReleaseSurplus};
///      - totalShares == sum of sharesOf over every member (current epoch);
///      - totalAssets - k < sum of balanceOf over every member <= totalAssets, where k is the
///        number of members holding shares (the dust);
///      - a claim pays at most `totalAssets` before it, and never more than the loss;
///      - a survivors' tranche lowers every other member's balance in proportion to it (within
///        one unit of rounding);
///      - cash leaves the fund only through {claim} (to a registered engine) and {execute};
///      - adopting members' own requirements ({ActionKind.SetMemberRequirements}) moves no cash
///        and changes no share, balance or total; a member's requirement is
///        `max(floor, ceil(bps * openIm), openIm > 0 ? own : 0)`, and {onTradeOpened} accepts
///        exactly when an unflagged member's balance meets it with the new IM.
contract DefaultFund is IDefaultFund, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @inheritdoc IDefaultFund
    uint256 public constant MIN_THRESHOLD = 2;
    /// @inheritdoc IDefaultFund
    uint256 public constant INITIAL_SHARES_PER_UNIT = 1e6;
    uint256 private constant BPS = 10_000;

    bytes32 public constant ACTION_TYPEHASH =
        keccak256("Action(uint8 kind,bytes params,uint256 nonce,uint256 deadline)");

    /// @dev What the fund stores per member: one slot, read by every signature check, so a
    ///      withdrawal finds the member's shares and requirement already warm.
    struct MemberRecord {
        /// Valid only while `epoch` equals the fund's epoch.
        uint128 shares;
        /// Sum of the IM of the member's open trades (up to 7.9e28 units).
        uint96 openIm;
        uint16 epoch;
        bool joined;
        bool flagged;
        /// The member's own minimum requirement ({ActionKind.SetMemberRequirements}). The first
        /// slot is full (128 + 96 + 16 + 8 + 8 bits), so it opens a second one, read only when
        /// the member has open IM: joining, contributing and claims do not pay for it.
        uint96 requirement;
    }

    /// @dev The pool, in one slot. 2^128 units of cash or shares are beyond any real fund; a
    ///      contribution that would overflow reverts (SafeCast).
    struct Pool {
        uint128 assets;
        uint128 shares;
    }

    IComplianceRegistry public immutable registry;
    IERC20 public immutable cash;

    // One slot, read by every governance action (the threshold needs the member count).
    /// @inheritdoc IDefaultFund
    uint96 public floorAmount;
    /// @inheritdoc IDefaultFund
    uint64 public nonce;
    /// @inheritdoc IDefaultFund
    uint16 public thresholdBps;
    /// @inheritdoc IDefaultFund
    uint16 public requirementBps;
    /// @inheritdoc IDefaultFund
    uint16 public epoch;
    /// @inheritdoc IDefaultFund
    uint32 public memberCount;

    // One slot, written by every draw: the window is set at construction, so the first draw's
    // write is not a fresh slot's.
    /// @inheritdoc IDefaultFund
    uint40 public lastDrawAt;
    /// @inheritdoc IDefaultFund
    uint32 public replenishmentWindow;

    Pool private _pool;

    /// @inheritdoc IDefaultFund
    mapping(address engine => EngineStatus) public engineStatusOf;
    /// @inheritdoc IDefaultFund
    mapping(address defaulter => mapping(address survivor => uint256)) public unpaidClaimOf;
    /// @inheritdoc IDefaultFund
    mapping(address defaulter => uint256) public totalUnpaidClaimsOn;

    mapping(address member => MemberRecord) private _members;

    /// @param registry_ The shared compliance registry (members must be `Active` to join).
    /// @param cash_ The cash token contributions are made in.
    /// @param thresholdBps_ Share of the members whose approvals an action needs, in basis points
    ///        (more than half; see {threshold}).
    /// @param requirementBps_ Requirement per unit of open initial margin, in basis points.
    /// @param floorAmount_ Smallest requirement of any member, in cash units.
    /// @param replenishmentWindow_ Seconds members have to top up after a draw.
    /// @param engines The first registered engines; afterwards only governance registers.
    constructor(
        IComplianceRegistry registry_,
        IERC20 cash_,
        uint256 thresholdBps_,
        uint256 requirementBps_,
        uint256 floorAmount_,
        uint256 replenishmentWindow_,
        address[] memory engines
    ) EIP712("DefaultFund", "1") {
        registry = registry_;
        cash = cash_;
        _setThreshold(thresholdBps_);
        _setRequirement(requirementBps_, floorAmount_);
        _setReplenishmentWindow(replenishmentWindow_);
        for (uint256 i = 0; i < engines.length; ++i) {
            _registerEngine(engines[i]);
        }
    }

    // ================================================================== members

    /// @inheritdoc IDefaultFund
    function join(uint256 amount) external nonReentrant returns (uint256 shares) {
        MemberRecord storage m = _members[msg.sender];
        if (m.joined) revert FundAlreadyMember(msg.sender);
        registry.requireActive(msg.sender);
        m.joined = true;
        memberCount += 1;
        shares = _mint(m, amount);
        uint256 balance = _balance(m);
        uint256 requirement = _requirement(m);
        if (balance < requirement) revert FundBelowRequirement(msg.sender, balance, requirement);
        emit MemberJoined(msg.sender, amount, shares);
        cash.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IDefaultFund
    function contribute(uint256 amount) external nonReentrant returns (uint256 shares) {
        MemberRecord storage m = _members[msg.sender];
        if (!m.joined) revert FundNotMember(msg.sender);
        shares = _mint(m, amount);
        emit Contributed(msg.sender, amount, shares);
        if (m.flagged) {
            uint256 balance = _balance(m);
            if (balance >= _requirement(m)) {
                m.flagged = false;
                emit MemberReinstated(msg.sender, balance);
            }
        }
        cash.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IDefaultFund
    /// @dev The window is the fund's, from its last draw: a later draw opens a new window for
    ///      everyone. A member below its requirement for another reason (new trades) is flagged
    ///      the same way once a window after a draw has passed.
    function flagMissedReplenishment(address member) external {
        uint256 drawAt = lastDrawAt;
        uint256 deadline = drawAt + replenishmentWindow;
        if (drawAt == 0 || block.timestamp <= deadline) {
            revert FundReplenishmentWindowOpen(drawAt == 0 ? 0 : deadline, block.timestamp);
        }
        MemberRecord storage m = _members[member];
        if (!m.joined) revert FundNotMember(member);
        uint256 balance = _balance(m);
        uint256 requirement = _requirement(m);
        if (m.flagged || balance >= requirement) revert FundNotShort(member, balance, requirement);
        m.flagged = true;
        emit MemberFlagged(member, balance, requirement, msg.sender);
    }

    // ================================================================== engines

    /// @inheritdoc IDefaultFund
    function onTradeOpened(address member, uint256 imAmount) external {
        EngineStatus status = engineStatusOf[msg.sender];
        if (status != EngineStatus.Registered) revert FundNotEngine(msg.sender, status);
        MemberRecord storage m = _members[member];
        if (!m.joined) revert FundNotMember(member);
        uint256 openIm = m.openIm + imAmount;
        m.openIm = openIm.toUint96();
        // The requirement counts the new IM: a member must be covered for the risk it adds.
        uint256 balance = _balance(m);
        uint256 requirement = _requirement(m);
        if (m.flagged || balance < requirement) {
            revert FundNotInGoodStanding(member, m.flagged, balance, requirement);
        }
        emit OpenMarginChanged(msg.sender, member, true, imAmount, openIm);
    }

    /// @inheritdoc IDefaultFund
    /// @dev A deregistered engine may still report closures, to wind down what it opened.
    function onTradeClosed(address member, uint256 imAmount) external {
        EngineStatus status = engineStatusOf[msg.sender];
        if (status == EngineStatus.None) revert FundNotEngine(msg.sender, status);
        MemberRecord storage m = _members[member];
        uint256 openIm = m.openIm;
        if (imAmount > openIm) revert FundCloseExceedsOpen(member, openIm, imAmount);
        unchecked {
            // imAmount <= openIm < 2^96, checked above.
            openIm -= imAmount;
        }
        m.openIm = uint96(openIm);
        emit OpenMarginChanged(msg.sender, member, false, imAmount, openIm);
    }

    /// @inheritdoc IDefaultFund
    /// @dev A deregistered engine still claims: deregistration stops new trades, never the
    ///      cover of trades members accepted while it was registered.
    function claim(address defaulter, address survivor, uint256 loss) external nonReentrant returns (uint256 paid) {
        EngineStatus status = engineStatusOf[msg.sender];
        if (status == EngineStatus.None) revert FundNotEngine(msg.sender, status);
        if (loss == 0) revert FundZeroAmount();
        if (defaulter == survivor) revert FundInvalidClaim(defaulter, survivor);

        (uint256 fromDefaulter, uint256 fromSurvivors, uint256 burnt) = _absorb(defaulter, loss);
        paid = fromDefaulter + fromSurvivors;
        uint256 unpaid = loss - paid;
        if (unpaid > 0) {
            unpaidClaimOf[defaulter][survivor] += unpaid;
            totalUnpaidClaimsOn[defaulter] += unpaid;
        }
        emit DefaultClaimed(msg.sender, defaulter, survivor, loss, fromDefaulter, fromSurvivors, unpaid, burnt);
        if (paid > 0) {
            lastDrawAt = uint40(block.timestamp);
            emit ReplenishmentRequested(block.timestamp + replenishmentWindow);
            cash.safeTransfer(msg.sender, paid);
        }
    }

    // ================================================================== governance

    /// @inheritdoc IDefaultFund
    /// @dev No reentrancy guard: the nonce is consumed and every effect applied before the only
    ///      external calls (ERC-1271 checks are static calls; the final transfer goes to the cash
    ///      token fixed at construction), so a reentrant call could only run another action with
    ///      its own approvals. Saves the guard's ~2,300 gas on every governance action.
    function execute(Action calldata action, Approval[] calldata approvals) external {
        bytes32 digest = _verify(action, approvals);
        emit ActionExecuted(action.nonce, action.kind, digest);
        _dispatch(action, approvals);
    }

    /// @inheritdoc IDefaultFund
    function hashAction(Action calldata action) external view returns (bytes32) {
        return _hashAction(action);
    }

    /// @notice The EIP-712 domain separator actions are signed under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ================================================================== views

    /// @inheritdoc IDefaultFund
    function threshold() public view returns (uint256) {
        // memberCount < 2^32 and thresholdBps <= 10,000: the product fits.
        uint256 required = Math.ceilDiv(uint256(memberCount) * thresholdBps, BPS);
        return required < MIN_THRESHOLD ? MIN_THRESHOLD : required;
    }

    /// @inheritdoc IDefaultFund
    function statusOf(address member) public view returns (MemberStatus) {
        MemberRecord storage m = _members[member];
        if (!m.joined) return MemberStatus.None;
        if (m.flagged) return MemberStatus.Flagged;
        if (_balance(m) < _requirement(m)) return MemberStatus.BelowRequirement;
        return MemberStatus.GoodStanding;
    }

    /// @inheritdoc IDefaultFund
    function isInGoodStanding(address member) external view returns (bool) {
        return statusOf(member) == MemberStatus.GoodStanding;
    }

    /// @inheritdoc IDefaultFund
    function isMember(address account) external view returns (bool) {
        return _members[account].joined;
    }

    /// @inheritdoc IDefaultFund
    function balanceOf(address member) external view returns (uint256) {
        return _balance(_members[member]);
    }

    /// @inheritdoc IDefaultFund
    function sharesOf(address member) external view returns (uint256) {
        return _shares(_members[member]);
    }

    /// @inheritdoc IDefaultFund
    function requirementOf(address member) external view returns (uint256) {
        return _requirement(_members[member]);
    }

    /// @inheritdoc IDefaultFund
    function memberRequirementOf(address member) external view returns (uint256) {
        return _members[member].requirement;
    }

    /// @inheritdoc IDefaultFund
    function openImOf(address member) external view returns (uint256) {
        return _members[member].openIm;
    }

    /// @inheritdoc IDefaultFund
    function totalAssets() public view returns (uint256) {
        return _pool.assets;
    }

    /// @inheritdoc IDefaultFund
    function totalShares() external view returns (uint256) {
        return _pool.shares;
    }

    /// @inheritdoc IDefaultFund
    function surplus() public view returns (uint256) {
        // totalAssets never exceeds the cash held: it grows only with cash received.
        return cash.balanceOf(address(this)) - _pool.assets;
    }

    // ================================================================== internals: shares

    function _shares(MemberRecord storage m) private view returns (uint256) {
        return m.epoch == epoch ? m.shares : 0;
    }

    function _balance(MemberRecord storage m) private view returns (uint256) {
        uint256 shares = _shares(m);
        if (shares == 0) return 0;
        Pool memory pool = _pool;
        return Math.mulDiv(shares, pool.assets, pool.shares);
    }

    /// @dev `max(floor, ceil(bps * openIm), adopted)`, the adopted one only while IM is open (see
    ///      {IDefaultFund-memberRequirementOf}); without open IM the second slot is not read.
    function _requirement(MemberRecord storage m) private view returns (uint256) {
        uint256 openIm = m.openIm;
        uint256 required = floorAmount;
        if (openIm == 0) return required;
        uint256 fromIm = Math.mulDiv(openIm, requirementBps, BPS, Math.Rounding.Ceil);
        if (fromIm > required) required = fromIm;
        uint256 adopted = m.requirement;
        return adopted > required ? adopted : required;
    }

    /// @dev Adds `amount` to the pool for `m`; rounds the shares down (in the pool's favour).
    function _mint(MemberRecord storage m, uint256 amount) private returns (uint256 shares) {
        if (amount == 0) revert FundZeroAmount();
        Pool memory pool = _pool;
        // An empty pool (no shares) may still hold dust: the newcomer gets it.
        shares = pool.shares == 0 ? amount * INITIAL_SHARES_PER_UNIT : Math.mulDiv(amount, pool.shares, pool.assets);
        if (shares == 0) revert FundZeroShares(amount);
        uint16 current = epoch;
        uint256 held = m.epoch == current ? m.shares : 0;
        // Member shares <= pool shares, so the pool's cast below covers the member's.
        m.shares = uint128(held + shares);
        m.epoch = current;
        _pool = Pool((pool.assets + amount).toUint128(), (pool.shares + shares).toUint128());
    }

    /// @dev The waterfall's arithmetic: burns the defaulter's shares for its part, then lowers
    ///      the pool for the survivors' part. Constant cost: no loop over members.
    function _absorb(address defaulter, uint256 loss)
        private
        returns (uint256 fromDefaulter, uint256 fromSurvivors, uint256 burnt)
    {
        Pool memory pool = _pool;
        uint256 assets = pool.assets;
        uint256 supply = pool.shares;
        MemberRecord storage m = _members[defaulter];
        // Engines trade only between members; anything else is an engine bug, not a default.
        if (!m.joined) revert FundNotMember(defaulter);
        uint256 held = _shares(m);
        if (held > 0) {
            uint256 balance = Math.mulDiv(held, assets, supply);
            if (loss >= balance) {
                (fromDefaulter, burnt) = (balance, held);
            } else {
                // loss < balance <= held * assets / supply, so burnt <= held.
                (fromDefaulter, burnt) = (loss, Math.mulDiv(loss, supply, assets, Math.Rounding.Ceil));
            }
            unchecked {
                // burnt <= held <= supply; fromDefaulter <= balance <= assets.
                m.shares = uint128(held - burnt);
                supply -= burnt;
                assets -= fromDefaulter;
            }
        }
        uint256 rest = loss - fromDefaulter;
        if (rest > 0 && assets > 0) {
            fromSurvivors = rest < assets ? rest : assets;
            unchecked {
                // fromSurvivors <= assets.
                assets -= fromSurvivors;
            }
            if (assets == 0) {
                // Every remaining share is now worth nothing: void them all at once.
                supply = 0;
                uint16 next = epoch + 1;
                epoch = next;
                emit FundExhausted(next);
            }
        }
        // Both only fell, from values that fit.
        _pool = Pool(uint128(assets), uint128(supply));
    }

    // ================================================================== internals: governance

    function _hashAction(Action calldata action) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(ACTION_TYPEHASH, action.kind, keccak256(action.params), action.nonce, action.deadline))
        );
    }

    /// @dev Deadline, nonce (then consumed), and `threshold` distinct member signatures.
    function _verify(Action calldata action, Approval[] calldata approvals) private returns (bytes32 digest) {
        if (block.timestamp > action.deadline) revert FundApprovalExpired(action.deadline, block.timestamp);
        uint256 expected = nonce;
        if (action.nonce != expected) revert FundInvalidNonce(expected, action.nonce);
        uint256 required = threshold();
        if (approvals.length < required) revert FundNotEnoughApprovals(approvals.length, required);
        nonce = uint64(expected + 1);

        digest = _hashAction(action);
        address previous = address(0);
        for (uint256 i = 0; i < approvals.length; ++i) {
            address signer = approvals[i].signer;
            if (signer <= previous) {
                if (signer == previous) revert FundDuplicateApproval(signer);
                revert FundApprovalsNotSorted(previous, signer);
            }
            if (!_members[signer].joined) revert FundSignerNotMember(signer);
            if (!Signatures.isValidCalldata(signer, digest, approvals[i].signature)) revert FundInvalidSignature(signer);
            previous = signer;
        }
    }


    function _dispatch(Action calldata action, Approval[] calldata approvals) private {
        ActionKind kind = action.kind;
        bytes calldata params = action.params;
        if (kind == ActionKind.Withdraw) {
            if (params.length != 64) revert FundInvalidAction(kind);
            (address member, uint256 amount) = abi.decode(params, (address, uint256));
            _withdraw(member, amount, approvals);
        } else if (kind == ActionKind.SetThreshold) {
            if (params.length != 32) revert FundInvalidAction(kind);
            _setThreshold(abi.decode(params, (uint256)));
        } else if (kind == ActionKind.SetRequirement) {
            if (params.length != 64) revert FundInvalidAction(kind);
            (uint256 bps, uint256 floor_) = abi.decode(params, (uint256, uint256));
            _setRequirement(bps, floor_);
        } else if (kind == ActionKind.SetReplenishmentWindow) {
            if (params.length != 32) revert FundInvalidAction(kind);
            _setReplenishmentWindow(abi.decode(params, (uint256)));
        } else if (kind == ActionKind.RegisterEngine) {
            if (params.length != 32) revert FundInvalidAction(kind);
            // New risk for every member's balance: every member consents, as a withdrawal needs
            // the consent of the member whose money it moves. The approvals are distinct members.
            uint256 members = memberCount;
            if (approvals.length < members) revert FundRegistrationNotUnanimous(approvals.length, members);
            _registerEngine(abi.decode(params, (address)));
        } else if (kind == ActionKind.DeregisterEngine) {
            if (params.length != 32) revert FundInvalidAction(kind);
            _deregisterEngine(abi.decode(params, (address)));
        } else if (kind == ActionKind.ReleaseSurplus) {
            if (params.length != 32) revert FundInvalidAction(kind);
            _releaseSurplus(abi.decode(params, (address)));
        } else if (kind == ActionKind.SetMemberRequirements) {
            // Two offsets and two lengths at least; abi.decode checks the rest of the layout.
            if (params.length < 128) revert FundInvalidAction(kind);
            (address[] memory members, uint256[] memory amounts) = abi.decode(params, (address[], uint256[]));
            // Only the canonical encoding (heads 64 and 96 + 32 * members, nothing after the
            // amounts): one list of values has one params, hence one digest to approve.
            if (
                params.length != 128 + 32 * (members.length + amounts.length)
                    || uint256(bytes32(params[0:32])) != 64
                    || uint256(bytes32(params[32:64])) != 96 + 32 * members.length
            ) revert FundInvalidAction(kind);
            _setMemberRequirements(members, amounts);
        } else {
            revert FundInvalidAction(kind);
        }
    }

    /// @dev Pays `amount` of `member`'s balance back to it, provided what is left meets its
    ///      requirement; burns shares rounded up (in the pool's favour).
    function _withdraw(address member, uint256 amount, Approval[] calldata approvals) private {
        if (amount == 0) revert FundZeroAmount();
        if (!_approvedBy(approvals, member)) revert FundWithdrawalNotApprovedByMember(member);
        MemberRecord storage m = _members[member];
        uint256 held = _shares(m);
        Pool memory pool = _pool;
        uint256 assets = pool.assets;
        uint256 supply = pool.shares;
        uint256 balance = held == 0 ? 0 : Math.mulDiv(held, assets, supply);
        uint256 requirement = _requirement(m);
        if (amount > balance) revert FundWithdrawalExceedsExcess(member, balance, requirement, amount);
        uint256 burnt;
        unchecked {
            // amount <= balance <= held * assets / supply, so burnt <= held <= supply and
            // amount <= assets.
            burnt = Math.mulDiv(amount, supply, assets, Math.Rounding.Ceil);
            held -= burnt;
            supply -= burnt;
            assets -= amount;
        }
        // Checked on the balance left, which the rounding of the burn can put a unit below
        // `balance - amount`.
        uint256 left = held == 0 ? 0 : Math.mulDiv(held, assets, supply);
        if (left < requirement) revert FundWithdrawalExceedsExcess(member, balance, requirement, amount);
        m.shares = uint128(held);
        _pool = Pool(uint128(assets), uint128(supply));
        emit Withdrawn(member, amount, burnt);
        cash.safeTransfer(member, amount);
    }

    function _approvedBy(Approval[] calldata approvals, address account) private pure returns (bool) {
        for (uint256 i = 0; i < approvals.length; ++i) {
            if (approvals[i].signer == account) return true;
        }
        return false;
    }

    function _setThreshold(uint256 bps) private {
        if (bps <= BPS / 2 || bps > BPS) revert FundInvalidThreshold(bps);
        uint256 previous = thresholdBps;
        // bps <= 10,000 (checked above) fits in 16 bits.
        thresholdBps = uint16(bps);
        emit ThresholdChanged(previous, bps);
    }

    function _setRequirement(uint256 bps, uint256 floor_) private {
        if (bps > BPS || floor_ > type(uint96).max) revert FundInvalidRequirement(bps, floor_);
        requirementBps = uint16(bps);
        floorAmount = uint96(floor_);
        emit RequirementChanged(bps, floor_);
    }

    /// @dev Members strictly ascending (duplicates found in one pass, as for approvals), every one
    ///      a member, amounts below 2^96. An unchanged amount is neither written nor announced. At
    ///      most `memberCount` entries can pass, so the loop is bounded by the membership.
    function _setMemberRequirements(address[] memory members, uint256[] memory amounts) private {
        uint256 count = members.length;
        if (count == 0 || count != amounts.length) revert FundInvalidRequirementList(count, amounts.length);
        address previous = address(0);
        for (uint256 i = 0; i < count; ++i) {
            address member = members[i];
            // The first entry has nothing before it (address zero is never a member: see below).
            if (i > 0 && member <= previous) {
                if (member == previous) revert FundDuplicateMember(member);
                revert FundMembersNotSorted(previous, member);
            }
            previous = member;
            MemberRecord storage m = _members[member];
            if (!m.joined) revert FundNotMember(member);
            uint256 amount = amounts[i];
            if (amount > type(uint96).max) revert FundInvalidMemberRequirement(member, amount);
            uint256 before = m.requirement;
            if (amount == before) continue;
            // amount < 2^96, checked above.
            m.requirement = uint96(amount);
            emit MemberRequirementChanged(member, before, amount);
        }
    }

    function _setReplenishmentWindow(uint256 window) private {
        if (window == 0 || window > type(uint32).max) revert FundInvalidReplenishmentWindow(window);
        replenishmentWindow = uint32(window);
        emit ReplenishmentWindowChanged(window);
    }

    function _registerEngine(address engine) private {
        EngineStatus status = engineStatusOf[engine];
        if (status == EngineStatus.Registered || engine.code.length == 0) revert FundInvalidEngine(engine, status);
        engineStatusOf[engine] = EngineStatus.Registered;
        emit EngineRegistered(engine);
    }

    function _deregisterEngine(address engine) private {
        EngineStatus status = engineStatusOf[engine];
        if (status != EngineStatus.Registered) revert FundInvalidEngine(engine, status);
        engineStatusOf[engine] = EngineStatus.Deregistered;
        emit EngineDeregistered(engine);
    }

    function _releaseSurplus(address to) private {
        uint256 amount = surplus();
        if (amount == 0) revert FundNoSurplus();
        emit SurplusReleased(to, amount);
        cash.safeTransfer(to, amount);
    }
}
