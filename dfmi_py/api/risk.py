"""The risk maths (:mod:`dfmi_py.risk`) fed from the chain.

What the chain gives, per market (underlying):

* its **price history**: every final oracle round, at the time it finalised (``updatedAt``);
* each **trade's margins and life**: the IMs it was confirmed with (or last amended to), from its
  ``TradeConfirmed`` event's time to the time it matured, was terminated or was closed out
  (``DefaultDeclared``) — or to now while it lives;
* its **variation margin**: every ``VariationMarginSettled`` event's mark (paid or, under a margin
  call, owed) and every ``TradeMatured`` event's final mark, with its block's time. A close-out's
  loss (``DefaultDeclared``) is the debt of marks already among them, so it is not added again;
* the members' **books**: every side of every live trade (or under a margin call), with its IM.

From these the readers compute the IM a model proposes for a new trade, the backtest, the fund's
stress sizing and the settlement-regime table. Nothing here sends a transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from dfmi_py.api.derivatives import Terms, TradeState
from dfmi_py.api.guard import guard_public_methods
from dfmi_py.errors import InputError
from dfmi_py.risk.backtest import BacktestReport, TradeMargin, VmFlow, backtest
from dfmi_py.risk.forward import position_value
from dfmi_py.risk.fund import (
    FundSizing,
    Position,
    StressScenario,
    historical_scenarios,
    hypothetical_scenarios,
    size_fund,
)
from dfmi_py.risk.historical import HistoricalModel, PricePoint, Side, historical_im
from dfmi_py.risk.regimes import BookTrade, SettlementRegime, compare_regimes
from dfmi_py.risk.schedule import AssetClass, schedule_im

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

    from dfmi_py.api.market import Market, Underlying

__all__ = ["ImModel", "ProposedIm", "RiskReader", "ScheduleModel", "TradeLife"]

#: Events that end a trade's observed life.
_END_EVENTS = ("TradeMatured", "TradeTerminated", "DefaultDeclared")
_OPEN = (TradeState.LIVE, TradeState.MARGIN_CALL)


@dataclass(frozen=True)
class ScheduleModel:
    """The BCBS-IOSCO schedule as a configured model (:func:`dfmi_py.risk.schedule.schedule_im`).

    Attributes:
        asset_class: The underlying's asset class.
        maturity_years: The trade's remaining maturity in years (credit and rates only).
    """

    asset_class: AssetClass
    maturity_years: float = 0.0


#: A configured initial-margin model: the schedule or historical simulation.
ImModel = ScheduleModel | HistoricalModel


@dataclass(frozen=True)
class ProposedIm:
    """The IMs a model proposes for one trade, each side's own.

    Attributes:
        buyer_im: The buyer's IM, cash units.
        seller_im: The seller's IM, cash units.
        notional: ``quantity * price // scale``, cash units.
        scenarios: Historical scenarios used (0 for the schedule).
    """

    buyer_im: int
    seller_im: int
    notional: int
    scenarios: int


@dataclass(frozen=True)
class TradeLife:
    """A confirmed trade as the risk maths sees it.

    Attributes:
        trade_id: The trade.
        market: Its market's name.
        buyer: The buyer's address.
        seller: The seller's address.
        quantity: Underlying units, 18 decimals (the latest amended).
        buyer_im: The buyer's IM (confirmed or latest amended), cash units.
        seller_im: The seller's IM, cash units.
        start: Time of its confirmation.
        end: Time of its maturity, termination or default, or ``None`` while it lives.
    """

    trade_id: int
    market: str
    buyer: str
    seller: str
    quantity: int
    buyer_im: int
    seller_im: int
    start: int
    end: int | None


@guard_public_methods
class RiskReader:
    """The risk figures of a deployed market, read from its chain.

    Args:
        market: The deployed market.
    """

    def __init__(self, market: Market) -> None:
        self.market = market

    # ------------------------------------------------------------------ inputs from the chain

    def _underlying(self, name: str | None) -> Underlying:
        return self.market.underlying(name)

    def price_history(self, name: str | None = None) -> list[PricePoint]:
        """Every final round of the market's oracle as ``(updatedAt, answer)``, in round order."""
        feed = self._underlying(name).oracle
        rounds = [feed.round(record.round_id) for record in feed.history()]
        return [PricePoint(r.updated_at, r.answer) for r in rounds]

    def trade_lives(self, name: str | None = None) -> list[TradeLife]:
        """Every confirmed trade of the market with the IMs it held and its life, by trade id."""
        underlying = self._underlying(name)
        lives: dict[int, TradeLife] = {}
        quantities = {i: t.quantity for i, t in underlying.derivatives.all_proposed_terms().items()}
        for event in underlying.derivatives.events():
            trade_id = event.trade_id
            if trade_id is None:
                continue
            args = event.args
            if event.name == "TradeConfirmed":
                lives[trade_id] = TradeLife(
                    trade_id,
                    underlying.name,
                    str(args["buyer"]),
                    str(args["seller"]),
                    quantities[trade_id],
                    int(args["buyerIm"]),
                    int(args["sellerIm"]),
                    event.timestamp,
                    None,
                )
            elif trade_id in lives and event.name == "TradeAmended":
                lives[trade_id] = replace(
                    lives[trade_id],
                    quantity=int(args["quantity"]),
                    buyer_im=int(args["buyerIm"]),
                    seller_im=int(args["sellerIm"]),
                )
            elif trade_id in lives and event.name in _END_EVENTS and lives[trade_id].end is None:
                lives[trade_id] = replace(lives[trade_id], end=event.timestamp)
        return [lives[i] for i in sorted(lives)]

    def current_terms(self, trade_id: int, name: str | None = None) -> Terms:
        """``trade_id``'s terms as they stand: those it was proposed with, and the quantity,
        maturity and IMs of its latest ``TradeAmended`` event if both parties amended it (the
        contract price never changes: an amendment settles any difference as a payment).

        Raises:
            InputError: no trade ``trade_id`` was proposed on the market's engine.
        """
        engine = self._underlying(name).derivatives
        terms = engine.proposed_terms(trade_id)
        amended = [e for e in engine.events(trade_id) if e.name == "TradeAmended"]  # in chain order
        if not amended:
            return terms
        last = amended[-1].args
        return replace(
            terms,
            quantity=int(last["quantity"]),
            maturity=int(last["maturity"]),
            buyer_im=int(last["buyerIm"]),
            seller_im=int(last["sellerIm"]),
        )

    def vm_flows(self, name: str | None = None) -> list[VmFlow]:
        """Every variation margin the market's trades were marked to, at its block's time: each
        settlement's (``VariationMarginSettled``) and each maturity's final one (``TradeMatured``).

        A mark counts whether it was paid or became a margin call's debt. A close-out's loss
        (``DefaultDeclared.loss``) is that debt, the sum of marks already here, so it adds no flow.
        """
        underlying = self._underlying(name)
        return [
            VmFlow(int(e.trade_id), e.timestamp, int(e.args["vmToBuyer"]), underlying.name)
            for e in underlying.derivatives.events()
            if e.name in ("VariationMarginSettled", "TradeMatured") and e.trade_id is not None
        ]

    def positions(self) -> list[Position]:
        """Every side of every live trade (or under a margin call) of every market, with its IM."""
        out = []
        for underlying in self.market.markets.values():
            engine = underlying.derivatives
            for trade_id in range(1, engine.trade_count() + 1):
                t = engine.trade(trade_id)
                if t.state not in _OPEN:
                    continue
                out.append(Position(t.buyer, underlying.name, t.quantity, True, t.buyer_im))
                out.append(Position(t.seller, underlying.name, t.quantity, False, t.seller_im))
        return out

    def _now(self) -> int:
        return self.market.chain.now()

    # ------------------------------------------------------------------ the figures

    def proposed_im(
        self,
        quantity: int,
        price: int,
        model: ImModel,
        name: str | None = None,
        prices: Sequence[PricePoint] | None = None,
        stressed: Sequence[PricePoint] = (),
    ) -> ProposedIm:
        """The IMs ``model`` asks of each side of a forward of ``quantity`` at ``price``.

        Args:
            quantity: Underlying units, 18 decimals.
            price: The contract price, in the feed's decimals.
            model: The schedule or a historical-simulation model.
            name: The market (default: the first).
            prices: The history for a historical model (default: the oracle's rounds).
            stressed: A stressed period added to the look-back (anti-procyclicality).

        Raises:
            InputError: too little history for the model's horizon, or an input out of range.
        """
        scale = self._underlying(name).derivatives.value_scale
        notional = position_value(quantity, price, scale)
        if isinstance(model, ScheduleModel):
            im = schedule_im(notional, model.asset_class, model.maturity_years)
            return ProposedIm(im, im, notional, 0)
        history = self.price_history(name) if prices is None else list(prices)
        buyer = historical_im(quantity, price, scale, Side.BUYER, history, model, stressed)
        seller = historical_im(quantity, price, scale, Side.SELLER, history, model, stressed)
        return ProposedIm(buyer.im, seller.im, notional, buyer.scenarios)

    def terms_from_model(
        self,
        buyer: str,
        seller: str,
        quantity: int,
        contract_price: int,
        maturity: int,
        model: ImModel,
        name: str | None = None,
        prices: Sequence[PricePoint] | None = None,
    ) -> Terms:
        """A forward's terms with each side's IM from ``model`` (:meth:`proposed_im`): propose them
        with ``Derivatives.propose``; the counterparty confirms the same terms, IMs included."""
        proposed = self.proposed_im(quantity, contract_price, model, name, prices)
        return Terms(buyer, seller, quantity, contract_price, maturity, proposed.buyer_im, proposed.seller_im)

    def trade_margins(self, name: str | None = None, now: int | None = None) -> list[TradeMargin]:
        """Each confirmed trade's IMs and observed life ``[start, end]`` as the backtest takes them
        (the end is inclusive here: the backtest's exclusive end is one second after it)."""
        at = self._now() if now is None else now
        return [
            TradeMargin(t.trade_id, t.market, t.buyer, t.seller, t.buyer_im, t.seller_im, t.start, (t.end or at) + 1)
            for t in self.trade_lives(name)
        ]

    def backtest(
        self, mpor_seconds: int, confidence: float, name: str | None = None, now: int | None = None
    ) -> BacktestReport:
        """The IM held against the VM settled in every margin-period window, per trade, member and
        market, with Kupiec's test (:func:`dfmi_py.risk.backtest.backtest`); every market by default."""
        names = [name] if name is not None else list(self.market.markets)
        at = self._now() if now is None else now
        trades: list[TradeMargin] = []
        flows: list[VmFlow] = []
        for market in names:
            trades += self.trade_margins(market, at)
            flows += self.vm_flows(market)
        return backtest(trades, flows, mpor_seconds, confidence)

    def fund_sizing(
        self,
        mpor_seconds: int,
        shocks_bps: Mapping[str, Sequence[int]] | None = None,
        floor: int = 0,
        historical: bool = True,
        market_wide_bps: Sequence[int] = (),
    ) -> FundSizing:
        """Cover-1 / cover-2 of the live books under the worst historical moves over ``mpor_seconds``
        (every market together), the hypothetical ``shocks_bps`` per market and the
        ``market_wide_bps`` shocks (each one scenario moving every market of a live trade at once),
        against the fund's total assets, with the contributions in proportion to each member's
        stressed exposure.

        Raises:
            InputError: a shock names an unknown market or is at most -10,000 bps, or there is no
                scenario.
        """
        shocks = {self.market.underlying(k).name: list(v) for k, v in (shocks_bps or {}).items()}
        positions = self.positions()
        traded = list(dict.fromkeys(p.market for p in positions))
        # Only the markets with a live trade or a shock are priced: a feed without a round has no price.
        names = list(dict.fromkeys(traded + list(shocks)))
        markets = {n: self.market.markets[n] for n in names}
        prices = {n: u.oracle.latest().answer for n, u in markets.items()}
        scales = {n: u.derivatives.value_scale for n, u in markets.items()}
        scenarios: list[StressScenario] = []
        if historical:
            histories = {n: self.price_history(n) for n in markets}
            scenarios += historical_scenarios(prices, histories, mpor_seconds)
        scenarios += hypothetical_scenarios(prices, shocks)
        for bps in market_wide_bps:
            if bps <= -10_000:
                raise InputError(f"a shock must be > -10000 bps (a price stays > 0), got {bps}")
            moved = {n: max(1, prices[n] * (10_000 + bps) // 10_000) for n in traded}
            scenarios.append(StressScenario(f"every market {bps:+d}bps", moved))
        fund_size = self.market.fund.state().total_assets
        return size_fund(positions, prices, scales, scenarios, fund_size, floor)

    def regimes(
        self, model: HistoricalModel, regimes: Sequence[SettlementRegime], name: str | None = None
    ) -> pd.DataFrame:
        """The market's live book under each settlement regime on the oracle's own history: the
        IM the model needs and the exposure between settlements (:func:`compare_regimes`).

        Raises:
            InputError: no live trade, or too little history for a regime's margin period.
        """
        underlying = self._underlying(name)
        book = [BookTrade(p.trade_id, p.quantity) for p in self.trade_lives(underlying.name) if p.end is None]
        if not book:
            raise InputError(f"no live trade on {underlying.name}: the regimes compare a book")
        history = self.price_history(underlying.name)
        if not history:
            raise InputError(f"no final round on {underlying.name}'s oracle yet")
        scale = underlying.derivatives.value_scale
        return compare_regimes(book, history, history[-1].price, scale, model, regimes)
