"""An independent model of the whole market, for the state machine of test_market_machine.py.

Plain Python and integer arithmetic, written from the contracts' documented rules (the
interfaces' NatSpec and the contracts' headers), not from the toolkit: nothing here calls
``dfmi_py``. Each operation either changes the model or raises :class:`Revert` with the custom
error the contract must revert with; an operation that raises may have changed the model half
way, so callers run it on a :meth:`Model.clone` and keep the clone only when it succeeds, as a
reverted transaction keeps nothing.

What the model holds: every account's compliance status; the balances, supply and allowances of
the cash, the bond and a second cash token (EUR, for PvP); each market's oracle (every final
round, the open one, the anchor) and engine (margin accounts, IM, trades); the default fund's
pool and members; the settlement contract's spent nonces and on-chain approvals; the netting
contract's rounds and the escrow each member pre-funded into each.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

MAX_UINT = 2**256 - 1
BPS = 10_000

# IComplianceRegistry.AccountStatus
NONE, ACTIVE, FROZEN = 0, 1, 2
# IDerivativeEngine.TradeState
PROPOSED, LIVE, MARGIN_CALL, DEFAULTED, MATURED, TERMINATED, CANCELLED = 1, 2, 3, 4, 5, 6, 7
# IDerivativeEngine.Side
NO_SIDE, BUYER, SELLER = 0, 1, 2
# IAtomicSettlement.InstructionState of a spent nonce, by the contract's two-bit mark
NONCE_STATE = {1: 3, 2: 4, 3: 6}  # settled, cancelled, locked
# INetting.RoundState
COLLECTING, CLOSED, VERIFIED, SETTLED, EXPIRED = 1, 2, 3, 4, 5
NETTING_EXPIRY = 7 * 86_400


class Revert(Exception):
    """The contract reverts with custom error ``name`` and arguments ``args`` (by position)."""

    def __init__(self, name: str, *args: Any) -> None:
        super().__init__(name, args)
        self.name = name
        self.args_ = args


def mul_div(x: int, y: int, d: int, *, ceil: bool = False) -> int:
    """OpenZeppelin's Math.mulDiv: ``x * y / d`` rounded down (or up)."""
    q, r = divmod(x * y, d)
    return q + 1 if ceil and r else q


def tdiv(a: int, b: int) -> int:
    """Solidity's signed division (rounds toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


# ---------------------------------------------------------------------- tokens


@dataclass
class Token:
    """A compliant ERC-20 (cash or bond): pausable, every holder and spender must be active."""

    name: str
    balances: dict[str, int] = field(default_factory=dict)
    allowances: dict[tuple[str, str], int] = field(default_factory=dict)
    supply: int = 0
    created: int = 0  # minted or issued, ever
    destroyed: int = 0  # burnt or redeemed, ever
    paused: bool = False

    def balance(self, account: str) -> int:
        return self.balances.get(account, 0)

    def allowance(self, owner: str, spender: str) -> int:
        return self.allowances.get((owner, spender), 0)


# ---------------------------------------------------------------------- oracle and engine


@dataclass
class Oracle:
    reporters: list[str]
    quorum: int
    jump_quorum: int
    max_jump_bps: int
    jump_window: int
    min_answer: int
    max_answer: int
    open_round: int = 1
    submissions: list[tuple[str, int]] = field(default_factory=list)
    started_at: int = 0
    jump_pending: bool = False
    anchor: int = 0
    rounds: dict[int, tuple[int, int]] = field(default_factory=dict)  # round -> (answer, updatedAt)

    @property
    def latest(self) -> tuple[int, int, int]:
        """``(round, answer, updatedAt)`` of the latest final round."""
        rid = self.open_round - 1
        answer, updated = self.rounds[rid]
        return rid, answer, updated


@dataclass
class Trade:
    buyer: str
    seller: str
    quantity: int
    maturity: int
    contract_price: int
    buyer_im: int
    seller_im: int
    proposer: int
    state: int = PROPOSED
    last_price: int = 0
    last_round: int = 0
    debtor: int = NO_SIDE
    debt: int = 0
    cure_deadline: int = 0
    nonce: int = 0
    unpaid_claim: int = 0
    terms_ims: tuple[int, int] = (0, 0)  # the IMs of the terms, posted on confirmation


@dataclass
class Engine:
    address: str
    value_scale: int
    cure_period: int
    max_price_age: int
    oracle: Oracle
    margin: dict[str, int] = field(default_factory=dict)
    total_margin: int = 0
    total_im: int = 0
    trades: dict[int, Trade] = field(default_factory=dict)

    def margin_of(self, party: str) -> int:
        return self.margin.get(party, 0)


# ---------------------------------------------------------------------- fund


@dataclass
class FundMember:
    shares: int = 0
    epoch: int = 0
    open_im: int = 0
    flagged: bool = False
    requirement: int = 0


@dataclass
class Fund:
    address: str
    threshold_bps: int
    requirement_bps: int
    floor: int
    window: int
    assets: int = 0
    shares: int = 0
    epoch: int = 0
    nonce: int = 0
    last_draw_at: int = 0
    members: dict[str, FundMember] = field(default_factory=dict)
    engines: set[str] = field(default_factory=set)
    unpaid: dict[tuple[str, str], int] = field(default_factory=dict)

    def shares_of(self, member: str) -> int:
        m = self.members.get(member)
        return m.shares if m is not None and m.epoch == self.epoch else 0

    def balance_of(self, member: str) -> int:
        held = self.shares_of(member)
        return 0 if held == 0 else mul_div(held, self.assets, self.shares)

    def requirement_of(self, member: str) -> int:
        m = self.members[member]
        required = self.floor
        if m.open_im == 0:
            return required
        required = max(required, mul_div(m.open_im, self.requirement_bps, BPS, ceil=True))
        return max(required, m.requirement)

    def threshold(self) -> int:
        return max(2, -(-len(self.members) * self.threshold_bps // BPS))


# ---------------------------------------------------------------------- netting


@dataclass
class Obligation:
    payer: str
    payee: str
    amount: int
    ref: int
    removed: bool = False
    #: The DvP instruction whose cash leg this is (entered with ``enterInstruction``), if any.
    delivery: Any = None


@dataclass
class NettingRound:
    opener: str
    cutoff: int
    deadline: int
    stage: int = COLLECTING
    members: list[str] = field(default_factory=list)
    obligations: list[Obligation] = field(default_factory=list)
    excluded: set[str] = field(default_factory=set)
    funded: dict[str, int] = field(default_factory=dict)  # escrow pre-funded, by member

    @property
    def escrowed(self) -> int:
        return sum(self.funded.values())

    def nets(self) -> dict[str, int]:
        nets = dict.fromkeys(self.members, 0)
        for o in self.obligations:
            if not o.removed:
                nets[o.payer] -= o.amount
                nets[o.payee] += o.amount
        return nets

    def state(self, now: int) -> int:
        if self.stage == SETTLED:
            return SETTLED
        return EXPIRED if now > self.deadline + NETTING_EXPIRY else self.stage


# ---------------------------------------------------------------------- the market


@dataclass
class Model:
    """Everything the suite holds, as the contracts' rules say it moves."""

    status: dict[str, int]
    cash: Token
    bond: Token
    engines: dict[str, Engine]  # by market name
    fund: Fund
    settlement: str
    netting: str
    contracts: frozenset[str]
    cash_address: str
    eur: Token = field(default_factory=lambda: Token("eur"))
    eur_address: str = ""
    last_unpaused_at: int = 0  # the cash token's
    spent: dict[tuple[str, str, int], int] = field(default_factory=dict)  # settlement nonce marks
    approvals: dict[str, int] = field(default_factory=dict)  # settlement on-chain consent flags
    rounds: dict[int, NettingRound] = field(default_factory=dict)

    def clone(self) -> Model:
        return copy.deepcopy(self)

    def status_of(self, account: str) -> int:
        return self.status.get(account, NONE)

    def require_active(self, account: str) -> None:
        """``registry.requireActive`` and the tokens' mirrored check (one error for both)."""
        status = self.status_of(account)
        if status != ACTIVE:
            raise Revert("ComplianceAccountNotActive", account, status)

    # ------------------------------------------------------------------ compliance

    def onboard(self, account: str) -> None:
        if self.status_of(account) != NONE:
            raise Revert("ComplianceInvalidStatus", account, self.status_of(account))
        self.status[account] = ACTIVE

    def freeze(self, account: str) -> None:
        if self.status_of(account) != ACTIVE:
            raise Revert("ComplianceInvalidStatus", account, self.status_of(account))
        self.status[account] = FROZEN

    def unfreeze(self, account: str) -> None:
        if self.status_of(account) != FROZEN:
            raise Revert("ComplianceInvalidStatus", account, self.status_of(account))
        self.status[account] = ACTIVE

    # ------------------------------------------------------------------ tokens

    def _update(self, token: Token, frm: str | None, to: str | None, amount: int) -> None:
        """CompliantToken._update: not paused, both ends active, then the balance."""
        if token.paused:
            raise Revert("EnforcedPause")
        if frm is not None:
            self.require_active(frm)
        if to is not None:
            self.require_active(to)
        if frm is not None:
            held = token.balance(frm)
            if held < amount:
                raise Revert("ERC20InsufficientBalance", frm, held, amount)
            token.balances[frm] = held - amount
        else:
            token.supply += amount
        if to is not None:
            token.balances[to] = token.balance(to) + amount
        else:
            token.supply -= amount

    def transfer(self, token: Token, frm: str, to: str, amount: int) -> None:
        self._update(token, frm, to, amount)

    def transfer_from(self, token: Token, spender: str, frm: str, to: str, amount: int) -> None:
        self.require_active(spender)
        allowed = token.allowance(frm, spender)
        if allowed != MAX_UINT and allowed < amount:
            raise Revert("ERC20InsufficientAllowance", spender, allowed, amount)
        self._update(token, frm, to, amount)  # checks everything before it moves anything
        if allowed != MAX_UINT:
            token.allowances[(frm, spender)] = allowed - amount

    def approve(self, token: Token, owner: str, spender: str, amount: int) -> None:
        if token.paused:
            raise Revert("EnforcedPause")
        self.require_active(owner)
        self.require_active(spender)
        token.allowances[(owner, spender)] = amount

    def mint(self, token: Token, minter: str, to: str, amount: int) -> None:
        """CashToken.mint / SecurityToken.issue (the minter's allowance is ample)."""
        self.require_active(minter)
        self._update(token, None, to, amount)
        token.created += amount

    def burn(self, token: Token, burner: str, amount: int) -> None:
        self._update(token, burner, None, amount)
        token.destroyed += amount

    def pause(self, token: Token) -> None:
        if token.paused:
            raise Revert("EnforcedPause")
        token.paused = True

    def unpause(self, token: Token, now: int) -> None:
        if not token.paused:
            raise Revert("ExpectedPause")
        token.paused = False
        if token is self.cash:
            self.last_unpaused_at = now

    # ------------------------------------------------------------------ oracle

    def submit(self, market: str, reporter: str, round_id: int, answer: int, now: int) -> bool:
        """One report; whether it finalised the round."""
        o = self.engines[market].oracle
        if reporter not in o.reporters:
            raise Revert("OracleNotReporter", reporter)
        if round_id != o.open_round:
            raise Revert("OracleWrongRound", o.open_round, round_id)
        if any(r == reporter for r, _ in o.submissions):
            raise Revert("OracleAlreadyReported", round_id, reporter)
        if answer <= 0:
            raise Revert("OracleAnswerNotPositive", answer)
        if answer < o.min_answer or answer > o.max_answer:
            raise Revert("OracleAnswerOutOfBounds", answer, o.min_answer, o.max_answer)
        if not o.submissions:
            o.started_at = now
        o.submissions.append((reporter, answer))
        count = len(o.submissions)
        if count < o.quorum:
            return False
        if o.jump_pending:
            if count >= o.jump_quorum:
                self._finalise(o, True, now)
                return True
            return False
        if o.anchor == 0 or count >= o.jump_quorum:
            self._finalise(o, True, now)
            return True
        anchor_answer, anchor_at = o.rounds[o.anchor]
        if abs(_median(o) - anchor_answer) * BPS <= anchor_answer * o.max_jump_bps:
            self._finalise(o, now - anchor_at > o.jump_window, now)
            return True
        o.jump_pending = True
        return False

    def _finalise(self, o: Oracle, move_anchor: bool, now: int) -> None:
        o.rounds[o.open_round] = (_median(o), now)
        if move_anchor:
            o.anchor = o.open_round
        o.open_round += 1
        o.submissions = []
        o.jump_pending = False

    # ------------------------------------------------------------------ engine: opening

    def propose(self, market: str, sender: str, trade_id: int, t: Trade, now: int) -> None:
        if t.buyer == t.seller:
            raise Revert("DerivativeInvalidParties", t.buyer, t.seller)
        if t.maturity <= now:
            raise Revert("DerivativeMaturityInPast", t.maturity, now)
        if sender not in (t.buyer, t.seller):
            raise Revert("DerivativeNotCounterparty", 0, sender)
        self.require_active(sender)
        t.proposer = BUYER if sender == t.buyer else SELLER
        t.terms_ims, t.buyer_im, t.seller_im = (t.buyer_im, t.seller_im), 0, 0
        self.engines[market].trades[trade_id] = t

    def confirm(self, market: str, sender: str, trade_id: int, now: int) -> None:
        e = self.engines[market]
        t = e.trades[trade_id]
        self._expect(trade_id, t, PROPOSED)
        counterparty = t.seller if t.proposer == BUYER else t.buyer
        if sender != counterparty:
            raise Revert("DerivativeNotCounterparty", trade_id, sender)
        if t.maturity <= now:
            raise Revert("DerivativeMaturityInPast", t.maturity, now)
        self.require_active(t.buyer)
        self.require_active(t.seller)
        t.state = LIVE
        t.last_price = t.contract_price
        t.buyer_im, t.seller_im = t.terms_ims
        e.total_im += t.buyer_im + t.seller_im
        self.fund_trade_opened(e.address, t.buyer, t.buyer_im)
        self.fund_trade_opened(e.address, t.seller, t.seller_im)
        if t.buyer_im:
            self.transfer_from(self.cash, e.address, t.buyer, e.address, t.buyer_im)
        if t.seller_im:
            self.transfer_from(self.cash, e.address, t.seller, e.address, t.seller_im)

    def cancel_trade(self, market: str, sender: str, trade_id: int) -> None:
        t = self.engines[market].trades[trade_id]
        self._expect(trade_id, t, PROPOSED)
        if sender not in (t.buyer, t.seller):
            raise Revert("DerivativeNotCounterparty", trade_id, sender)
        t.state = CANCELLED

    @staticmethod
    def _expect(trade_id: int, t: Trade | None, state: int) -> None:
        actual = 0 if t is None else t.state
        if actual != state:
            raise Revert("DerivativeUnexpectedState", trade_id, state, actual)

    @staticmethod
    def _expect_open(trade_id: int, t: Trade | None) -> Trade:
        actual = 0 if t is None else t.state
        if t is None or actual not in (LIVE, MARGIN_CALL):
            raise Revert("DerivativeUnexpectedState", trade_id, LIVE, actual)
        return t

    # ------------------------------------------------------------------ engine: money

    def withdraw_margin(self, market: str, party: str, amount: int) -> None:
        e = self.engines[market]
        if amount == 0:
            raise Revert("DerivativeZeroAmount")
        available = e.margin_of(party)
        if amount > available:
            raise Revert("DerivativeInsufficientMargin", party, available, amount)
        e.margin[party] = available - amount
        e.total_margin -= amount
        self.transfer(self.cash, e.address, party, amount)

    def _collect(self, e: Engine, payer: str, amount: int) -> bool:
        available = e.margin_of(payer)
        if available >= amount:
            e.margin[payer] = available - amount
            return True
        shortfall = amount - available
        try:
            self.transfer_from(self.cash, e.address, payer, e.address, shortfall)
        except Revert:  # the engine catches the token's revert (nothing moved)
            if self.cash.paused:
                raise Revert("DerivativeCashPaused") from None
            self.require_active(e.address)
            return False
        e.margin[payer] = 0
        e.total_margin += shortfall
        return True

    def _pay(self, trade_id: int, e: Engine, t: Trade, owed_by_buyer: int, now: int) -> None:
        previous = t.debtor
        if owed_by_buyer == 0:
            if previous != NO_SIDE:
                _clear_debt(t)
            return
        side = BUYER if owed_by_buyer > 0 else SELLER
        amount = abs(owed_by_buyer)
        payer, receiver = (t.buyer, t.seller) if side == BUYER else (t.seller, t.buyer)
        if self._collect(e, payer, amount):
            e.margin[receiver] = e.margin_of(receiver) + amount
            if previous != NO_SIDE:
                _clear_debt(t)
            return
        t.debt = amount
        if previous != side or t.state != MARGIN_CALL:
            t.debtor = side
            t.cure_deadline = now + e.cure_period
            t.state = MARGIN_CALL

    def _settle_to(self, trade_id: int, e: Engine, t: Trade, round_id: int, price: int, now: int) -> None:
        vm = _vm_to_buyer(e, t, price)
        t.last_price = price
        t.last_round = round_id
        self._pay(trade_id, e, t, _owed_by_buyer(t, vm), now)

    def _latest_price(self, e: Engine, now: int) -> tuple[int, int, int]:
        rid, price, updated = e.oracle.latest
        if updated + e.max_price_age < now:
            raise Revert("DerivativeStalePrice", rid, updated, e.max_price_age, now)
        return rid, price, updated

    def settle(self, market: str, trade_id: int, now: int) -> None:
        e = self.engines[market]
        rid, price, updated = self._latest_price(e, now)
        t = self._expect_open(trade_id, e.trades.get(trade_id))
        if rid <= t.last_round:
            raise Revert("DerivativeNothingToSettle", trade_id, t.last_round, rid)
        if updated >= t.maturity:
            raise Revert("DerivativeMaturityReached", trade_id, t.maturity, updated)
        self._settle_to(trade_id, e, t, rid, price, now)

    def settle_many(self, market: str, trade_ids: list[int], now: int) -> list[int]:
        """The trades settled; a trade whose settlement reverts is skipped (SettlementSkipped)."""
        e = self.engines[market]
        rid, _, updated = self._latest_price(e, now)
        settled = []
        for trade_id in trade_ids:
            t = e.trades.get(trade_id)
            if t is None or t.state not in (LIVE, MARGIN_CALL) or rid <= t.last_round or updated >= t.maturity:
                continue
            trial = self.clone()
            try:
                te = trial.engines[market]
                trial._settle_to(trade_id, te, te.trades[trade_id], rid, e.oracle.latest[1], now)
            except Revert:
                continue
            self.__dict__.update(trial.__dict__)
            e = self.engines[market]
            settled.append(trade_id)
        return settled

    def cure(self, market: str, trade_id: int, now: int) -> None:
        e = self.engines[market]
        t = e.trades.get(trade_id)
        self._expect(trade_id, t, MARGIN_CALL)
        assert t is not None
        self._pay(trade_id, e, t, _owed_by_buyer(t, 0), now)
        if t.state == MARGIN_CALL:
            raise Revert("DerivativePaymentFailed", t.buyer if t.debtor == BUYER else t.seller, t.debt)

    def cure_deadline(self, e: Engine, t: Trade) -> int:
        return max(t.cure_deadline, self.last_unpaused_at + e.cure_period)

    def declare_default(self, market: str, trade_id: int, now: int) -> bool:
        e = self.engines[market]
        t = e.trades.get(trade_id)
        self._expect(trade_id, t, MARGIN_CALL)
        assert t is not None
        if self.cash.paused:
            raise Revert("DerivativeCashPaused")
        deadline = self.cure_deadline(e, t)
        if now <= deadline:
            raise Revert("DerivativeCurePeriodRunning", trade_id, deadline, now)
        rid, price, updated = e.oracle.latest
        if rid > t.last_round and updated < t.maturity and updated + e.max_price_age >= now:
            self._settle_to(trade_id, e, t, rid, price, now)
            if t.state != MARGIN_CALL or now <= self.cure_deadline(e, t):
                return False
        buyer_owes = t.debtor == BUYER
        debtor, creditor = (t.buyer, t.seller) if buyer_owes else (t.seller, t.buyer)
        debt = t.debt
        if self._collect(e, debtor, debt):
            e.margin[creditor] = e.margin_of(creditor) + debt
            _clear_debt(t)
            return False
        t.state = DEFAULTED
        self._report_closed(e, t)
        self._pay_from_collateral(e, t, buyer_owes, debtor, creditor, debt, now)
        self._release_ims(e, t)
        return True

    def _report_closed(self, e: Engine, t: Trade) -> None:
        self.fund_trade_closed(e.address, t.buyer, t.buyer_im)
        self.fund_trade_closed(e.address, t.seller, t.seller_im)

    def _release_ims(self, e: Engine, t: Trade) -> None:
        for party, im in ((t.buyer, t.buyer_im), (t.seller, t.seller_im)):
            e.total_im -= im
            e.total_margin += im
            e.margin[party] = e.margin_of(party) + im
        t.buyer_im = t.seller_im = 0

    def _pay_from_collateral(
        self, e: Engine, t: Trade, payer_is_buyer: bool, payer: str, receiver: str, amount: int, now: int
    ) -> None:
        payer_im = t.buyer_im if payer_is_buyer else t.seller_im
        from_im = min(amount, payer_im)
        if payer_is_buyer:
            t.buyer_im -= from_im
        else:
            t.seller_im -= from_im
        e.total_im -= from_im
        e.total_margin += from_im
        remaining = amount - from_im
        from_margin = min(remaining, e.margin_of(payer))
        e.margin[payer] = e.margin_of(payer) - from_margin
        e.margin[receiver] = e.margin_of(receiver) + from_im + from_margin
        unpaid = remaining - from_margin
        if unpaid > 0:
            paid = self.fund_claim(e.address, payer, receiver, unpaid, now)
            e.margin[receiver] += paid
            e.total_margin += paid
            unpaid -= paid
        t.debt = unpaid
        t.debtor = (BUYER if payer_is_buyer else SELLER) if unpaid else NO_SIDE
        t.unpaid_claim = unpaid

    # ------------------------------------------------------------------ engine: 2-of-2 changes

    def _check_signed(self, trade_id: int, t: Trade, nonce: int, deadline: int, now: int) -> None:
        if now > deadline:
            raise Revert("DerivativeSignatureExpired", trade_id, deadline, now)
        if nonce != t.nonce:
            raise Revert("DerivativeInvalidNonce", trade_id, t.nonce, nonce)

    def _require_payment(self, e: Engine, t: Trade, payment: int) -> None:
        if payment == 0:
            return
        payer, receiver = (t.buyer, t.seller) if payment > 0 else (t.seller, t.buyer)
        if not self._collect(e, payer, abs(payment)):
            raise Revert("DerivativePaymentFailed", payer, abs(payment))
        e.margin[receiver] = e.margin_of(receiver) + abs(payment)

    def amend(
        self,
        market: str,
        trade_id: int,
        quantity: int,
        buyer_im: int,
        seller_im: int,
        payment: int,
        nonce: int,
        deadline: int,
        now: int,
    ) -> None:
        e = self.engines[market]
        t = e.trades.get(trade_id)
        self._expect(trade_id, t, LIVE)
        assert t is not None
        self._check_signed(trade_id, t, nonce, deadline, now)
        if t.maturity <= now:  # the amendment keeps the maturity, which must still be ahead
            raise Revert("DerivativeMaturityInPast", t.maturity, now)
        t.nonce += 1
        t.quantity = quantity
        self._require_payment(e, t, payment)
        for party, current, nxt in ((t.buyer, t.buyer_im, buyer_im), (t.seller, t.seller_im, seller_im)):
            if nxt > current:
                extra = nxt - current
                if not self._collect(e, party, extra):
                    raise Revert("DerivativePaymentFailed", party, extra)
                e.total_margin -= extra
                e.total_im += extra
                self.fund_trade_opened(e.address, party, extra)
            elif nxt < current:
                released = current - nxt
                e.total_im -= released
                e.total_margin += released
                e.margin[party] = e.margin_of(party) + released
                self.fund_trade_closed(e.address, party, released)
        t.buyer_im, t.seller_im = buyer_im, seller_im

    def terminate(self, market: str, trade_id: int, payment: int, nonce: int, deadline: int, now: int) -> None:
        e = self.engines[market]
        t = self._expect_open(trade_id, e.trades.get(trade_id))
        self._check_signed(trade_id, t, nonce, deadline, now)
        t.nonce += 1
        t.debt = 0
        t.debtor = NO_SIDE
        t.state = TERMINATED
        self._require_payment(e, t, payment)
        self._report_closed(e, t)
        self._release_ims(e, t)

    # ------------------------------------------------------------------ engine: maturity

    def mature(self, market: str, trade_id: int, round_id: int, now: int) -> None:
        """DerivativeEngine.mature: at the trade's maturity round (the first final round after
        its last settled one whose time is at or after its maturity), the last variation margin
        and any debt are paid like a settlement, from the payer's collateral and the fund when
        its wallet fails; the IMs are released. Anyone may send it; the price may be stale."""
        e = self.engines[market]
        t = self._expect_open(trade_id, e.trades.get(trade_id))
        if round_id <= t.last_round:
            raise Revert("DerivativeNotMaturityRound", trade_id, round_id)
        if round_id not in e.oracle.rounds:
            raise Revert("OracleNoData", round_id)
        price, updated = e.oracle.rounds[round_id]
        if updated < t.maturity:
            raise Revert("DerivativeNotMaturityRound", trade_id, round_id)
        if round_id - 1 > t.last_round and e.oracle.rounds[round_id - 1][1] >= t.maturity:
            raise Revert("DerivativeNotMaturityRound", trade_id, round_id)
        owed_by_buyer = _owed_by_buyer(t, _vm_to_buyer(e, t, price))
        t.last_price, t.last_round, t.state = price, round_id, MATURED
        self._report_closed(e, t)
        t.debt, t.debtor = 0, NO_SIDE
        if owed_by_buyer != 0:
            buyer_pays = owed_by_buyer > 0
            amount = abs(owed_by_buyer)
            payer, receiver = (t.buyer, t.seller) if buyer_pays else (t.seller, t.buyer)
            if self._collect(e, payer, amount):
                e.margin[receiver] = e.margin_of(receiver) + amount
            else:
                self._pay_from_collateral(e, t, buyer_pays, payer, receiver, amount, now)
        self._release_ims(e, t)

    def maturity_round(self, market: str, trade_id: int) -> int | None:
        """The round ``mature`` takes for the trade, if it is final yet."""
        e = self.engines[market]
        t = e.trades[trade_id]
        after = [rid for rid, (_, updated) in sorted(e.oracle.rounds.items()) if rid > t.last_round]
        return next((rid for rid in after if e.oracle.rounds[rid][1] >= t.maturity), None)

    # ------------------------------------------------------------------ fund

    def _fund_mint(self, member: FundMember, amount: int) -> int:
        f = self.fund
        if amount == 0:
            raise Revert("FundZeroAmount")
        shares = amount * 10**6 if f.shares == 0 else mul_div(amount, f.shares, f.assets)
        if shares == 0:
            raise Revert("FundZeroShares", amount)
        held = member.shares if member.epoch == f.epoch else 0
        member.shares = held + shares
        member.epoch = f.epoch
        f.assets += amount
        f.shares += shares
        return shares

    def fund_join(self, member: str, amount: int) -> None:
        f = self.fund
        if member in f.members:
            raise Revert("FundAlreadyMember", member)
        self.require_active(member)
        m = f.members[member] = FundMember(epoch=f.epoch)
        self._fund_mint(m, amount)
        balance, requirement = f.balance_of(member), f.requirement_of(member)
        if balance < requirement:
            raise Revert("FundBelowRequirement", member, balance, requirement)
        self.transfer_from(self.cash, f.address, member, f.address, amount)

    def fund_contribute(self, member: str, amount: int) -> None:
        f = self.fund
        m = f.members.get(member)
        if m is None:
            raise Revert("FundNotMember", member)
        self._fund_mint(m, amount)
        if m.flagged and f.balance_of(member) >= f.requirement_of(member):
            m.flagged = False
        self.transfer_from(self.cash, f.address, member, f.address, amount)

    def fund_flag(self, member: str, now: int) -> None:
        f = self.fund
        deadline = f.last_draw_at + f.window
        if f.last_draw_at == 0 or now <= deadline:
            raise Revert("FundReplenishmentWindowOpen", 0 if f.last_draw_at == 0 else deadline, now)
        m = f.members.get(member)
        if m is None:
            raise Revert("FundNotMember", member)
        balance, requirement = f.balance_of(member), f.requirement_of(member)
        if m.flagged or balance >= requirement:
            raise Revert("FundNotShort", member, balance, requirement)
        m.flagged = True

    def fund_trade_opened(self, engine: str, member: str, im: int) -> None:
        f = self.fund
        m = f.members.get(member)
        if m is None:
            raise Revert("FundNotMember", member)
        m.open_im += im
        balance, requirement = f.balance_of(member), f.requirement_of(member)
        if m.flagged or balance < requirement:
            raise Revert("FundNotInGoodStanding", member, m.flagged, balance, requirement)

    def fund_trade_closed(self, engine: str, member: str, im: int) -> None:
        m = self.fund.members[member]
        if im > m.open_im:
            raise Revert("FundCloseExceedsOpen", member, m.open_im, im)
        m.open_im -= im

    def fund_claim(self, engine: str, defaulter: str, survivor: str, loss: int, now: int) -> int:
        """DefaultFund.claim: the defaulter's balance first, then every other member pro rata
        (the pool's assets fall, the shares do not), capped by what the fund holds."""
        f = self.fund
        m = f.members[defaulter]
        assets, supply = f.assets, f.shares
        from_defaulter = burnt = 0
        held = f.shares_of(defaulter)
        if held > 0:
            balance = mul_div(held, assets, supply)
            if loss >= balance:
                from_defaulter, burnt = balance, held
            else:
                from_defaulter, burnt = loss, mul_div(loss, supply, assets, ceil=True)
            m.shares = held - burnt
            supply -= burnt
            assets -= from_defaulter
        rest = loss - from_defaulter
        from_survivors = 0
        if rest > 0 and assets > 0:
            from_survivors = min(rest, assets)
            assets -= from_survivors
            if assets == 0:
                supply = 0
                f.epoch += 1
        f.assets, f.shares = assets, supply
        paid = from_defaulter + from_survivors
        if loss > paid:
            f.unpaid[(defaulter, survivor)] = f.unpaid.get((defaulter, survivor), 0) + loss - paid
        if paid > 0:
            f.last_draw_at = now
            self.transfer(self.cash, f.address, engine, paid)
        return paid

    def fund_execute(self, nonce: int, deadline: int, signers: list[str], now: int) -> None:
        """DefaultFund.execute's checks common to every action (signatures valid and sorted)."""
        f = self.fund
        if now > deadline:
            raise Revert("FundApprovalExpired", deadline, now)
        if nonce != f.nonce:
            raise Revert("FundInvalidNonce", f.nonce, nonce)
        required = f.threshold()
        if len(signers) < required:
            raise Revert("FundNotEnoughApprovals", len(signers), required)
        f.nonce += 1
        for signer in signers:
            if signer not in f.members:
                raise Revert("FundSignerNotMember", signer)

    def fund_set_requirement(self, bps: int, floor: int) -> None:
        if bps > BPS or floor >= 2**96:
            raise Revert("FundInvalidRequirement", bps, floor)
        self.fund.requirement_bps, self.fund.floor = bps, floor

    def fund_withdraw(self, member: str, amount: int, signers: list[str]) -> None:
        f = self.fund
        if amount == 0:
            raise Revert("FundZeroAmount")
        if member not in signers:
            raise Revert("FundWithdrawalNotApprovedByMember", member)
        held = f.shares_of(member)
        assets, supply = f.assets, f.shares
        balance = 0 if held == 0 else mul_div(held, assets, supply)
        requirement = f.requirement_of(member)
        if amount > balance:
            raise Revert("FundWithdrawalExceedsExcess", member, balance, requirement, amount)
        burnt = mul_div(amount, supply, assets, ceil=True)
        held, supply, assets = held - burnt, supply - burnt, assets - amount
        left = 0 if held == 0 else mul_div(held, assets, supply)
        if left < requirement:
            raise Revert("FundWithdrawalExceedsExcess", member, balance, requirement, amount)
        f.members[member].shares = held
        f.assets, f.shares = assets, supply
        self.transfer(self.cash, f.address, member, amount)

    # ------------------------------------------------------------------ settlement (DvP / PvP)

    def _nonce_mark(self, a: str, b: str, nonce: int) -> int:
        low, high = sorted((a.lower(), b.lower()))
        return self.spent.get((low, high, nonce), 0)

    def instruction_mark(self, ins: Any) -> int:
        """The mark of the instruction's nonce: 0 unspent, 1 settled, 2 cancelled, 3 locked."""
        return self._nonce_mark(ins.party_a, ins.party_b, ins.nonce)

    def _spend(self, ins: Any, mark: int) -> None:
        low, high = sorted((ins.party_a.lower(), ins.party_b.lower()))
        self.spent[(low, high, ins.nonce)] = mark

    def _settleable(self, ins: Any, iid: str, now: int) -> None:
        if now > ins.deadline:
            raise Revert("SettlementExpired", iid, ins.deadline, now)
        if ins.amount_a == 0 or ins.amount_b == 0:
            raise Revert("SettlementZeroAmount", iid)
        if ins.party_a == ins.party_b:
            raise Revert("SettlementSameParty", iid, ins.party_a)
        if ins.token_a == ins.token_b:
            raise Revert("SettlementSameToken", iid, ins.token_a)
        mark = self._nonce_mark(ins.party_a, ins.party_b, ins.nonce)
        if mark:
            raise Revert("SettlementNonceUsed", iid, ins.nonce, NONCE_STATE[mark])

    def _token(self, address: str) -> Token:
        if address == self.cash_address:
            return self.cash
        return self.eur if address == self.eur_address else self.bond

    def _execute(self, ins: Any, iid: str) -> None:
        self._spend(ins, 1)
        self.approvals.pop(iid, None)
        self.transfer_from(self._token(ins.token_a), self.settlement, ins.party_a, ins.party_b, ins.amount_a)
        self.transfer_from(self._token(ins.token_b), self.settlement, ins.party_b, ins.party_a, ins.amount_b)

    def settle_instruction(self, ins: Any, iid: str, signed_a: bool, signed_b: bool, now: int) -> None:
        self._settleable(ins, iid, now)
        flags = self.approvals.get(iid, 0)
        if not signed_a and not flags & 1:
            raise Revert("SettlementUnauthorized", iid, ins.party_a)
        if not signed_b and not flags & 2:
            raise Revert("SettlementUnauthorized", iid, ins.party_b)
        self._execute(ins, iid)

    def propose_instruction(self, ins: Any, iid: str, sender: str, now: int) -> None:
        self._settleable(ins, iid, now)
        own = self._party_flag(ins, iid, sender)
        flags = self.approvals.get(iid, 0)
        if flags:
            raise Revert("SettlementAlreadyProposed", iid, bool(flags & 1), bool(flags & 2))
        self.approvals[iid] = own

    def affirm_instruction(self, ins: Any, iid: str, sender: str, now: int) -> bool:
        """Whether it settled (a failed settlement leaves it affirmed, without reverting)."""
        self._settleable(ins, iid, now)
        own = self._party_flag(ins, iid, sender)
        if self.approvals.get(iid, 0) != 3 ^ own:
            raise Revert("SettlementNotProposed", iid, sender)
        trial = self.clone()
        try:
            trial._execute(ins, iid)
        except Revert:
            self.approvals[iid] = 3
            return False
        self.__dict__.update(trial.__dict__)
        return True

    def cancel_instruction(self, ins: Any, iid: str, sender: str) -> None:
        self._party_flag(ins, iid, sender)
        mark = self._nonce_mark(ins.party_a, ins.party_b, ins.nonce)
        if mark:
            raise Revert("SettlementNonceUsed", iid, ins.nonce, NONCE_STATE[mark])
        self._spend(ins, 2)
        self.approvals.pop(iid, None)

    @staticmethod
    def _party_flag(ins: Any, iid: str, sender: str) -> int:
        if sender == ins.party_a:
            return 1
        if sender == ins.party_b:
            return 2
        raise Revert("SettlementNotParty", iid, sender)

    # ------------------------------------------------------------------ netting

    def open_netting_round(self, round_id: int, opener: str, cutoff: int, deadline: int, now: int) -> None:
        self.require_active(opener)
        if cutoff < now or deadline < cutoff:
            raise Revert("NettingInvalidSchedule", cutoff, deadline, now)
        self.rounds[round_id] = NettingRound(opener, cutoff, deadline)

    def _round(self, round_id: int, expected: int, now: int) -> NettingRound:
        r = self.rounds.get(round_id)
        if r is None:
            raise Revert("NettingUnknownRound", round_id)
        if r.state(now) != expected:
            raise Revert("NettingInvalidState", round_id, expected, r.state(now))
        return r

    def register_obligation(self, round_id: int, o: Obligation, oid: str, now: int) -> None:
        r = self._round(round_id, COLLECTING, now)
        if now > r.cutoff:
            raise Revert("NettingCutoffPassed", round_id, r.cutoff, now)
        if o.payer == o.payee:
            raise Revert("NettingSameParty", oid, o.payer)
        self.require_active(o.payer)
        self.require_active(o.payee)
        for member in (o.payer, o.payee):
            if member not in r.members:
                r.members.append(member)
        r.obligations.append(o)

    def close_round(self, round_id: int, sender: str, now: int) -> None:
        r = self._round(round_id, COLLECTING, now)
        if sender != r.opener and now <= r.cutoff:
            raise Revert("NettingCutoffNotReached", round_id, sender, r.cutoff, now)
        r.stage = CLOSED

    def submit_nets(self, round_id: int, nets: list[int], now: int) -> None:
        r = self._round(round_id, CLOSED, now)
        if len(nets) != len(r.members):
            raise Revert("NettingNetsLength", round_id, len(r.members), len(nets))
        if sum(nets) != 0:
            raise Revert("NettingNetsNotBalanced", round_id, sum(nets))
        actual = r.nets()
        for member, given in zip(r.members, nets, strict=True):
            if given != actual[member]:
                raise Revert("NettingNetMismatch", round_id, member, actual[member], given)
        r.stage = VERIFIED

    def enter_instruction(self, round_id: int, ins: Any, iid: str, ref: int, now: int) -> None:
        """NettingEngine.enterInstruction with both parties' signatures: the settlement contract
        locks the instruction, its cash leg (buyer partyB owes amountB to seller partyA) is booked."""
        r = self._round(round_id, COLLECTING, now)
        if now > r.cutoff:
            raise Revert("NettingCutoffPassed", round_id, r.cutoff, now)
        if ins.token_b != self.cash_address:
            raise Revert("NettingNotCashLeg", round_id, ins.token_b)
        if ins.deadline < r.deadline:
            raise Revert("NettingInstructionDeadline", round_id, ins.deadline, r.deadline)
        self.require_active(ins.party_a)
        self.require_active(ins.party_b)
        self._settleable(ins, iid, now)
        self._spend(ins, 3)
        for member in (ins.party_b, ins.party_a):
            if member not in r.members:
                r.members.append(member)
        r.obligations.append(Obligation(ins.party_b, ins.party_a, ins.amount_b, ref, delivery=(ins, iid)))

    def deliveries_fail(self, round_id: int, now: int) -> bool:
        """Whether settling the round now would find a delivery leg that cannot move."""
        trial = self.clone()
        try:
            trial.settle_round(round_id, now)
        except Revert as revert:
            return revert.name == "NettingDeliveriesFailed"
        return False

    def settle_round(self, round_id: int, now: int) -> None:
        r = self._round(round_id, VERIFIED, now)
        r.stage = SETTLED
        nets = r.nets()
        pulls = {}
        for member in r.members:
            if nets[member] < 0:
                from_escrow = min(r.funded.get(member, 0), -nets[member])
                r.funded[member] = r.funded.get(member, 0) - from_escrow
                pulls[member] = -nets[member] - from_escrow
        for member, pull in pulls.items():
            if pull:
                self.transfer_from(self.cash, self.netting, member, self.netting, pull)
        for member in r.members:
            if nets[member] > 0:
                self.transfer(self.cash, self.netting, member, nets[member])
        for o in r.obligations:  # then every delivery leg, through the settlement contract
            if o.delivery is not None and not o.removed:
                ins, iid = o.delivery
                self._spend(ins, 1)
                self.approvals.pop(iid, None)
                try:
                    self.transfer_from(
                        self._token(ins.token_a), self.settlement, ins.party_a, ins.party_b, ins.amount_a
                    )
                except Revert:
                    # The contract names every failed delivery and its reason: the machine only
                    # sends a settlement whose deliveries all move (see deliveries_fail).
                    raise Revert("NettingDeliveriesFailed") from None

    def exclude(self, round_id: int, member: str, refs: list[int], now: int) -> None:
        """Exclude ``member``, removing its obligations of ``refs`` (all it has, or it fails)."""
        r = self.rounds.get(round_id)
        if r is None:
            raise Revert("NettingUnknownRound", round_id)
        state = r.state(now)
        if state not in (CLOSED, VERIFIED):
            raise Revert("NettingInvalidState", round_id, CLOSED, state)
        if now <= r.deadline:
            raise Revert("NettingDeadlineNotReached", round_id, r.deadline, now)
        if member not in r.members:
            raise Revert("NettingNotMember", round_id, member)
        if member in r.excluded:
            raise Revert("NettingAlreadyExcluded", round_id, member)
        net = r.nets()[member]
        required = -net if net < 0 else 0
        active = self.status_of(member) == ACTIVE
        available = r.funded.get(member, 0)
        if active and available < required:
            available += min(self.cash.balance(member), self.cash.allowance(member, self.netting))
        blocks = available < required if net < 0 else (net > 0 and not active)
        for o in r.obligations:
            if o.ref in refs:
                o.removed = True
        if not blocks:
            raise Revert("NettingMemberNotShort", round_id, member, required, available)
        remaining = sum(1 for o in r.obligations if not o.removed and member in (o.payer, o.payee))
        if remaining:
            raise Revert("NettingExclusionIncomplete", round_id, member, remaining)
        r.excluded.add(member)
        r.stage = CLOSED

    def fund_netting(self, round_id: int, member: str, amount: int, now: int) -> None:
        """NettingEngine.fund: ``member`` pre-funds a round that may still settle."""
        r = self.rounds.get(round_id)
        if r is None:
            raise Revert("NettingUnknownRound", round_id)
        state = r.state(now)
        if state not in (COLLECTING, CLOSED, VERIFIED):
            raise Revert("NettingInvalidState", round_id, CLOSED, state)
        if amount == 0:
            raise Revert("NettingZeroAmount")
        r.funded[member] = r.funded.get(member, 0) + amount
        self.transfer_from(self.cash, self.netting, member, self.netting, amount)

    def free_funding(self, round_id: int, member: str, now: int) -> int:
        """What ``member`` may withdraw: all of its funding, less its net debit while the round
        may still settle."""
        r = self.rounds[round_id]
        held = r.funded.get(member, 0)
        if r.state(now) not in (COLLECTING, CLOSED, VERIFIED):
            return held
        net = r.nets().get(member, 0)
        return held if net >= 0 else max(held + net, 0)

    def withdraw_funding(self, round_id: int, member: str, amount: int, now: int) -> None:
        """NettingEngine.withdrawFunding."""
        r = self.rounds.get(round_id)
        if r is None:
            raise Revert("NettingUnknownRound", round_id)
        if amount == 0:
            raise Revert("NettingZeroAmount")
        free = self.free_funding(round_id, member, now)
        if amount > free:
            raise Revert("NettingWithdrawalExceedsFree", round_id, member, free, amount)
        r.funded[member] = r.funded.get(member, 0) - amount
        self.transfer(self.cash, self.netting, member, amount)


def _median(o: Oracle) -> int:
    values = sorted(a for _, a in o.submissions)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) // 2


def _vm_to_buyer(e: Engine, t: Trade, price: int) -> int:
    return tdiv(t.quantity * price, e.value_scale) - tdiv(t.quantity * t.last_price, e.value_scale)


def _owed_by_buyer(t: Trade, vm_to_buyer: int) -> int:
    owed = -vm_to_buyer
    if t.debtor == BUYER:
        owed += t.debt
    elif t.debtor == SELLER:
        owed -= t.debt
    return owed


def _clear_debt(t: Trade) -> None:
    t.debt = 0
    t.debtor = NO_SIDE
    t.cure_deadline = 0
    if t.state == MARGIN_CALL:
        t.state = LIVE
