"""DerivativeEngine properties over random markets (Hypothesis).

Each example opens a few trades between three members with random quantities, initial margins and
wallet balances, then runs a random sequence of price rounds (settled one by one or in a batch),
margin deposits and withdrawals, cure attempts and default declarations. A Python model written
from the specification predicts every payment, margin call and close-out; after every step the
chain must agree with it, and:

- what a settlement takes from the payer (margin account and wallet) the receiver gets, exactly;
- cash is conserved: the parties' wallets plus the engine's balance never change in sum;
- cash.balanceOf(engine) == totalMargin() + totalInitialMargin();
- totalMargin() == the sum of the margin accounts;
- totalInitialMargin() == the sum of the initial margins of the live (and margin-called) trades.

The chain is reset between examples (a function-scoped fixture is set up once per test, not once
per example).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dfmi_py.chain import Chain
from tests.contracts.conftest import (
    CURE_PERIOD,
    PRICE,
    UNIT,
    USD,
    Market,
    Side,
    State,
    value,
)
from tests.helpers import ZERO_ADDRESS, Roles, events, evm_revert, evm_snapshot, examples, expect_revert

YEAR = 365 * 24 * 3600

prices = st.one_of(
    st.integers(PRICE * 8 // 10, PRICE * 12 // 10),
    st.integers(PRICE * 8 // 10, PRICE * 12 // 10),
    st.integers(1, 10 * PRICE),
    st.sampled_from([1, PRICE, 2**127 - 1 - 10**30]),
)


@dataclass
class ModelTrade:
    """What the specification says the engine holds for one trade."""

    trade_id: int
    buyer: str
    seller: str
    quantity: int
    last_price: int
    buyer_im: int
    seller_im: int
    state: State = State.LIVE
    debtor: Side = Side.NONE
    debt: int = 0

    def party(self, side: Side) -> str:
        return self.buyer if side == Side.BUYER else self.seller

    @property
    def open(self) -> bool:
        return self.state in (State.LIVE, State.MARGIN_CALL)


@dataclass
class Model:
    """Wallets, margin accounts and trades, as the specification moves them."""

    wallets: dict[str, int]
    margins: dict[str, int]
    trades: list[ModelTrade] = field(default_factory=list)

    def can_pay(self, party: str, amount: int) -> bool:
        return self.margins[party] + self.wallets[party] >= amount

    def collect(self, party: str, amount: int) -> None:
        from_margin = min(self.margins[party], amount)
        self.margins[party] -= from_margin
        self.wallets[party] -= amount - from_margin

    def pay(self, trade: ModelTrade, owed_by_buyer: int) -> tuple[str, int, int]:
        """The engine's `_pay`: settle what the buyer owes (negative: the seller owes); (payer, paid, owed)."""
        if owed_by_buyer == 0:
            self.clear(trade)
            return ZERO_ADDRESS, 0, 0
        side = Side.BUYER if owed_by_buyer > 0 else Side.SELLER
        payer, receiver = trade.party(side), trade.party(Side.SELLER if side == Side.BUYER else Side.BUYER)
        amount = abs(owed_by_buyer)
        if self.can_pay(payer, amount):
            self.collect(payer, amount)
            self.margins[receiver] += amount
            self.clear(trade)
            return payer, amount, 0
        trade.debt, trade.debtor, trade.state = amount, side, State.MARGIN_CALL
        event("margin call")
        return payer, 0, amount

    @staticmethod
    def clear(trade: ModelTrade) -> None:
        trade.debt, trade.debtor = 0, Side.NONE
        if trade.state == State.MARGIN_CALL:
            trade.state = State.LIVE

    @staticmethod
    def owed_by_buyer(trade: ModelTrade, vm_to_buyer: int) -> int:
        sign = {Side.NONE: 0, Side.BUYER: 1, Side.SELLER: -1}[trade.debtor]
        return -vm_to_buyer + sign * trade.debt

    def settle(self, trade: ModelTrade, price: int) -> tuple[int, str, int, int]:
        vm = value(trade.quantity, price) - value(trade.quantity, trade.last_price)
        trade.last_price = price
        payer, paid, owed = self.pay(trade, self.owed_by_buyer(trade, vm))
        return vm, payer, paid, owed

    def close_out(self, trade: ModelTrade) -> tuple[int, int, int]:
        """Default: the defaulter's IM, then its margin account, pay what they can; both IMs' rest is
        returned. (paid from IM, paid from the margin account, unpaid)."""
        buyer_defaulted = trade.debtor == Side.BUYER
        defaulter = trade.buyer if buyer_defaulted else trade.seller
        survivor = trade.seller if buyer_defaulted else trade.buyer
        defaulter_im = trade.buyer_im if buyer_defaulted else trade.seller_im
        from_im = min(trade.debt, defaulter_im)
        from_margin = min(trade.debt - from_im, self.margins[defaulter])
        unpaid = trade.debt - from_im - from_margin
        self.margins[defaulter] -= from_margin
        self.margins[survivor] += from_im + from_margin
        if buyer_defaulted:
            trade.buyer_im -= from_im
        else:
            trade.seller_im -= from_im
        self.margins[trade.buyer] += trade.buyer_im
        self.margins[trade.seller] += trade.seller_im
        trade.buyer_im = trade.seller_im = 0
        trade.state, trade.debt = State.DEFAULTED, unpaid
        if unpaid == 0:
            trade.debtor = Side.NONE
        event("default with an unpaid claim" if unpaid else "default covered by the IM and margin account")
        return from_im, from_margin, unpaid

    def total_im(self) -> int:
        return sum(t.buyer_im + t.seller_im for t in self.trades if t.open)


class Run:
    """One example: the market, the model, and the checks after every step."""

    def __init__(self, market: Market, parties: list[LocalAccount], model: Model, total_cash: int) -> None:
        self.market = market
        self.parties = parties
        self.model = model
        self.total_cash = total_cash
        self.by_address = {p.address: p for p in parties}

    def books(self) -> dict[str, int]:
        return self.market.books(self.parties)

    def check(self) -> None:
        books = self.books()
        wallets = {p.address: books[f"wallet:{p.address}"] for p in self.parties}
        margins = {p.address: books[f"margin:{p.address}"] for p in self.parties}
        assert sum(wallets.values()) + books["engine_cash"] == self.total_cash, "cash is conserved"
        assert books["engine_cash"] == books["total_margin"] + books["total_im"]
        assert books["total_margin"] == sum(margins.values())
        assert books["total_im"] == self.model.total_im()
        assert wallets == self.model.wallets
        assert margins == self.model.margins
        on_chain_im = 0
        for trade in self.model.trades:
            actual = self.market.trade(trade.trade_id)
            expected = {
                "state": trade.state,
                "lastPrice": trade.last_price,
                "debt": trade.debt,
                "debtor": trade.debtor,
                "buyerIm": trade.buyer_im,
                "sellerIm": trade.seller_im,
            }
            assert {k: actual[k] for k in expected} == expected, f"trade {trade.trade_id}"
            if trade.state in (State.LIVE, State.MARGIN_CALL):
                on_chain_im += actual["buyerIm"] + actual["sellerIm"]
        assert books["total_im"] == on_chain_im

    def check_settlements(self, receipt: Any, settled: list[tuple[ModelTrade, int, int, str, int, int]]) -> None:
        """The receipt's VM events are the model's, and each payer's loss is its receiver's gain."""
        round_id = int(self.market.aggregator.functions.latestRound().call())
        assert events(self.market.engine, "VariationMarginSettled", receipt) == [
            {
                "tradeId": trade.trade_id,
                "roundId": round_id,
                "price": price,
                "vmToBuyer": vm,
                "payer": payer,
                "paid": paid,
                "owed": owed,
            }
            for trade, price, vm, payer, paid, owed in settled
        ]

    def settle_round(self, price: int, batch: bool) -> None:
        market = self.market
        before = self.books()
        market.push_price(price)
        due = [t for t in self.model.trades if t.open]
        settled = []
        for trade in due:
            vm, payer, paid, owed = self.model.settle(trade, price)
            settled.append((trade, price, vm, payer, paid, owed))
        if batch:
            ids = [t.trade_id for t in self.model.trades]
            call = market.engine.functions.settleMany(ids)
            assert call.call() == len(due)
            receipt = market.chain.transact(call, market.roles.outsider)
            self.check_settlements(receipt, settled)
        else:
            for entry in settled:
                receipt = market.settle(entry[0].trade_id)
                self.check_settlements(receipt, [entry])
        # What each payer gave (margin account + wallet), its counterparty received, and no one else.
        after = self.books()
        flows = dict.fromkeys(self.by_address, 0)
        for trade, _, _, payer, paid, _ in settled:
            if paid:
                receiver = trade.seller if payer == trade.buyer else trade.buyer
                flows[payer] -= paid
                flows[receiver] += paid
        for address in self.by_address:
            held_before = before[f"wallet:{address}"] + before[f"margin:{address}"]
            held_after = after[f"wallet:{address}"] + after[f"margin:{address}"]
            assert held_after - held_before == flows[address], f"{address} paid or received what it should not"
        assert sum(flows.values()) == 0

    def deposit(self, index: int, fraction: float) -> None:
        party = self.parties[index]
        amount = int(self.model.wallets[party.address] * fraction)
        if amount == 0:
            return
        self.market.deposit(party, amount)
        self.model.wallets[party.address] -= amount
        self.model.margins[party.address] += amount

    def withdraw(self, index: int, fraction: float) -> None:
        party = self.parties[index]
        amount = int(self.model.margins[party.address] * fraction)
        if amount == 0:
            return
        self.market.withdraw(party, amount)
        self.model.wallets[party.address] += amount
        self.model.margins[party.address] -= amount

    def top_up(self, source: LocalAccount, index: int, amount: int) -> None:
        """Cash from outside the market arrives in a party's wallet (the conserved total grows by it)."""
        party = self.parties[index]
        self.market.chain.transact(self.market.cash.functions.transfer(party.address, amount), source)
        self.model.wallets[party.address] += amount
        self.total_cash += amount

    def cure(self) -> None:
        for trade in [t for t in self.model.trades if t.state == State.MARGIN_CALL]:
            call = self.market.engine.functions.cure(trade.trade_id)
            debtor = trade.party(trade.debtor)
            if self.model.can_pay(debtor, trade.debt):
                self.market.chain.transact(call, self.market.roles.outsider)
                receiver = trade.seller if debtor == trade.buyer else trade.buyer
                self.model.collect(debtor, trade.debt)
                self.model.margins[receiver] += trade.debt
                self.model.clear(trade)
                event("margin call cured")
            else:
                with expect_revert("DerivativePaymentFailed", payer=debtor, amount=trade.debt):
                    self.market.chain.transact(call, self.market.roles.outsider)

    def default(self) -> None:
        """Let every open cure period run out (the latest price goes stale), then declare the defaults.

        A debtor that can pay in full by then (margin account and wallet) is cured late instead.
        """
        self.market.advance(CURE_PERIOD + 1)
        for trade in [t for t in self.model.trades if t.state == State.MARGIN_CALL]:
            defaulter = trade.party(trade.debtor)
            loss = trade.debt
            call = self.market.engine.functions.declareDefault(trade.trade_id)
            late_cure = self.model.can_pay(defaulter, loss)
            assert call.call() is not late_cure
            receipt = self.market.chain.transact(call, self.market.roles.outsider)
            declared = [
                (e["defaulter"], e["loss"], e["paidFromIm"], e["paidFromMargin"], e["unpaidClaim"])
                for e in events(self.market.engine, "DefaultDeclared", receipt)
            ]
            if late_cure:
                receiver = trade.seller if defaulter == trade.buyer else trade.buyer
                self.model.collect(defaulter, loss)
                self.model.margins[receiver] += loss
                self.model.clear(trade)
                event("late cure at the default declaration")
                assert declared == []
            else:
                from_im, from_margin, unpaid = self.model.close_out(trade)
                assert declared == [(defaulter, loss, from_im, from_margin, unpaid)]
                assert self.market.engine.functions.unpaidClaimOf(trade.trade_id).call() == unpaid


usd = st.integers(0, 20).map(lambda thousands: thousands * 1_000 * USD)
trade_specs = st.lists(
    st.tuples(
        st.sampled_from([(0, 1), (1, 2), (2, 0), (1, 0)]),
        st.tuples(st.integers(1, 40), st.integers(0, UNIT - 1)).map(lambda q: q[0] * UNIT + q[1]),
        usd,
        usd,
        st.integers(PRICE * 9 // 10, PRICE * 11 // 10),
    ),
    min_size=1,
    max_size=3,
)
#: What may happen after a round is settled.
actions = st.one_of(
    st.just(("nothing",)),
    st.tuples(st.just("deposit"), st.integers(0, 2), st.integers(1, 4)),
    st.tuples(st.just("withdraw"), st.integers(0, 2), st.integers(1, 4)),
    st.tuples(st.just("top-up-and-cure"), st.integers(0, 2), st.integers(1, 20).map(lambda k: k * 1_000 * USD)),
    st.just(("default",)),
)
#: Each step: a price round (settled in a batch or one trade at a time), then an action.
steps = st.lists(st.tuples(prices, st.booleans(), actions), min_size=1, max_size=6)
wallet_kept = st.one_of(
    st.sampled_from([0, 500 * USD, 5_000 * USD]), st.integers(0, 1_000).map(lambda k: k * 1_000 * USD)
)


@settings(
    max_examples=examples(8),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    wallets=st.lists(wallet_kept, min_size=3, max_size=3),
    specs=trade_specs,
    plan=steps,
)
def test_settlement_moves_value_only_between_the_parties_and_keeps_the_books(
    market: Market,
    chain: Chain,
    roles: Roles,
    wallets: list[int],
    specs: list[tuple[Any, ...]],
    plan: list[tuple[Any, ...]],
) -> None:
    snapshot = evm_snapshot(chain)
    try:
        parties = list(roles.members[:3])
        sink = roles.members[5]
        model = Model(
            wallets={p.address: market.balance(p) for p in parties},
            margins=dict.fromkeys((p.address for p in parties), 0),
        )
        for (b, s), quantity, buyer_im, seller_im, contract_price in specs:
            buyer, seller = parties[b], parties[s]
            trade_id, _ = market.open(
                buyer,
                seller,
                quantity=quantity,
                buyer_im=buyer_im,
                seller_im=seller_im,
                contract_price=contract_price,
                maturity=market.now() + YEAR,
            )
            model.wallets[buyer.address] -= buyer_im
            model.wallets[seller.address] -= seller_im
            model.trades.append(
                ModelTrade(trade_id, buyer.address, seller.address, quantity, contract_price, buyer_im, seller_im)
            )
        # Each party keeps only part of its wallet, so some cannot pay their losses.
        for party, keep in zip(parties, wallets, strict=True):
            if keep < model.wallets[party.address]:
                chain.transact(market.cash.functions.transfer(sink.address, model.wallets[party.address] - keep), party)
                model.wallets[party.address] = keep
        books = market.books(parties)
        run = Run(market, parties, model, sum(books[f"wallet:{p.address}"] for p in parties) + books["engine_cash"])
        run.check()
        for price, batch, action in plan:
            run.settle_round(price, batch)
            run.check()
            kind = action[0]
            if kind == "deposit":
                run.deposit(action[1], action[2] / 4)
            elif kind == "withdraw":
                run.withdraw(action[1], action[2] / 4)
            elif kind == "top-up-and-cure":
                run.top_up(sink, action[1], action[2])
                run.cure()
            elif kind == "default":
                run.default()
            run.check()
    finally:
        evm_revert(chain, snapshot)
