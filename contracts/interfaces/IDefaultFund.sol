// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";

/// @notice Where a member stands with the fund.
/// @dev None: never joined. GoodStanding: balance >= requirement and not flagged.
///      BelowRequirement: balance < requirement (after a draw, new trades, or a requirement
///      governance raised), not yet flagged. Flagged: missed the replenishment window after a
///      draw; stays so, whatever its balance, until a contribution brings it back to its
///      requirement. Derived on every read from the member's record, never stored.
enum MemberStatus {
    None,
    GoodStanding,
    BelowRequirement,
    Flagged
}

/// @notice Where a contract stands as a derivative engine of the fund.
/// @dev None -> Registered <-> Deregistered, by governance only (and by the constructor).
///      A registered engine reports trades and claims; a deregistered one winds down what it
///      opened: it reports closing trades and claims their losses, but can no longer open any.
enum EngineStatus {
    None,
    Registered,
    Deregistered
}

/// @notice What a governance action does. Its `params` are `abi.encode` of:
///         - SetThreshold: (uint256 thresholdBps), the share of members an action needs
///           (more than 5,000 basis points, at most 10,000)
///         - SetRequirement: (uint256 requirementBps, uint256 floorAmount)
///         - SetReplenishmentWindow: (uint256 seconds)
///         - RegisterEngine: (address engine); needs the approval of every member, not a threshold
///         - DeregisterEngine: (address engine)
///         - Withdraw: (address member, uint256 amount); the member must be one of the approvers
///         - ReleaseSurplus: (address to); cash sent to the fund outside {join}/{contribute}
///         - SetMemberRequirements: (address[] members, uint256[] amounts); each member's own
///           minimum requirement (e.g. the contributions a cover-2 stress test suggests), members
///           strictly ascending, every one a member, amounts below 2^96 (zero removes one). See
///           {memberRequirementOf} for when it counts and what a member below it may still do.
enum ActionKind {
    None,
    SetThreshold,
    SetRequirement,
    SetReplenishmentWindow,
    RegisterEngine,
    DeregisterEngine,
    Withdraw,
    ReleaseSurplus,
    SetMemberRequirements
}

/// @notice A governance action, signed (EIP-712) by at least `threshold` members.
/// @dev Typed data: `Action(uint8 kind,bytes params,uint256 nonce,uint256 deadline)`; the
///      domain is ("DefaultFund", "1", chain id, fund address). `params` enters the struct hash
///      as `keccak256(params)`, as EIP-712 prescribes for `bytes`. See {IDefaultFund}, "EIP-712".
struct Action {
    ActionKind kind;
    bytes params;
    /// Must equal the fund's `nonce()`; every executed action increments it.
    uint256 nonce;
    /// Last second (block timestamp) at which the action may execute.
    uint256 deadline;
}

/// @notice One member's signature of an {Action}.
struct Approval {
    address signer;
    /// 65-byte ECDSA signature `r || s || v`, or an ERC-1271 signature if the member is a contract.
    bytes signature;
}

/// @title IDefaultFund
/// @notice The members' mutualised default fund, governed k-of-n by its members.
///
///         - Membership: an account the compliance registry holds `Active` joins by contributing
///           tokenised cash. Its requirement is
///           `max(floorAmount, ceil(requirementBps * openIm / 10_000), openIm > 0 ? memberRequirement : 0)`,
///           where `openIm` is the sum of the initial margins of its open trades as registered
///           engines report them and `memberRequirement` the minimum governance adopted for it
///           ({ActionKind.SetMemberRequirements}, {memberRequirementOf}).
///         - Governance: every rule change, and every movement of cash out of the fund other than
///           the waterfall, happens through {execute} with the EIP-712 approvals of at least
///           {threshold} distinct members — a share (`thresholdBps`, more than half) of the
///           members, never fewer than `MIN_THRESHOLD` — bound to chain, fund, a fund-wide nonce
///           and a deadline. There is no admin: after the constructor, only governance changes
///           anything.
///         - Trust model. A registered engine's claims are paid without question, so an engine
///           is as good as a withdrawal from every member: registering one needs the approval of
///           EVERY member (a withdrawal needs the approval of the member whose money it moves;
///           new risk on everyone's balance needs everyone's). A member that joins later accepts
///           the engines registered then. Members trust that each registered engine computes
///           losses only from its trades and its oracle, and they trust that oracle's reporters
///           (their fault model is the oracle's). A majority cannot register an engine of its
///           own and take the others' balances; it can deregister an engine, which then opens
///           no more trades but keeps the fund's cover for those it opened (it still claims).
///           No single member acts alone.
///         - Waterfall: a registered engine claims the loss its close-out could not cover. The
///           fund pays (1) from the defaulter's own balance, then (2) from every other member's
///           balance pro rata, up to the fund's total assets and no further, and sends what it
///           paid to the engine. What it could not pay is recorded as the survivor's claim on the
///           defaulter. The cost of a claim does not depend on the number of members.
///         - Replenishment: after a draw, members below their requirement have
///           `replenishmentWindow` seconds to top up; after that anyone may flag them, and a
///           flagged member is not in good standing until it contributes back to its requirement.
///
///         Balances are shares of a pool: `balanceOf(m) = shares(m) * totalAssets / totalShares`,
///         rounded down. A survivors' loss lowers `totalAssets` only, so it reaches every member at
///         once with no loop. The rounding dust (less than one unit per member) stays in
///         `totalAssets`, owned by the shareholders pro rata: it is never paid twice and never
///         lost.
///
///         EIP-712 (what a client needs to approve an {Action} without this project's toolkit):
///         - Domain: name "DefaultFund", version "1", `chainId` the chain's id,
///           `verifyingContract` this fund; no salt. {eip712Domain} (EIP-5267) returns them.
///         - Type, exactly as hashed (it references no other type):
///           `Action(uint8 kind,bytes params,uint256 nonce,uint256 deadline)`
///           `kind` is the {ActionKind}'s index (SetThreshold = 1 ... ReleaseSurplus = 7,
///           SetMemberRequirements = 8);
///           `params` is `abi.encode` of the kind's values (see {ActionKind}) and, being `bytes`,
///           enters the struct hash as `keccak256(params)`; `nonce` is the fund's {nonce};
///           `deadline` the last second (block timestamp) the action may execute.
///         - Digest: `keccak256("\x19\x01" || domainSeparator || hashStruct(action))`, which
///           {hashAction} returns; every approving member signs the same digest.
///         - Signature: 65 bytes `r || s || v` (32 + 32 + 1), `v` 27 or 28, `s` in the lower half
///           of the curve order (OpenZeppelin's ECDSA refuses the upper half as malleable), as
///           `eth_signTypedData_v4` returns it. When it does not recover to the member, the member
///           is asked ERC-1271 `isValidSignature(digest, signature)`: a member that is a contract
///           (a Safe, a bank's wallet) signs with whatever bytes it accepts.
///         - Approvals: one {Approval} per member, sorted by signer address, ascending.
interface IDefaultFund is IERC5267 {
    // ------------------------------------------------------------------ events

    /// @notice `member` joined with `amount`, receiving `shares`.
    event MemberJoined(address indexed member, uint256 amount, uint256 shares);
    /// @notice `member` added `amount` to its balance, receiving `shares`.
    event Contributed(address indexed member, uint256 amount, uint256 shares);
    /// @notice Governance returned `amount` of `member`'s balance above its requirement, burning `shares`.
    event Withdrawn(address indexed member, uint256 amount, uint256 shares);
    /// @notice `engine` reported a trade of `member` opened (`opened`) or closed with `imAmount`
    ///         of initial margin; the member's open initial margin is now `openIm`.
    event OpenMarginChanged(address indexed engine, address indexed member, bool opened, uint256 imAmount, uint256 openIm);
    /// @notice The waterfall paid `engine` `fromDefaulter + fromSurvivors` of a `loss` the
    ///         engine's close-out left between `defaulter` and `survivor`, burning
    ///         `defaulterShares` of the defaulter's shares; `unpaid` stays the survivor's claim.
    event DefaultClaimed(
        address indexed engine,
        address indexed defaulter,
        address indexed survivor,
        uint256 loss,
        uint256 fromDefaulter,
        uint256 fromSurvivors,
        uint256 unpaid,
        uint256 defaulterShares
    );
    /// @notice The survivors' tranche took the fund's last unit: every share is void from `epoch` on.
    event FundExhausted(uint256 epoch);
    /// @notice Members below their requirement must top up by `deadline` (unix seconds).
    event ReplenishmentRequested(uint256 deadline);
    /// @notice `member` missed the replenishment window with `balance` below `requirement`.
    event MemberFlagged(address indexed member, uint256 balance, uint256 requirement, address flagger);
    /// @notice `member`, flagged, contributed back to its requirement.
    event MemberReinstated(address indexed member, uint256 balance);
    /// @notice Governance executed action `nonce` of `kind`, whose EIP-712 digest is `digest`.
    event ActionExecuted(uint256 indexed nonce, ActionKind indexed kind, bytes32 digest);
    /// @notice The share of members an action needs is now `thresholdBps` (was `previous`).
    event ThresholdChanged(uint256 previous, uint256 thresholdBps);
    event RequirementChanged(uint256 requirementBps, uint256 floorAmount);
    /// @notice Governance set `member`'s own minimum requirement to `amount` (was `previous`).
    event MemberRequirementChanged(address indexed member, uint256 previous, uint256 amount);
    event ReplenishmentWindowChanged(uint256 replenishmentWindow);
    event EngineRegistered(address indexed engine);
    event EngineDeregistered(address indexed engine);
    /// @notice Governance sent `amount` of unaccounted cash (sent to the fund outside join or
    ///         contribute) to `to`.
    event SurplusReleased(address indexed to, uint256 amount);

    // ------------------------------------------------------------------ errors

    /// @notice `account` is not a member: join first (or, for a signer, only members approve).
    error FundNotMember(address account);
    /// @notice `account` is already a member: use {contribute}.
    error FundAlreadyMember(address account);
    /// @notice Zero amounts are meaningless here.
    error FundZeroAmount();
    /// @notice `amount` buys no share at the current price: contribute more.
    error FundZeroShares(uint256 amount);
    /// @notice After joining, `member` would hold `balance`, below its `requirement`. Join with
    ///         more (rounding can cost one unit: the toolkit's `amount_to_reach` finds the amount).
    error FundBelowRequirement(address member, uint256 balance, uint256 requirement);
    /// @notice `member` cannot open a trade (or raise an IM): it is `flagged`, or its `balance`
    ///         is below the `requirement` the new IM would bring. Contribute first.
    error FundNotInGoodStanding(address member, bool flagged, uint256 balance, uint256 requirement);
    /// @notice `caller` is not a registered engine (read `engineStatusOf`).
    error FundNotEngine(address caller, EngineStatus status);
    /// @notice An engine reported closing `imAmount` of `member`'s initial margin, more than the
    ///         `openIm` reported open: an engine bug.
    error FundCloseExceedsOpen(address member, uint256 openIm, uint256 imAmount);
    /// @notice A claim needs two different accounts.
    error FundInvalidClaim(address defaulter, address survivor);
    /// @notice The replenishment window runs until `deadline` (zero: there was no draw yet).
    error FundReplenishmentWindowOpen(uint256 deadline, uint256 nowTime);
    /// @notice `member` holds `balance`, at or above its `requirement`, or is already flagged.
    error FundNotShort(address member, uint256 balance, uint256 requirement);
    /// @notice The approvals expired at `deadline`: sign again with a later one.
    error FundApprovalExpired(uint256 deadline, uint256 nowTime);
    /// @notice The action's `nonce` is not the fund's `expected` one: it already ran (replay), or
    ///         another action ran first. Sign again with the current nonce.
    error FundInvalidNonce(uint256 expected, uint256 nonce);
    /// @notice `given` approvals, fewer than the `threshold`.
    error FundNotEnoughApprovals(uint256 given, uint256 threshold);
    /// @notice `signer` approved twice.
    error FundDuplicateApproval(address signer);
    /// @notice Approvals must be sorted by signer, ascending: `signer` came after `previous`.
    error FundApprovalsNotSorted(address previous, address signer);
    /// @notice `signer` is not a member: only members approve actions.
    error FundSignerNotMember(address signer);
    /// @notice The signature given for `signer` does not verify for this action.
    error FundInvalidSignature(address signer);
    /// @notice The action's kind is `None`, or its params do not decode.
    error FundInvalidAction(ActionKind kind);
    /// @notice The threshold is a share of the members in basis points: more than 5,000 (a
    ///         majority), at most 10,000 (every member).
    error FundInvalidThreshold(uint256 thresholdBps);
    /// @notice Registering an engine needs the approval of every member: `given` of `members`.
    error FundRegistrationNotUnanimous(uint256 given, uint256 members);
    /// @notice `requirementBps` is above 10,000 or `floorAmount` above 2^96 - 1.
    error FundInvalidRequirement(uint256 requirementBps, uint256 floorAmount);
    /// @notice The window must be positive and fit in 32 bits.
    error FundInvalidReplenishmentWindow(uint256 replenishmentWindow);
    /// @notice `engine` is not a contract, or not in the status the action needs (`status` is its current one).
    error FundInvalidEngine(address engine, EngineStatus status);
    /// @notice `member` holds `balance` and needs `requirement`: withdrawing `amount` would leave
    ///         it below (rounding can cost one unit: the toolkit's `max_withdrawal` finds the most).
    error FundWithdrawalExceedsExcess(address member, uint256 balance, uint256 requirement, uint256 amount);
    /// @notice A withdrawal needs the approval of the member whose money it moves.
    error FundWithdrawalNotApprovedByMember(address member);
    /// @notice The fund holds no cash beyond its members' balances.
    error FundNoSurplus();
    /// @notice {ActionKind.SetMemberRequirements} needs one amount per member and at least one
    ///         member: it gave `members` members and `amounts` amounts.
    error FundInvalidRequirementList(uint256 members, uint256 amounts);
    /// @notice `member` appears twice in {ActionKind.SetMemberRequirements}.
    error FundDuplicateMember(address member);
    /// @notice {ActionKind.SetMemberRequirements} lists members strictly ascending (which makes a
    ///         duplicate detectable in one pass): `member` came after `previous`.
    error FundMembersNotSorted(address previous, address member);
    /// @notice `amount`, the requirement proposed for `member`, is above 2^96 - 1.
    error FundInvalidMemberRequirement(address member, uint256 amount);

    // ------------------------------------------------------------------ members

    /// @notice Joins the fund with `amount` of the caller's cash (pre-approved). The caller must
    ///         be `Active` in the registry, and end up with a balance at its requirement.
    function join(uint256 amount) external returns (uint256 shares);

    /// @notice Adds `amount` of the caller's cash (pre-approved) to its balance. Reinstates a
    ///         flagged member whose balance reaches its requirement.
    function contribute(uint256 amount) external returns (uint256 shares);

    /// @notice Flags `member`: the replenishment window after the last draw has passed and it is
    ///         still below its requirement. Anyone may call.
    function flagMissedReplenishment(address member) external;

    // ------------------------------------------------------------------ engines

    /// @notice A registered engine reports that `member` opened a trade with `imAmount` of IM (or
    ///         that an amendment raised its IM by `imAmount`). Reverts unless `member` is a
    ///         member in good standing once the IM counts towards its requirement: a member
    ///         below its requirement, or flagged, cannot open trades.
    function onTradeOpened(address member, uint256 imAmount) external;

    /// @notice An engine reports that a trade of `member` with `imAmount` of IM closed (any way).
    function onTradeClosed(address member, uint256 imAmount) external;

    /// @notice A registered engine (or a deregistered one, winding down) claims `loss`, which the close-out of a trade between
    ///         `defaulter` and `survivor` could not cover from the defaulter's initial margin.
    ///         The waterfall pays from the defaulter's balance, then from every other member pro
    ///         rata, up to the fund's total; `paid` moves to the engine, which credits the
    ///         survivor. The rest is recorded as the survivor's claim on the defaulter. The
    ///         defaulter must be a member (it may hold nothing any more).
    function claim(address defaulter, address survivor, uint256 loss) external returns (uint256 paid);

    // ------------------------------------------------------------------ governance

    /// @notice Runs `action` with the approvals of at least `threshold` distinct members, sorted
    ///         by signer address. Anyone may send it.
    function execute(Action calldata action, Approval[] calldata approvals) external;

    /// @notice The EIP-712 digest members sign for `action`.
    function hashAction(Action calldata action) external view returns (bytes32);

    // ------------------------------------------------------------------ views

    /// @notice The lowest threshold governance accepts: no single member acts alone.
    function MIN_THRESHOLD() external view returns (uint256);
    /// @notice Shares of a first contribution per unit of cash (a decimals offset against rounding).
    function INITIAL_SHARES_PER_UNIT() external view returns (uint256);

    /// @notice Where `member` stands.
    function statusOf(address member) external view returns (MemberStatus);
    /// @notice True when `member` has joined, holds at least its requirement, and is not flagged.
    function isInGoodStanding(address member) external view returns (bool);
    /// @notice True when `account` has joined (it may still hold nothing).
    function isMember(address account) external view returns (bool);
    /// @notice Cash `member` would get back for its shares now, rounded down.
    function balanceOf(address member) external view returns (uint256);
    /// @notice `member`'s shares (zero when the fund was exhausted since it last contributed).
    function sharesOf(address member) external view returns (uint256);
    /// @notice `max(floorAmount, ceil(requirementBps * openImOf(member) / 10_000), m)` where `m` is
    ///         {memberRequirementOf} while the member has open initial margin, zero otherwise.
    function requirementOf(address member) external view returns (uint256);
    /// @notice The minimum requirement governance adopted for `member` with
    ///         {ActionKind.SetMemberRequirements} (zero: none).
    /// @dev What it does, and does not do, to the member's money:
    ///      - It counts in {requirementOf} only while the member has open initial margin: a member
    ///        whose trades have all closed needs the floor alone, so the others cannot lock its
    ///        balance for good by raising its requirement; they can only ask it to cover the risk
    ///        it keeps open.
    ///      - It moves no cash and burns no share. A member it puts below its requirement is
    ///        `BelowRequirement`: {onTradeOpened} refuses its new trades and IM increases
    ///        (`FundNotInGoodStanding`) until it contributes; its open trades still settle, mature
    ///        and close (closing needs no standing); a withdrawal must leave it at its requirement.
    ///      - {flagMissedReplenishment} applies as to any member below its requirement: only once
    ///        the window after the last draw has passed, which may already be the case when the
    ///        requirement rises (then anyone may flag it at once). Flagged, it is refused new trades
    ///        in the same way until a contribution brings it to its requirement; nothing else
    ///        follows: the waterfall draws on it like on any member, no one else gains a claim.
    function memberRequirementOf(address member) external view returns (uint256);
    /// @notice Sum of the initial margins of `member`'s open trades, as engines reported them.
    function openImOf(address member) external view returns (uint256);
    /// @notice The cash the fund owes its members (the cash it holds, but for any surplus).
    function totalAssets() external view returns (uint256);
    /// @notice Sum of every member's shares.
    function totalShares() external view returns (uint256);
    /// @notice Cash the fund holds beyond `totalAssets` (sent to it outside join/contribute).
    function surplus() external view returns (uint256);
    /// @notice Unpaid loss `survivor` claims from `defaulter` after the waterfall.
    function unpaidClaimOf(address defaulter, address survivor) external view returns (uint256);
    /// @notice Sum of every unpaid claim on `defaulter`.
    function totalUnpaidClaimsOn(address defaulter) external view returns (uint256);
    function engineStatusOf(address engine) external view returns (EngineStatus);
    /// @notice Approvals an action needs now: `ceil(memberCount * thresholdBps / 10_000)`, at
    ///         least `MIN_THRESHOLD` (registering an engine needs every member instead).
    function threshold() external view returns (uint256);
    /// @notice Share of the members an action needs, in basis points (more than half).
    function thresholdBps() external view returns (uint16);
    /// @notice Nonce the next action must carry.
    function nonce() external view returns (uint64);
    function requirementBps() external view returns (uint16);
    function floorAmount() external view returns (uint96);
    /// @notice Seconds members have to top up after a draw.
    function replenishmentWindow() external view returns (uint32);
    /// @notice Increments each time the fund is exhausted; shares of an earlier epoch are void.
    function epoch() external view returns (uint16);
    /// @notice Timestamp of the last claim that paid anything (zero: none yet).
    function lastDrawAt() external view returns (uint40);
    function memberCount() external view returns (uint32);
}
