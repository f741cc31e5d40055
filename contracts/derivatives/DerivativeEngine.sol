// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";
import {IComplianceRegistry} from "../interfaces/IComplianceRegistry.sol";
import {ICompliantToken} from "../interfaces/ICompliantToken.sol";
import {IDefaultFund} from "../interfaces/IDefaultFund.sol";
import {
    Amendment, IDerivativeEngine, Side, Terms, Termination, Trade, TradeState
} from "../interfaces/IDerivativeEngine.sol";

/// @title DerivativeEngine
/// @notice Many bilateral trades on one oracle price, settled in one cash token. See
///         {IDerivativeEngine}.
/// @dev Roles: `DEFAULT_ADMIN_ROLE` sets the cure period and the oldest usable price; it cannot
///      touch any party's cash. Parties, keepers and anyone else act only through the lifecycle.
///
///      Default fund (optional, fixed at construction): the engine reports each party's IM to the
///      fund when a trade opens (the fund refuses members not in good standing, which blocks the
///      confirmation), when an amendment resizes it, and when the trade ends (before any IM is
///      spent, so the fund's open IM returns to what it was). A loss that IM and margin account
///      leave unpaid, at a close-out or at maturity, is claimed from the fund, which pays the
///      engine; the engine credits the survivor. A claim the fund cannot pay now (the fund
///      frozen, the engine deregistered) never blocks the close-out: it stays pending, and anyone
///      retries it ({retryFundClaim}) once the condition clears.
///
///      Who cannot pay, and what is only a temporary condition of the system:
///      - a payer whose wallet cannot be pulled from — balance, allowance, or its own compliance
///        status (frozen, offboarded) — cannot pay: a margin call opens, and a close-out or a
///        maturity pays from its collateral. None of them depends on the payer's wallet;
///      - a paused cash token, or an engine the registry does not hold Active, stops everyone:
///        such a pull reverts the call (`DerivativeCashPaused`, `ComplianceAccountNotActive` of
///        the engine), so nothing is decided on it; in a batch that trade is skipped. No default
///        is declared while the token is paused, and a margin call's cure period always ends at
///        least `curePeriod` after the token's last unpause ({cureDeadlineOf}).
///
///      Invariants (tested in tests/contracts/test_derivative_properties.py):
///      - cash.balanceOf(engine) == totalMargin + totalInitialMargin;
///      - totalMargin == sum of marginOf over all parties;
///      - totalInitialMargin == sum of buyerIm + sellerIm over Live and MarginCall trades;
///      - settlement moves value only between the two parties of a trade: what one pays (or owes)
///        the other receives (or is owed);
///      - a trade's lastRound only grows, so a round is settled at most once.
contract DerivativeEngine is IDerivativeEngine, AccessControl, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant AMENDMENT_TYPEHASH = keccak256(
        "Amendment(uint256 tradeId,uint96 quantity,uint40 maturity,uint128 buyerIm,uint128 sellerIm,int256 payment,uint256 nonce,uint256 deadline)"
    );
    /// @notice Gas a default fund claim is always given (it costs ~70,000: no loop in the fund).
    uint256 public constant FUND_CLAIM_GAS = 200_000;
    bytes32 public constant TERMINATION_TYPEHASH =
        keccak256("Termination(uint256 tradeId,int256 payment,uint256 nonce,uint256 deadline)");

    IComplianceRegistry public immutable registry;
    IERC20 public immutable cash;
    AggregatorV3Interface public immutable oracle;
    /// @inheritdoc IDerivativeEngine
    uint256 public immutable valueScale;
    /// @inheritdoc IDerivativeEngine
    IDefaultFund public immutable fund;

    /// @inheritdoc IDerivativeEngine
    uint64 public curePeriod;
    /// @inheritdoc IDerivativeEngine
    uint64 public maxPriceAge;
    /// @inheritdoc IDerivativeEngine
    uint256 public tradeCount;
    /// @inheritdoc IDerivativeEngine
    uint256 public totalMargin;
    /// @inheritdoc IDerivativeEngine
    uint256 public totalInitialMargin;
    /// @inheritdoc IDerivativeEngine
    mapping(address party => uint256) public marginOf;
    /// @inheritdoc IDerivativeEngine
    mapping(uint256 tradeId => uint256) public unpaidClaimOf;
    /// @inheritdoc IDerivativeEngine
    mapping(uint256 tradeId => bool) public fundClaimPendingOf;

    mapping(uint256 tradeId => Trade) private _trades;

    /// @dev Hash of the proposed terms while a trade is `Proposed`; parties, quantity and
    ///      maturity are already in the trade's slots, so confirmation only adds the rest.
    mapping(uint256 tradeId => bytes32) private _proposals;

    /// @param registry_ The shared compliance registry.
    /// @param cash_ The settlement cash token.
    /// @param oracle_ The price feed every trade settles on.
    /// @param admin Holder of `DEFAULT_ADMIN_ROLE`.
    /// @param curePeriod_ Seconds a margin call stays open.
    /// @param maxPriceAge_ Oldest oracle answer, in seconds, used for settlement.
    /// @param fund_ The default fund (zero: none). It may not exist yet (it registers the engine
    ///        in its own constructor, so it is deployed after the engine at a predicted address).
    constructor(
        IComplianceRegistry registry_,
        IERC20 cash_,
        AggregatorV3Interface oracle_,
        address admin,
        uint64 curePeriod_,
        uint64 maxPriceAge_,
        IDefaultFund fund_
    ) EIP712("DerivativeEngine", "1") {
        registry = registry_;
        cash = cash_;
        oracle = oracle_;
        fund = fund_;
        valueScale = 10 ** (18 + uint256(oracle_.decimals()) - uint256(IERC20Metadata(address(cash_)).decimals()));
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setConfig(curePeriod_, maxPriceAge_);
    }

    // ================================================================== opening

    /// @inheritdoc IDerivativeEngine
    function propose(Terms calldata terms) external nonReentrant returns (uint256 tradeId) {
        _validateTerms(terms);
        Side proposer;
        if (msg.sender == terms.buyer) proposer = Side.Buyer;
        else if (msg.sender == terms.seller) proposer = Side.Seller;
        else revert DerivativeNotCounterparty(0, msg.sender);
        // Both parties are checked again when the trade becomes binding, in {confirm}.
        registry.requireActive(msg.sender);
        tradeId = ++tradeCount;
        bytes32 termsHash = keccak256(abi.encode(terms));
        _proposals[tradeId] = termsHash;
        Trade storage t = _trades[tradeId];
        t.buyer = terms.buyer;
        t.maturity = terms.maturity;
        t.state = TradeState.Proposed;
        t.proposer = proposer;
        t.seller = terms.seller;
        t.quantity = terms.quantity;
        emit TradeProposed(tradeId, msg.sender, termsHash, terms);
    }

    /// @inheritdoc IDerivativeEngine
    function confirm(uint256 tradeId, Terms calldata terms) external nonReentrant {
        Trade storage t = _trades[tradeId];
        _expectState(tradeId, t.state, TradeState.Proposed);
        bytes32 expected = _proposals[tradeId];
        bytes32 termsHash = keccak256(abi.encode(terms));
        if (termsHash != expected) revert DerivativeTermsMismatch(tradeId, expected, termsHash);
        address counterparty = t.proposer == Side.Buyer ? terms.seller : terms.buyer;
        if (msg.sender != counterparty) revert DerivativeNotCounterparty(tradeId, msg.sender);
        if (terms.maturity <= block.timestamp) revert DerivativeMaturityInPast(terms.maturity, block.timestamp);
        registry.requireActive(terms.buyer);
        registry.requireActive(terms.seller);

        delete _proposals[tradeId];
        t.state = TradeState.Live;
        t.lastPrice = terms.contractPrice;
        t.buyerIm = terms.buyerIm;
        t.sellerIm = terms.sellerIm;
        totalInitialMargin += uint256(terms.buyerIm) + terms.sellerIm;
        emit TradeConfirmed(tradeId, terms.buyer, terms.seller, terms.buyerIm, terms.sellerIm);
        if (address(fund) != address(0)) {
            // Reverts unless both are members in good standing once this IM counts.
            fund.onTradeOpened(terms.buyer, terms.buyerIm);
            fund.onTradeOpened(terms.seller, terms.sellerIm);
        }

        if (terms.buyerIm > 0) cash.safeTransferFrom(terms.buyer, address(this), terms.buyerIm);
        if (terms.sellerIm > 0) cash.safeTransferFrom(terms.seller, address(this), terms.sellerIm);
    }

    /// @inheritdoc IDerivativeEngine
    function cancel(uint256 tradeId) external nonReentrant {
        Trade storage t = _trades[tradeId];
        _expectState(tradeId, t.state, TradeState.Proposed);
        // Either party may cancel before confirmation.
        if (msg.sender != t.buyer && msg.sender != t.seller) {
            revert DerivativeNotCounterparty(tradeId, msg.sender);
        }
        delete _proposals[tradeId];
        t.state = TradeState.Cancelled;
        emit TradeCancelled(tradeId, msg.sender);
    }

    // ================================================================== margin accounts

    /// @inheritdoc IDerivativeEngine
    function depositMargin(uint256 amount) external nonReentrant {
        if (amount == 0) revert DerivativeZeroAmount();
        marginOf[msg.sender] += amount;
        totalMargin += amount;
        emit MarginDeposited(msg.sender, amount);
        cash.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IDerivativeEngine
    function withdrawMargin(uint256 amount) external nonReentrant {
        if (amount == 0) revert DerivativeZeroAmount();
        uint256 available = marginOf[msg.sender];
        if (amount > available) revert DerivativeInsufficientMargin(msg.sender, available, amount);
        unchecked {
            // amount <= available <= totalMargin, checked above.
            marginOf[msg.sender] = available - amount;
            totalMargin -= amount;
        }
        emit MarginWithdrawn(msg.sender, amount);
        cash.safeTransfer(msg.sender, amount);
    }

    // ================================================================== settlement

    /// @inheritdoc IDerivativeEngine
    function settle(uint256 tradeId) external nonReentrant {
        (uint80 roundId, int256 price, uint256 updatedAt) = _latestPrice();
        Trade storage t = _trades[tradeId];
        TradeState state = t.state;
        if (state != TradeState.Live && state != TradeState.MarginCall) {
            revert DerivativeUnexpectedState(tradeId, TradeState.Live, state);
        }
        if (roundId <= t.lastRound) revert DerivativeNothingToSettle(tradeId, t.lastRound, roundId);
        if (updatedAt >= t.maturity) revert DerivativeMaturityReached(tradeId, t.maturity, updatedAt);
        _settleTo(tradeId, t, roundId, price);
    }

    /// @inheritdoc IDerivativeEngine
    /// @dev Skips, without reverting, every trade that is not due: not live, already settled to
    ///      the latest round, or past maturity (those need {mature}). Each due trade settles in
    ///      its own call frame ({settleInBatch}): one whose payment cannot move (its payer frozen,
    ///      the token paused) is skipped with {SettlementSkipped} and the others still settle.
    function settleMany(uint256[] calldata tradeIds) external nonReentrant returns (uint256 settled) {
        (uint80 roundId,, uint256 updatedAt) = _latestPrice();
        for (uint256 i = 0; i < tradeIds.length; ++i) {
            uint256 tradeId = tradeIds[i];
            Trade storage t = _trades[tradeId];
            TradeState state = t.state;
            if (state != TradeState.Live && state != TradeState.MarginCall) continue;
            if (roundId <= t.lastRound || updatedAt >= t.maturity) continue;
            try this.settleInBatch(tradeId) {
                ++settled;
            } catch (bytes memory reason) {
                emit SettlementSkipped(tradeId, reason);
            }
        }
    }

    /// @inheritdoc IDerivativeEngine
    /// @dev No reentrancy guard of its own: only the engine calls it, from {settleMany}, which
    ///      holds the guard. The price is read again (it is the one {settleMany} checked: same
    ///      transaction), so no caller ever hands the engine a price.
    function settleInBatch(uint256 tradeId) external {
        if (msg.sender != address(this)) revert DerivativeOnlyEngine(msg.sender);
        (uint80 roundId, int256 price,) = _latestPriceUnchecked();
        _settleTo(tradeId, _trades[tradeId], roundId, price);
    }

    /// @inheritdoc IDerivativeEngine
    function cure(uint256 tradeId) external nonReentrant {
        Trade storage t = _trades[tradeId];
        _expectState(tradeId, t.state, TradeState.MarginCall);
        _pay(tradeId, t, _owedByBuyer(t, 0));
        if (t.state == TradeState.MarginCall) {
            revert DerivativePaymentFailed(t.debtor == Side.Buyer ? t.buyer : t.seller, t.debt);
        }
    }

    /// @inheritdoc IDerivativeEngine
    /// @dev Settles to the latest round first when it can: if that pays the debt, or moves it to
    ///      the other party (which then gets its own cure period), there is no default and the
    ///      call returns false.
    function declareDefault(uint256 tradeId) external nonReentrant returns (bool defaulted) {
        Trade storage t = _trades[tradeId];
        _expectState(tradeId, t.state, TradeState.MarginCall);
        // Nobody can cure while the token is paused: no default then, and a full cure period after.
        if (Pausable(address(cash)).paused()) revert DerivativeCashPaused();
        uint256 deadline = _cureDeadline(t);
        if (block.timestamp <= deadline) revert DerivativeCurePeriodRunning(tradeId, deadline, block.timestamp);
        (uint80 roundId, int256 price, uint256 updatedAt) = _latestPriceUnchecked();
        if (roundId > t.lastRound && updatedAt < t.maturity && _usable(price, updatedAt)) {
            _settleTo(tradeId, t, roundId, price);
            // Paid, or the debt moved to the other party, whose own cure period has just begun.
            if (t.state != TradeState.MarginCall || block.timestamp <= _cureDeadline(t)) return false;
        }
        // A debtor that can pay in full now (margin account and wallet) has cured, late.
        bool buyerOwes = t.debtor == Side.Buyer;
        (address debtor, address creditor) = buyerOwes ? (t.buyer, t.seller) : (t.seller, t.buyer);
        uint256 debt = t.debt;
        if (_collect(debtor, debt)) {
            marginOf[creditor] += debt;
            _clearDebt(tradeId, t, t.debtor, debt);
            return false;
        }
        _closeOut(tradeId, t, buyerOwes, debtor, creditor, debt);
        return true;
    }

    /// @inheritdoc IDerivativeEngine
    function mature(uint256 tradeId, uint80 roundId) external nonReentrant {
        Trade storage t = _trades[tradeId];
        TradeState state = t.state;
        if (state != TradeState.Live && state != TradeState.MarginCall) {
            revert DerivativeUnexpectedState(tradeId, TradeState.Live, state);
        }
        if (roundId <= t.lastRound) revert DerivativeNotMaturityRound(tradeId, roundId);
        (, int256 price,, uint256 updatedAt,) = oracle.getRoundData(roundId);
        if (updatedAt < t.maturity) revert DerivativeNotMaturityRound(tradeId, roundId);
        if (roundId - 1 > t.lastRound) {
            (,,, uint256 previousUpdatedAt,) = oracle.getRoundData(roundId - 1);
            if (previousUpdatedAt >= t.maturity) revert DerivativeNotMaturityRound(tradeId, roundId);
        }
        _checkPrice(roundId, price);

        int256 vm = _vmToBuyer(t, price);
        int256 owedByBuyer = _owedByBuyer(t, vm);
        t.lastPrice = int128(price);
        t.lastRound = roundId;
        t.state = TradeState.Matured;
        _reportClosed(t);
        (uint256 fromFund, uint256 unpaid) = _finalPayment(tradeId, t, owedByBuyer);
        emit TradeMatured(tradeId, roundId, price, vm, fromFund, unpaid);
        _releaseInitialMargins(tradeId, t);
    }

    /// @inheritdoc IDerivativeEngine
    /// @dev Reverts with the fund's own error while it still cannot pay; nothing changes then.
    function retryFundClaim(uint256 tradeId) external nonReentrant returns (uint256 paid) {
        if (!fundClaimPendingOf[tradeId]) revert DerivativeNoPendingFundClaim(tradeId);
        Trade storage t = _trades[tradeId];
        (address defaulter, address survivor) = t.debtor == Side.Buyer ? (t.buyer, t.seller) : (t.seller, t.buyer);
        uint256 loss = t.debt;
        delete fundClaimPendingOf[tradeId];
        paid = fund.claim(defaulter, survivor, loss);
        uint256 unpaid = loss - paid;
        t.debt = unpaid;
        if (unpaid == 0) t.debtor = Side.None;
        unpaidClaimOf[tradeId] = unpaid;
        marginOf[survivor] += paid;
        totalMargin += paid;
        emit FundClaimPaid(tradeId, defaulter, survivor, paid, unpaid);
    }

    // ================================================================== 2-of-2 changes

    /// @inheritdoc IDerivativeEngine
    function amend(Amendment calldata a, bytes calldata buyerSignature, bytes calldata sellerSignature)
        external
        nonReentrant
    {
        Trade storage t = _trades[a.tradeId];
        _expectState(a.tradeId, t.state, TradeState.Live);
        bytes32 structHash = keccak256(
            abi.encode(
                AMENDMENT_TYPEHASH, a.tradeId, a.quantity, a.maturity, a.buyerIm, a.sellerIm, a.payment, a.nonce, a.deadline
            )
        );
        _checkSignatures(a.tradeId, t, structHash, a.nonce, a.deadline, buyerSignature, sellerSignature);
        if (a.quantity == 0) revert DerivativeZeroQuantity();
        if (a.maturity <= block.timestamp) revert DerivativeMaturityInPast(a.maturity, block.timestamp);

        t.nonce += 1;
        t.quantity = a.quantity;
        t.maturity = a.maturity;
        _requirePayment(t, a.payment);
        _resizeInitialMargin(a.tradeId, t.buyer, t.buyerIm, a.buyerIm);
        _resizeInitialMargin(a.tradeId, t.seller, t.sellerIm, a.sellerIm);
        t.buyerIm = a.buyerIm;
        t.sellerIm = a.sellerIm;
        emit TradeAmended(a.tradeId, a.nonce, a.quantity, a.maturity, a.buyerIm, a.sellerIm, a.payment);
    }

    /// @inheritdoc IDerivativeEngine
    function terminate(Termination calldata x, bytes calldata buyerSignature, bytes calldata sellerSignature)
        external
        nonReentrant
    {
        Trade storage t = _trades[x.tradeId];
        TradeState state = t.state;
        if (state != TradeState.Live && state != TradeState.MarginCall) {
            revert DerivativeUnexpectedState(x.tradeId, TradeState.Live, state);
        }
        bytes32 structHash = keccak256(abi.encode(TERMINATION_TYPEHASH, x.tradeId, x.payment, x.nonce, x.deadline));
        _checkSignatures(x.tradeId, t, structHash, x.nonce, x.deadline, buyerSignature, sellerSignature);

        t.nonce += 1;
        // The agreed payment replaces any unpaid variation margin.
        t.debt = 0;
        t.debtor = Side.None;
        t.state = TradeState.Terminated;
        _requirePayment(t, x.payment);
        _reportClosed(t);
        emit TradeTerminated(x.tradeId, x.nonce, x.payment);
        _releaseInitialMargins(x.tradeId, t);
    }

    // ================================================================== admin

    /// @inheritdoc IDerivativeEngine
    function setConfig(uint64 curePeriod_, uint64 maxPriceAge_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setConfig(curePeriod_, maxPriceAge_);
    }

    // ================================================================== views

    /// @inheritdoc IDerivativeEngine
    function cureDeadlineOf(uint256 tradeId) external view returns (uint256) {
        Trade storage t = _trades[tradeId];
        if (t.state != TradeState.MarginCall) return 0;
        return _cureDeadline(t);
    }

    /// @inheritdoc IDerivativeEngine
    function stateOf(uint256 tradeId) external view returns (TradeState) {
        return _trades[tradeId].state;
    }

    /// @inheritdoc IDerivativeEngine
    function tradeOf(uint256 tradeId) external view returns (Trade memory) {
        return _trades[tradeId];
    }

    /// @inheritdoc IDerivativeEngine
    function proposalOf(uint256 tradeId) external view returns (bytes32) {
        return _proposals[tradeId];
    }

    /// @notice The EIP-712 domain separator amendments and terminations are signed under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ================================================================== internals: money

    /// @dev Marks `t` to `price` of `roundId` and pays (or calls for) the resulting amount.
    function _settleTo(uint256 tradeId, Trade storage t, uint80 roundId, int256 price) private {
        int256 vm = _vmToBuyer(t, price);
        t.lastPrice = int128(price);
        t.lastRound = roundId;
        (address payer, uint256 paid, uint256 owed) = _pay(tradeId, t, _owedByBuyer(t, vm));
        emit VariationMarginSettled(tradeId, roundId, price, vm, payer, paid, owed);
    }

    /// @dev Change in the buyer's position value from the last settled price to `price`.
    ///      value(p) = quantity * p / valueScale, floored; differences of it telescope, so the
    ///      sum of all variation margin equals value(final) - value(contract price) exactly.
    function _vmToBuyer(Trade storage t, int256 price) private view returns (int256) {
        int256 quantity = int256(uint256(t.quantity));
        int256 scale = int256(valueScale);
        return (quantity * price) / scale - (quantity * int256(t.lastPrice)) / scale;
    }

    /// @dev What the buyer owes the seller (negative: the seller owes the buyer) once `vmToBuyer`
    ///      is added to any unpaid debt.
    function _owedByBuyer(Trade storage t, int256 vmToBuyer) private view returns (int256 owed) {
        owed = -vmToBuyer;
        Side debtor = t.debtor;
        if (debtor == Side.Buyer) owed += int256(t.debt);
        else if (debtor == Side.Seller) owed -= int256(t.debt);
    }

    /// @dev Pays `owedByBuyer` between the parties, or records it as debt under a margin call.
    function _pay(uint256 tradeId, Trade storage t, int256 owedByBuyer)
        private
        returns (address payer, uint256 paid, uint256 owed)
    {
        Side previousDebtor = t.debtor;
        if (owedByBuyer == 0) {
            if (previousDebtor != Side.None) _clearDebt(tradeId, t, previousDebtor, 0);
            return (address(0), 0, 0);
        }
        Side payerSide = owedByBuyer > 0 ? Side.Buyer : Side.Seller;
        uint256 amount = uint256(owedByBuyer > 0 ? owedByBuyer : -owedByBuyer);
        payer = payerSide == Side.Buyer ? t.buyer : t.seller;
        address receiver = payerSide == Side.Buyer ? t.seller : t.buyer;
        if (_collect(payer, amount)) {
            marginOf[receiver] += amount;
            if (previousDebtor != Side.None) _clearDebt(tradeId, t, previousDebtor, amount);
            return (payer, amount, 0);
        }
        t.debt = amount;
        if (previousDebtor != payerSide || t.state != TradeState.MarginCall) {
            uint48 deadline = uint48(block.timestamp + curePeriod);
            t.debtor = payerSide;
            t.cureDeadline = deadline;
            t.state = TradeState.MarginCall;
            emit MarginCalled(tradeId, payer, amount, deadline);
        } else {
            emit MarginCalled(tradeId, payer, amount, t.cureDeadline);
        }
        return (payer, 0, amount);
    }

    function _clearDebt(uint256 tradeId, Trade storage t, Side previousDebtor, uint256 amount) private {
        t.debt = 0;
        t.debtor = Side.None;
        t.cureDeadline = 0;
        if (t.state == TradeState.MarginCall) t.state = TradeState.Live;
        emit MarginCallCured(tradeId, previousDebtor == Side.Buyer ? t.buyer : t.seller, amount);
    }

    /// @dev Takes `amount` from `payer`'s margin account, pulling any shortfall from its wallet.
    ///      Returns false, changing nothing, when the pull fails for the payer's sake (balance,
    ///      allowance, its compliance status). A failure that stops every payer — the token
    ///      paused, the engine not Active — reverts the whole call instead, and so does a pull
    ///      starved of gas by the caller: neither may make a solvent party look unable to pay.
    function _collect(address payer, uint256 amount) private returns (bool) {
        uint256 available = marginOf[payer];
        if (available >= amount) {
            unchecked {
                marginOf[payer] = available - amount;
            }
            return true;
        }
        uint256 shortfall = amount - available;
        marginOf[payer] = 0;
        totalMargin += shortfall;
        uint256 gasBefore = gasleft();
        try cash.transferFrom(payer, address(this), shortfall) returns (bool ok) {
            if (ok) return true;
        } catch {
            // The 63/64 rule: a call that failed with less than 1/64 of the gas it started with
            // left may have run out of gas because the sender sent too little.
            if (gasleft() < gasBefore / 64) revert DerivativePaymentOutOfGas(payer, shortfall);
        }
        _requireCashMoving();
        marginOf[payer] = available;
        totalMargin -= shortfall;
        return false;
    }

    /// @dev Reverts when no payer could pay now: the cash token is paused, or the registry does
    ///      not hold the engine Active (the token refuses the engine as spender and receiver).
    function _requireCashMoving() private view {
        if (Pausable(address(cash)).paused()) revert DerivativeCashPaused();
        registry.requireActive(address(this));
    }

    /// @dev Moves an agreed payment (buyer to seller when positive); reverts if it cannot.
    function _requirePayment(Trade storage t, int256 payment) private {
        if (payment == 0) return;
        (address payer, address receiver) = payment > 0 ? (t.buyer, t.seller) : (t.seller, t.buyer);
        uint256 amount = uint256(payment > 0 ? payment : -payment);
        if (!_collect(payer, amount)) revert DerivativePaymentFailed(payer, amount);
        marginOf[receiver] += amount;
    }

    /// @dev Grows (pulling from margin account or wallet) or shrinks (crediting the margin
    ///      account) one party's initial margin.
    function _resizeInitialMargin(uint256 tradeId, address party, uint128 current, uint128 next) private {
        if (next > current) {
            uint256 extra = next - current;
            if (!_collect(party, extra)) revert DerivativePaymentFailed(party, extra);
            totalMargin -= extra;
            totalInitialMargin += extra;
            // A larger IM needs the party in good standing with the fund, as a new trade does.
            if (address(fund) != address(0)) fund.onTradeOpened(party, extra);
        } else if (next < current) {
            uint256 released = current - next;
            totalInitialMargin -= released;
            totalMargin += released;
            marginOf[party] += released;
            emit InitialMarginReleased(tradeId, party, released);
            if (address(fund) != address(0)) fund.onTradeClosed(party, released);
        }
    }

    /// @dev Default close-out: the defaulter's IM, then its margin account, then the default
    ///      fund pay the debt; the rest is the survivor's claim.
    function _closeOut(uint256 tradeId, Trade storage t, bool buyerDefaulted, address defaulter, address survivor, uint256 loss)
        private
    {
        t.state = TradeState.Defaulted;
        _reportClosed(t);
        (uint256 fromIm, uint256 fromMargin, uint256 fromFund, uint256 unpaid) =
            _payFromCollateral(tradeId, t, buyerDefaulted, defaulter, survivor, loss);
        emit DefaultDeclared(tradeId, defaulter, survivor, loss, fromIm, fromMargin, fromFund, unpaid);
        _releaseInitialMargins(tradeId, t);
    }

    /// @dev Final payment at maturity: from the payer's margin account or wallet; failing that,
    ///      from its IM, what its margin account holds and the default fund, like a close-out.
    ///      Returns what the fund paid and what stays unpaid (the receiver's claim).
    function _finalPayment(uint256 tradeId, Trade storage t, int256 owedByBuyer)
        private
        returns (uint256 fromFund, uint256 unpaid)
    {
        t.debt = 0;
        t.debtor = Side.None;
        if (owedByBuyer == 0) return (0, 0);
        bool buyerPays = owedByBuyer > 0;
        uint256 amount = uint256(buyerPays ? owedByBuyer : -owedByBuyer);
        (address payer, address receiver) = buyerPays ? (t.buyer, t.seller) : (t.seller, t.buyer);
        if (_collect(payer, amount)) {
            marginOf[receiver] += amount;
            return (0, 0);
        }
        (,, fromFund, unpaid) = _payFromCollateral(tradeId, t, buyerPays, payer, receiver, amount);
    }

    /// @dev Pays `amount` owed by `payer` to `receiver` from the payer's IM in this trade, then
    ///      from its margin account, then from the default fund; records what remains as the
    ///      receiver's claim on the payer.
    function _payFromCollateral(
        uint256 tradeId,
        Trade storage t,
        bool payerIsBuyer,
        address payer,
        address receiver,
        uint256 amount
    ) private returns (uint256 fromIm, uint256 fromMargin, uint256 fromFund, uint256 unpaid) {
        uint256 payerIm = payerIsBuyer ? t.buyerIm : t.sellerIm;
        fromIm = amount < payerIm ? amount : payerIm;
        if (payerIsBuyer) t.buyerIm = uint128(payerIm - fromIm);
        else t.sellerIm = uint128(payerIm - fromIm);
        totalInitialMargin -= fromIm;
        totalMargin += fromIm;

        uint256 available = marginOf[payer];
        uint256 remaining = amount - fromIm;
        fromMargin = remaining < available ? remaining : available;
        marginOf[payer] = available - fromMargin;
        marginOf[receiver] += fromIm + fromMargin;

        unpaid = remaining - fromMargin;
        if (unpaid > 0 && address(fund) != address(0)) {
            fromFund = _claimFromFund(tradeId, payer, receiver, unpaid);
            unpaid -= fromFund;
        }
        t.debt = unpaid;
        t.debtor = unpaid > 0 ? (payerIsBuyer ? Side.Buyer : Side.Seller) : Side.None;
        unpaidClaimOf[tradeId] = unpaid;
    }

    /// @dev Claims `loss` from the fund, which sends what it pays to the engine; credits it to
    ///      the survivor. A claim that reverts is not fatal: the close-out goes on, and the claim
    ///      stays pending for {retryFundClaim}. The claim's cost is bounded (no loop in the fund),
    ///      so the call is only made with `FUND_CLAIM_GAS` at hand: a keeper cannot make it fail
    ///      for lack of gas.
    function _claimFromFund(uint256 tradeId, address defaulter, address survivor, uint256 loss)
        private
        returns (uint256 paid)
    {
        uint256 available = gasleft();
        if (available < FUND_CLAIM_GAS) revert DerivativeFundClaimOutOfGas(tradeId, available, FUND_CLAIM_GAS);
        try fund.claim(defaulter, survivor, loss) returns (uint256 fromFund) {
            paid = fromFund;
            marginOf[survivor] += paid;
            totalMargin += paid;
        } catch (bytes memory reason) {
            fundClaimPendingOf[tradeId] = true;
            emit FundClaimFailed(tradeId, reason);
        }
    }

    /// @dev The margin call's cure deadline, pushed to a full cure period after the cash token's
    ///      last unpause: nobody could pay while it was paused.
    function _cureDeadline(Trade storage t) private view returns (uint256 deadline) {
        deadline = t.cureDeadline;
        uint256 resumed = uint256(ICompliantToken(address(cash)).lastUnpausedAt()) + curePeriod;
        if (resumed > deadline) deadline = resumed;
    }

    /// @dev Tells the fund a trade ended, with the IMs it was told of (before any is spent).
    function _reportClosed(Trade storage t) private {
        if (address(fund) == address(0)) return;
        fund.onTradeClosed(t.buyer, t.buyerIm);
        fund.onTradeClosed(t.seller, t.sellerIm);
    }

    /// @dev Returns both parties' remaining initial margins to their margin accounts.
    function _releaseInitialMargins(uint256 tradeId, Trade storage t) private {
        uint256 buyerIm = t.buyerIm;
        uint256 sellerIm = t.sellerIm;
        t.buyerIm = 0;
        t.sellerIm = 0;
        totalInitialMargin -= buyerIm + sellerIm;
        totalMargin += buyerIm + sellerIm;
        if (buyerIm > 0) {
            marginOf[t.buyer] += buyerIm;
            emit InitialMarginReleased(tradeId, t.buyer, buyerIm);
        }
        if (sellerIm > 0) {
            marginOf[t.seller] += sellerIm;
            emit InitialMarginReleased(tradeId, t.seller, sellerIm);
        }
    }

    // ================================================================== internals: checks

    function _latestPrice() private view returns (uint80 roundId, int256 price, uint256 updatedAt) {
        (roundId, price, updatedAt) = _latestPriceUnchecked();
        _checkPrice(roundId, price);
        if (updatedAt + maxPriceAge < block.timestamp) {
            revert DerivativeStalePrice(roundId, updatedAt, maxPriceAge, block.timestamp);
        }
    }

    function _latestPriceUnchecked() private view returns (uint80 roundId, int256 price, uint256 updatedAt) {
        (roundId, price,, updatedAt,) = oracle.latestRoundData();
    }

    function _usable(int256 price, uint256 updatedAt) private view returns (bool) {
        return price > 0 && price <= type(int128).max && updatedAt + maxPriceAge >= block.timestamp;
    }

    /// @dev Prices are stored as int128: refuse what does not fit, and non-positive answers.
    function _checkPrice(uint80 roundId, int256 price) private pure {
        if (price <= 0 || price > type(int128).max) revert DerivativeInvalidPrice(roundId, price);
    }

    function _checkSignatures(
        uint256 tradeId,
        Trade storage t,
        bytes32 structHash,
        uint256 nonce,
        uint256 deadline,
        bytes calldata buyerSignature,
        bytes calldata sellerSignature
    ) private view {
        if (block.timestamp > deadline) revert DerivativeSignatureExpired(tradeId, deadline, block.timestamp);
        if (nonce != t.nonce) revert DerivativeInvalidNonce(tradeId, t.nonce, nonce);
        bytes32 digest = _hashTypedDataV4(structHash);
        if (!SignatureChecker.isValidSignatureNow(t.buyer, digest, buyerSignature)) {
            revert DerivativeInvalidSignature(tradeId, t.buyer);
        }
        if (!SignatureChecker.isValidSignatureNow(t.seller, digest, sellerSignature)) {
            revert DerivativeInvalidSignature(tradeId, t.seller);
        }
    }

    function _validateTerms(Terms calldata terms) private view {
        if (terms.buyer == address(0) || terms.seller == address(0) || terms.buyer == terms.seller) {
            revert DerivativeInvalidParties(terms.buyer, terms.seller);
        }
        if (terms.quantity == 0) revert DerivativeZeroQuantity();
        if (terms.contractPrice <= 0) revert DerivativeNonPositivePrice(terms.contractPrice);
        if (terms.maturity <= block.timestamp) revert DerivativeMaturityInPast(terms.maturity, block.timestamp);
    }

    function _expectState(uint256 tradeId, TradeState actual, TradeState expected) private pure {
        if (actual != expected) revert DerivativeUnexpectedState(tradeId, expected, actual);
    }

    function _setConfig(uint64 curePeriod_, uint64 maxPriceAge_) private {
        if (curePeriod_ == 0 || maxPriceAge_ == 0) revert DerivativeInvalidConfig(curePeriod_, maxPriceAge_);
        curePeriod = curePeriod_;
        maxPriceAge = maxPriceAge_;
        emit ConfigUpdated(curePeriod_, maxPriceAge_);
    }
}
