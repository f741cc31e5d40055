"""Sizing the default fund by stress tests: uncovered losses, cover-1 / cover-2, contributions.

A **stress scenario** sets a shocked price for each market. Scenarios come from two sources:

* *historical*: for each market, its worst fall and its worst rise over any window of the margin
  period of risk in the look-back (overlapping windows, :func:`dfmi_py.risk.historical.horizon_ratios`),
  applied to today's price ``P`` as ``P * end // start``. All markets are moved together to their
  worst fall (one scenario) and to their worst rise (another): a conservative joint move that
  ignores diversification between markets.
* *hypothetical*: configured shocks per market in basis points, applied as
  ``P * (10_000 + shock) // 10_000`` (e.g. ``-3_000`` for a 30% fall).

Under a scenario a member's **loss** is the sum, over every side it holds in every market, of the
variation margin it would pay (:func:`dfmi_py.risk.forward.variation_margin`, gains offsetting
losses across its book), and its **uncovered loss** is ``max(0, loss - IM it holds)``, the IM summed
over its sides. Its **stressed exposure** is its largest uncovered loss over all scenarios.

**Cover-1** is the largest member's stressed exposure; **cover-2** the sum of the two largest
members' stressed exposures (EMIR art. 42(3): "the default of the two clearing members ... to which
it has the largest exposures under extreme but plausible market conditions"). Each member's
exposure is its own worst scenario, so the two may come from different scenarios: this is at least
the largest same-scenario pair and so the more prudent convention.

**Contributions** split the target ``max(cover-2, floor)`` in proportion to the members' stressed
exposures (equally if every exposure is 0), in whole cash units by the largest-remainder method:
each member gets ``floor(target * e_i / E)``, and the units left over go one each to the largest
remainders (ties to the earlier member in the input order), so they sum exactly to the target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dfmi_py.errors import InputError
from dfmi_py.risk.forward import variation_margin
from dfmi_py.risk.historical import PricePoint, horizon_ratios

__all__ = [
    "FundSizing",
    "MemberStress",
    "Position",
    "StressScenario",
    "historical_scenarios",
    "hypothetical_scenarios",
    "proportional_split",
    "size_fund",
]

_BPS = 10_000


@dataclass(frozen=True)
class Position:
    """One side of one trade held by a member.

    Attributes:
        member: The member's address or name.
        market: The market (underlying) of the trade.
        quantity: Underlying units, 18 decimals (>= 0).
        is_buyer: True for the buyer (long), False for the seller (short).
        im: Initial margin the member holds against this side, cash units.
    """

    member: str
    market: str
    quantity: int
    is_buyer: bool
    im: int


@dataclass(frozen=True)
class StressScenario:
    """A named set of shocked prices, one per market (markets not named keep today's price)."""

    name: str
    prices: Mapping[str, int]


@dataclass(frozen=True)
class MemberStress:
    """One member under stress.

    Attributes:
        member: The member.
        im: IM it holds over all its sides.
        worst_loss: Its largest loss over the scenarios (before IM).
        uncovered: Its stressed exposure, ``max(0, loss - im)`` in its worst scenario.
        scenario: The name of that scenario.
        contribution: Its suggested default-fund contribution.
    """

    member: str
    im: int
    worst_loss: int
    uncovered: int
    scenario: str
    contribution: int


@dataclass(frozen=True)
class FundSizing:
    """The fund's stress figures.

    Attributes:
        members: Per member, in the input order of first appearance.
        cover1: The largest stressed exposure.
        cover2: The sum of the two largest stressed exposures.
        target: ``max(cover2, floor)``, the sum of the contributions.
        fund_size: The fund's current size.
        covers_1: Whether the fund covers cover-1.
        covers_2: Whether the fund covers cover-2.
    """

    members: tuple[MemberStress, ...]
    cover1: int
    cover2: int
    target: int
    fund_size: int
    covers_1: bool
    covers_2: bool

    def records(self) -> list[dict[str, object]]:
        """One flat row per member (``pandas.DataFrame(sizing.records())`` ready)."""
        return [
            {
                "member": m.member,
                "im": m.im,
                "worst_loss": m.worst_loss,
                "uncovered": m.uncovered,
                "scenario": m.scenario,
                "contribution": m.contribution,
            }
            for m in self.members
        ]


def historical_scenarios(
    current_prices: Mapping[str, int], histories: Mapping[str, Sequence[PricePoint]], mpor_seconds: int
) -> list[StressScenario]:
    """The two historical scenarios: every market at its worst fall, every market at its worst rise.

    Args:
        current_prices: Today's price per market.
        histories: Each market's look-back history (a market without one keeps today's price).
        mpor_seconds: The window length.

    Returns:
        ``[historical-fall, historical-rise]``.
    """
    fall: dict[str, int] = {}
    rise: dict[str, int] = {}
    for market, price in current_prices.items():
        shocked = [
            max(1, price * end // start) for start, end in horizon_ratios(histories.get(market, ()), mpor_seconds)
        ]
        fall[market] = min(shocked, default=price)
        rise[market] = max(shocked, default=price)
    return [StressScenario("historical-fall", fall), StressScenario("historical-rise", rise)]


def hypothetical_scenarios(
    current_prices: Mapping[str, int], shocks_bps: Mapping[str, Sequence[int]]
) -> list[StressScenario]:
    """One scenario per configured shock: that market moved by ``shock`` bps, the others unchanged.

    Args:
        current_prices: Today's price per market.
        shocks_bps: Per market, the shocks in basis points (> -10 000).

    Returns:
        Scenarios named ``"<market> <shock>bps"``.

    Raises:
        InputError: If a shock names an unknown market or is <= -10 000 bps.
    """
    out = []
    for market, shocks in shocks_bps.items():
        if market not in current_prices:
            raise InputError(f"shock for unknown market {market!r}; give its current price")
        for shock in shocks:
            if shock <= -_BPS:
                raise InputError(f"a shock must be > -10000 bps (a price stays > 0), got {shock}")
            price = max(1, current_prices[market] * (_BPS + shock) // _BPS)
            out.append(StressScenario(f"{market} {shock:+d}bps", {market: price}))
    return out


def proportional_split(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` cash units in proportion to ``weights`` by the largest-remainder method.

    Each share is ``floor(total * w_i / W)``; the remaining units go one each to the largest
    remainders ``total * w_i mod W`` (ties to the lower index). Equal weights if all are 0.

    Raises:
        InputError: If ``total`` or a weight is negative, or there is no weight.
    """
    if total < 0 or any(w < 0 for w in weights) or not weights:
        raise InputError(f"need a total >= 0 and at least one weight, all >= 0; got {total} and {list(weights)}")
    if not any(weights):
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def size_fund(
    positions: Sequence[Position],
    current_prices: Mapping[str, int],
    scale: int | Mapping[str, int],
    scenarios: Sequence[StressScenario],
    fund_size: int = 0,
    floor: int = 0,
) -> FundSizing:
    """Stressed exposures, cover-1 / cover-2 and suggested contributions (conventions in the module docstring).

    Args:
        positions: Every side of every live trade, with the IM held.
        current_prices: Today's price per market.
        scale: The engine's value scale, one for all markets or per market.
        scenarios: The stress scenarios.
        fund_size: The fund's current size, cash units.
        floor: The minimum fund size, cash units.

    Returns:
        Per member figures, the covers and whether the fund covers them.

    Raises:
        InputError: If there is no scenario, or a position's market has no price or scale.
    """
    if not scenarios:
        raise InputError("no stress scenario: pass historical and/or hypothetical scenarios")
    members: dict[str, list[Position]] = {}
    for p in positions:
        if p.market not in current_prices:
            raise InputError(f"no current price for market {p.market!r}")
        members.setdefault(p.member, []).append(p)

    def scale_of(market: str) -> int:
        if isinstance(scale, int):
            return scale
        if market not in scale:
            raise InputError(f"no value scale for market {market!r}")
        return scale[market]

    stressed = []
    for member, sides in members.items():
        im = sum(p.im for p in sides)
        losses: list[tuple[int, str]] = []
        for s in scenarios:
            loss = 0
            for p in sides:
                now = current_prices[p.market]
                vm = variation_margin(p.quantity, now, s.prices.get(p.market, now), scale_of(p.market))
                loss += -vm if p.is_buyer else vm
            losses.append((loss, s.name))
        # The first scenario with the largest loss (max keeps the first of equal keys).
        worst_loss, worst_name = max(losses, key=lambda ln: ln[0])
        stressed.append((member, im, worst_loss, max(0, worst_loss - im), worst_name))
    ranked = sorted((u for *_, u, _ in stressed), reverse=True)
    cover1 = ranked[0] if ranked else 0
    cover2 = sum(ranked[:2])
    target = max(cover2, floor)
    shares = proportional_split(target, [u for *_, u, _ in stressed]) if stressed else []
    rows = tuple(
        MemberStress(member, im, loss, uncovered, name, share)
        for (member, im, loss, uncovered, name), share in zip(stressed, shares, strict=True)
    )
    return FundSizing(rows, cover1, cover2, target, fund_size, fund_size >= cover1, fund_size >= cover2)
