// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {IDefaultFund} from "./IDefaultFund.sol";

/// @notice Life of a bilateral trade.
/// @dev None -> Proposed -> Live <-> MarginCall -> (Defaulted | Matured | Terminated);
///      Proposed -> Cancelled.
enum TradeState {
    None,
    Proposed,
    Live,
    MarginCall,
    Defaulted,
    Matured,
    Terminated,
    Cancelled
}

/// @notice Which party of a trade.
enum Side {
    None,
    Buyer,
    Seller
}

/// @notice The economics of a cash-settled forward on the engine's oracle price.
/// @dev The buyer is long: it receives variation margin when the price rises. The value of the
///      position at price `p` is `quantity * p / valueScale()` cash units, and each settlement
///      pays the change in value since the last one, starting from `contractPrice`.
struct Terms {
    address buyer;
    address seller;
    /// Units of the underlying, 18 decimals.
    uint96 quantity;
    /// Agreed price, in the oracle's decimals.
    int128 contractPrice;
    /// Unix time; the first final oracle round at or after it is the final settlement.
    uint40 maturity;
    /// Initial margin of each party, in cash units; locked in the engine while the trade lives.
    uint128 buyerIm;
    uint128 sellerIm;
    /// Makes otherwise identical trades distinct.
    bytes32 salt;
}

/// @notice A trade as the engine stores it (packed: settlement reads the first three slots).
struct Trade {
    address buyer;
    /// Unix seconds (uint40 lasts until the year 36812).
    uint40 maturity;
    TradeState state;
    /// Who owes `debt` while a margin call is open (or after a close-out left a claim).
    Side debtor;
    /// Who proposed the trade (the other party confirms).
    Side proposer;
    /// Next nonce for amendments and termination.
    uint32 nonce;
    address seller;
    uint96 quantity;
    /// Price and oracle round of the last settlement (the contract price before the first).
    int128 lastPrice;
    uint80 lastRound;
    uint48 cureDeadline;
    uint128 buyerIm;
    uint128 sellerIm;
    /// Unpaid variation margin owed by `debtor`, in cash units.
    uint256 debt;
}

/// @notice A change of a live trade's terms, signed by both parties (EIP-712).
/// @dev Typed data `Amendment(uint256 tradeId,uint96 quantity,uint40 maturity,uint128 buyerIm,uint128 sellerIm,int256 payment,uint256 nonce,uint256 deadline)`
///      under the engine's domain: see {IDerivativeEngine}, "EIP-712".
struct Amendment {
    uint256 tradeId;
    uint96 quantity;
    uint40 maturity;
    uint128 buyerIm;
    uint128 sellerIm;
    /// Agreed one-off payment, buyer to seller when positive, seller to buyer when negative.
    int256 payment;
    uint256 nonce;
    uint256 deadline;
}

/// @notice An early termination with an agreed payment, signed by both parties (EIP-712).
/// @dev Typed data `Termination(uint256 tradeId,int256 payment,uint256 nonce,uint256 deadline)`
///      under the engine's domain: see {IDerivativeEngine}, "EIP-712".
struct Termination {
    uint256 tradeId;
    /// Buyer to seller when positive, seller to buyer when negative.
    int256 payment;
    uint256 nonce;
    uint256 deadline;
}

/// @title IDerivativeEngine
/// @notice Bilateral collateralised derivatives ("smart derivative contracts") on one oracle
///         price, settled in tokenised cash, with no central counterparty.
///
///         - Terms are proposed by one party and confirmed, identical (by hash), by the other.
///         - On confirmation both initial margins (IM) move into the engine, segregated per trade
///           and party; nobody can take them out while the trade lives.
///         - Each new final oracle round, anyone may settle the trade to market: the change in
///           value moves from the loser to the winner (variation margin, VM). The amount comes
///           only from the oracle and the terms; a round is settled at most once.
///         - The loser pays from its margin account in the engine, and for any shortfall from its
///           wallet (pre-approved cash). If it cannot, a margin call opens for `curePeriod`
///           seconds; rounds keep accruing. Unpaid after that, anyone declares the default: the
///           defaulter's IM, then its margin account, then (when the engine has one) the default
///           fund's waterfall pay the survivor, and whatever they do not cover is recorded as the
///           survivor's claim on the defaulter.
///         - With a default fund, both parties must be members in good standing when a trade
///           opens (or an amendment raises a party's IM): the engine reports every IM opened and
///           closed to the fund, which sizes each member's required contribution from it.
///         - Amendments and early termination need both parties' EIP-712 signatures, bound to
///           chain, engine, trade and nonce.
///         - At maturity the final VM is paid and both IMs are returned.
///         Cash owed to a party (VM won, IM returned) is credited to its margin account, from which
///         it withdraws at any time.
///
///         EIP-712 (what a client needs to sign {amend} and {terminate} without this project's
///         toolkit):
///         - Domain: name "DerivativeEngine", version "1", `chainId` the chain's id,
///           `verifyingContract` this engine; no salt. {eip712Domain} (EIP-5267) returns them.
///         - Types, exactly as hashed (neither references another type):
///           `Amendment(uint256 tradeId,uint96 quantity,uint40 maturity,uint128 buyerIm,uint128 sellerIm,int256 payment,uint256 nonce,uint256 deadline)`
///           `Termination(uint256 tradeId,int256 payment,uint256 nonce,uint256 deadline)`
///           There is no `bytes` or `string` field: every field is one 32-byte word of the
///           struct hash (`int256 payment` in two's complement). `nonce` is the trade's current
///           `nonce` ({tradeOf}); `deadline` is the last second (block timestamp) the message is
///           accepted.
///         - Digest: `keccak256("\x19\x01" || domainSeparator || hashStruct(message))`; the buyer and
///           the seller sign the same digest.
///         - Signature: a party without code signs with its key: 65 bytes `r || s || v` (32 + 32
///           + 1), `v` 27 or 28, `s` in the lower half of the curve order (OpenZeppelin's ECDSA
///           refuses the upper half as malleable), as `eth_signTypedData_v4` returns it. A party
///           with code (a Safe, a bank's wallet) is asked ERC-1271
///           `isValidSignature(digest, signature)` instead, with whatever bytes it accepts.
interface IDerivativeEngine is IERC5267 {
    // ------------------------------------------------------------------ events

    event TradeProposed(uint256 indexed tradeId, address indexed proposer, bytes32 termsHash, Terms terms);
    event TradeCancelled(uint256 indexed tradeId, address indexed by);
    event TradeConfirmed(uint256 indexed tradeId, address indexed buyer, address indexed seller, uint256 buyerIm, uint256 sellerIm);
    event MarginDeposited(address indexed party, uint256 amount);
    event MarginWithdrawn(address indexed party, uint256 amount);
    /// @notice Trade marked to `price` of oracle round `roundId`; `vmToBuyer` is the change in
    ///         value (negative: the buyer lost). `paid` moved from `payer` now; `owed` remains unpaid.
    event VariationMarginSettled(
        uint256 indexed tradeId, uint80 roundId, int256 price, int256 vmToBuyer, address payer, uint256 paid, uint256 owed
    );
    event MarginCalled(uint256 indexed tradeId, address indexed debtor, uint256 amount, uint256 cureDeadline);
    /// @notice {settleMany} left `tradeId` as it was: its settlement reverted with `reason` (e.g.
    ///         the payer's wallet could not be pulled because it is frozen or the token paused).
    event SettlementSkipped(uint256 indexed tradeId, bytes reason);
    event MarginCallCured(uint256 indexed tradeId, address indexed debtor, uint256 amount);
    /// @notice The defaulter's IM paid `paidFromIm` of `loss`, its margin account `paidFromMargin`,
    ///         the default fund's waterfall `paidFromFund`; `unpaidClaim` remains the survivor's
    ///         claim on the defaulter.
    event DefaultDeclared(
        uint256 indexed tradeId,
        address indexed defaulter,
        address indexed survivor,
        uint256 loss,
        uint256 paidFromIm,
        uint256 paidFromMargin,
        uint256 paidFromFund,
        uint256 unpaidClaim
    );
    event TradeAmended(uint256 indexed tradeId, uint256 nonce, uint96 quantity, uint40 maturity, uint128 buyerIm, uint128 sellerIm, int256 payment);
    event TradeTerminated(uint256 indexed tradeId, uint256 nonce, int256 payment);
    /// @notice Final settlement; when the payer could not pay the final VM, its IM, margin account
    ///         and the default fund paid what they could (`paidFromFund` from the fund) and
    ///         `unpaidClaim` remains the receiver's claim on the payer.
    event TradeMatured(
        uint256 indexed tradeId, uint80 roundId, int256 price, int256 vmToBuyer, uint256 paidFromFund, uint256 unpaidClaim
    );
    /// @notice The default fund's claim reverted with `reason` (e.g. the fund is frozen, or it
    ///         deregistered this engine): nothing was paid from it yet. The claim is pending:
    ///         anyone retries it with {retryFundClaim} once the condition clears.
    event FundClaimFailed(uint256 indexed tradeId, bytes reason);
    /// @notice A pending claim went through: the fund paid `paid` to `survivor`'s margin
    ///         account; `unpaid` stays the survivor's claim on `defaulter`.
    event FundClaimPaid(uint256 indexed tradeId, address indexed defaulter, address indexed survivor, uint256 paid, uint256 unpaid);
    event InitialMarginReleased(uint256 indexed tradeId, address indexed party, uint256 amount);
    event ConfigUpdated(uint64 curePeriod, uint64 maxPriceAge);

    // ------------------------------------------------------------------ errors

    /// @notice Buyer and seller must be two different, non-zero accounts.
    error DerivativeInvalidParties(address buyer, address seller);
    /// @notice Quantity must be positive.
    error DerivativeZeroQuantity();
    /// @notice Prices must be positive.
    error DerivativeNonPositivePrice(int256 price);
    /// @notice Maturity must be in the future.
    error DerivativeMaturityInPast(uint256 maturity, uint256 nowTime);
    /// @notice `caller` is not a party of trade `tradeId` (or, confirming, is its proposer).
    error DerivativeNotCounterparty(uint256 tradeId, address caller);
    /// @notice Trade `tradeId` is `actual`; the call needs `expected`.
    error DerivativeUnexpectedState(uint256 tradeId, TradeState expected, TradeState actual);
    /// @notice The confirmed terms hash to `given`, the proposal to `expected`.
    error DerivativeTermsMismatch(uint256 tradeId, bytes32 expected, bytes32 given);
    /// @notice The oracle's answer of round `roundId` is older than `maxAge` seconds.
    error DerivativeStalePrice(uint80 roundId, uint256 updatedAt, uint256 maxAge, uint256 nowTime);
    /// @notice The oracle's answer is not usable (non-positive, or beyond int128).
    error DerivativeInvalidPrice(uint80 roundId, int256 answer);
    /// @notice Round `latestRound` is already settled for the trade (`lastRound`).
    error DerivativeNothingToSettle(uint256 tradeId, uint80 lastRound, uint80 latestRound);
    /// @notice The oracle's round is at or after maturity: use `mature` with the first such round.
    error DerivativeMaturityReached(uint256 tradeId, uint256 maturity, uint256 roundUpdatedAt);
    /// @notice `roundId` is not the first final round at or after the trade's maturity.
    error DerivativeNotMaturityRound(uint256 tradeId, uint80 roundId);
    /// @notice The margin call's cure period runs until `cureDeadline`.
    error DerivativeCurePeriodRunning(uint256 tradeId, uint256 cureDeadline, uint256 nowTime);
    /// @notice A signature of `signer` does not verify for this message.
    error DerivativeInvalidSignature(uint256 tradeId, address signer);
    /// @notice The signed message's `nonce` is not the trade's current `expected` nonce.
    error DerivativeInvalidNonce(uint256 tradeId, uint256 expected, uint256 nonce);
    /// @notice The signed message expired at `deadline`.
    error DerivativeSignatureExpired(uint256 tradeId, uint256 deadline, uint256 nowTime);
    /// @notice `payer` could not pay `amount` from its margin account and wallet.
    error DerivativePaymentFailed(address payer, uint256 amount);
    /// @notice `party` asked to withdraw `amount` but its margin account holds `available`.
    error DerivativeInsufficientMargin(address party, uint256 available, uint256 amount);
    /// @notice Zero amounts are meaningless here.
    error DerivativeZeroAmount();
    /// @notice The cash token is paused: nobody can pay, so nothing that depends on a payment
    ///         (a settlement pulling from a wallet, a default, a maturity's pull) is decided now.
    ///         Retry after the unpause; margin calls then get a full cure period.
    error DerivativeCashPaused();
    /// @notice Pulling `amount` from `payer` failed with too little gas left to tell why: send
    ///         the call again with more gas (a caller cannot make a party look unable to pay).
    error DerivativePaymentOutOfGas(address payer, uint256 amount);
    /// @notice Trade `tradeId` has no default-fund claim waiting to be retried.
    error DerivativeNoPendingFundClaim(uint256 tradeId);
    /// @notice The engine's settings must be positive.
    error DerivativeInvalidConfig(uint64 curePeriod, uint64 maxPriceAge);
    /// @notice Only the engine itself calls this (`caller` did).
    error DerivativeOnlyEngine(address caller);
    /// @notice Only `gasLeft` was left for the default fund's claim, which is always given
    ///         `needed`: send the call again with more gas (a close-out never goes on without
    ///         the fund's cover for lack of gas alone).
    error DerivativeFundClaimOutOfGas(uint256 tradeId, uint256 gasLeft, uint256 needed);

    // ------------------------------------------------------------------ functions

    function propose(Terms calldata terms) external returns (uint256 tradeId);
    function confirm(uint256 tradeId, Terms calldata terms) external;
    function cancel(uint256 tradeId) external;

    function depositMargin(uint256 amount) external;
    function withdrawMargin(uint256 amount) external;

    function settle(uint256 tradeId) external;
    function settleMany(uint256[] calldata tradeIds) external returns (uint256 settled);
    /// @notice One trade of a {settleMany} batch, in its own call frame; callable by the engine only.
    function settleInBatch(uint256 tradeId) external;
    function cure(uint256 tradeId) external;
    function declareDefault(uint256 tradeId) external returns (bool defaulted);
    function mature(uint256 tradeId, uint80 roundId) external;
    /// @notice Claims again from the default fund the loss a close-out or maturity of `tradeId`
    ///         left when the fund's claim reverted (it was frozen, say); anyone may call. Pays the
    ///         survivor what the fund pays; reverts with the fund's error while it still cannot.
    function retryFundClaim(uint256 tradeId) external returns (uint256 paid);

    /// @notice Changes a live trade's terms with both parties' EIP-712 signatures of `amendment`
    ///         (see "EIP-712" above); anyone may send it.
    function amend(Amendment calldata amendment, bytes calldata buyerSignature, bytes calldata sellerSignature) external;
    /// @notice Ends a live trade (or one under a margin call) early with the agreed payment, with
    ///         both parties' EIP-712 signatures of `termination`; anyone may send it.
    function terminate(Termination calldata termination, bytes calldata buyerSignature, bytes calldata sellerSignature) external;

    function setConfig(uint64 curePeriod, uint64 maxPriceAge) external;

    /// @notice The state of trade `tradeId`.
    function stateOf(uint256 tradeId) external view returns (TradeState);
    /// @notice Everything the engine stores about trade `tradeId`.
    function tradeOf(uint256 tradeId) external view returns (Trade memory);
    /// @notice Hash of the proposed terms while the trade is `Proposed` (zero otherwise).
    function proposalOf(uint256 tradeId) external view returns (bytes32 termsHash);
    /// @notice Loss the close-out or maturity of `tradeId` could not pay: the survivor's claim.
    function unpaidClaimOf(uint256 tradeId) external view returns (uint256);
    /// @notice True when `tradeId`'s claim on the default fund reverted and waits for {retryFundClaim}.
    function fundClaimPendingOf(uint256 tradeId) external view returns (bool);
    /// @notice The effective end of `tradeId`'s cure period: its margin call's deadline, or a full
    ///         `curePeriod` after the cash token's last unpause if that is later (0: no margin call).
    ///         A default can be declared after it, while the token is not paused.
    function cureDeadlineOf(uint256 tradeId) external view returns (uint256);
    /// @notice Free cash `party` holds in the engine.
    function marginOf(address party) external view returns (uint256);
    /// @notice Sum of every margin account.
    function totalMargin() external view returns (uint256);
    /// @notice Sum of the initial margins of every live trade.
    function totalInitialMargin() external view returns (uint256);
    /// @notice Number of trades ever proposed (ids run from 1).
    function tradeCount() external view returns (uint256);
    /// @notice `10 ** (18 + oracle decimals - cash decimals)`: value = quantity * price / valueScale.
    function valueScale() external view returns (uint256);
    /// @notice Seconds a margin call stays open before a default can be declared.
    function curePeriod() external view returns (uint64);
    /// @notice Oldest oracle answer (seconds) the engine settles on.
    function maxPriceAge() external view returns (uint64);
    /// @notice The default fund this engine reports to and claims from (zero: none, IM only).
    function fund() external view returns (IDefaultFund);
}
