"""``dfmi risk``: initial margin from a model, the backtest, the default fund's stress sizing and the
settlement regimes compared, all from the chain's own history::

    dfmi risk im --quantity 5 --price 2000                     # historical ES 99% over 1 h, both sides
    dfmi risk im --trade 1 --model schedule --asset-class fx   # the schedule for trade 1's terms
    dfmi risk im --quantity 5 --price 2000 --series prices.csv --mpor 2h --buffer-bps 2500
    dfmi risk im --trade 1 --lookback 30d --stressed 2020-03-01..2020-04-30 --series prices.csv
    dfmi risk backtest --mpor 1h --confidence 0.99             # breaches per trade, member, market; Kupiec
    dfmi risk fund --shock EURUSD=-2000 --shock EURUSD=1000    # cover-1 / cover-2, contributions
    dfmi risk fund --shock -2000 --shock 1000                  # every traded market at once
    dfmi risk fund --propose action.json                       # ... and the action adopting them
    dfmi risk regimes --regime "every round=1h" --regime "daily T+1=1d,1d,2d"

QUANTITY in units of the underlying, PRICE in the feed's units; durations as 90s, 15m, 2h, 5d.
Every command takes --json (amounts in raw cash units, times in Unix seconds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dfmi_py.api.market import Market, Underlying
from dfmi_py.cli.common import Options, echo_json, json_option, market_option, open_market, pass_options, units_of
from dfmi_py.cli.fund import describe_action, write_action
from dfmi_py.cli.models import (
    describe_model,
    historical_model,
    im_model,
    model_options,
    read_series,
    stressed_period,
)
from dfmi_py.display import amount, decimal, duration, iso, number
from dfmi_py.errors import InputError
from dfmi_py.risk import BreachCount, FundSizing, HistoricalModel, PricePoint, SettlementRegime
from dfmi_py.units import parse_duration

#: Decimals of a quantity of the underlying (the engine's fixed point).
QUANTITY_DECIMALS = 18


@click.group()
def risk() -> None:
    """Initial margin from a model, its backtest, the fund's stress sizing, the regimes compared."""


def _cash(market: Market, units: int) -> str:
    return amount(units, market.cash.decimals, market.cash.symbol)


def _open(options: Options, market_name: str | None) -> tuple[Market, Underlying]:
    market = open_market(options)
    return market, market.underlying(market_name)


# ---------------------------------------------------------------------- risk im


@risk.command("im")
@pass_options
@click.option(
    "--trade",
    "trade_id",
    type=click.IntRange(min=1),
    help="Take quantity and price from trade ID's terms (as last amended).",
)
@click.option("--quantity", help="Units of the underlying, e.g. 5 or 0.25.")
@click.option("--price", help="Contract price in the feed's units, e.g. 2000.5.")
@model_options
@market_option
@json_option
def im(
    options: Options,
    trade_id: int | None,
    quantity: str | None,
    price: str | None,
    market_name: str | None,
    as_json: bool,
    **settings: Any,
) -> None:
    """The IM a model asks of each side of a forward (history: the oracle's rounds or --series)."""
    if trade_id is not None and (quantity is not None or price is not None):
        raise InputError("give --trade ID or --quantity and --price, not both")
    if trade_id is None and (quantity is None or price is None):
        raise InputError("give --trade ID, or both --quantity and --price")
    market, underlying = _open(options, market_name)
    decimals = underlying.oracle.decimals
    held: tuple[int, int] | None = None
    if trade_id is not None:
        terms = market.risk.current_terms(trade_id, underlying.name)
        units, price_units, held = terms.quantity, terms.contract_price, (terms.buyer_im, terms.seller_im)
    else:
        units = units_of(str(quantity), QUANTITY_DECIMALS, what="--quantity", positive=True)
        price_units = units_of(str(price), decimals, what="--price", positive=True)
    model = im_model(settings)
    series = read_series(settings["series"], decimals) if settings["series"] is not None else None
    stressed = stressed_period(
        settings, model, lambda: series if series is not None else market.risk.price_history(underlying.name)
    )
    proposed = market.risk.proposed_im(units, price_units, model, underlying.name, series, stressed)
    record: dict[str, Any] = {
        "market": underlying.name,
        "model": describe_model(model),
        "quantity": units,
        "price": price_units,
        "notional": proposed.notional,
        "buyer_im": proposed.buyer_im,
        "seller_im": proposed.seller_im,
        "scenarios": proposed.scenarios,
        "history": "series" if series is not None else ("oracle" if proposed.scenarios else None),
        "stressed": _stressed_record(stressed),
    }
    if trade_id is not None and held is not None:
        record |= {"trade_id": trade_id, "held_buyer_im": held[0], "held_seller_im": held[1]}
    if as_json:
        echo_json(record)
        return
    click.echo(
        f"{underlying.name}: {decimal(units, QUANTITY_DECIMALS)} at {decimal(price_units, decimals)}, "
        f"notional {_cash(market, proposed.notional)}"
    )
    click.echo(f"  model  {describe_model(model)}")
    if proposed.scenarios:
        click.echo(f"  scenarios {number(proposed.scenarios)} from the {record['history']}")
    if stressed:
        click.echo(
            f"  stressed period {iso(stressed[0].timestamp)} .. {iso(stressed[-1].timestamp)} "
            f"({number(len(stressed))} prices) added to the look-back"
        )
    click.echo(f"  buyer IM  {_cash(market, proposed.buyer_im)}")
    click.echo(f"  seller IM {_cash(market, proposed.seller_im)}")
    if held is not None:
        click.echo(f"  held by trade {trade_id}: buyer {_cash(market, held[0])}, seller {_cash(market, held[1])}")


def _stressed_record(points: list[PricePoint]) -> dict[str, int] | None:
    """The stressed period's first and last price times and its number of prices (``None``: none)."""
    if not points:
        return None
    return {"from": points[0].timestamp, "to": points[-1].timestamp, "prices": len(points)}


# ---------------------------------------------------------------------- risk backtest


def _count_row(key: object, count: BreachCount, confidence: float) -> dict[str, Any]:
    test = count.kupiec(confidence)
    return {
        "key": key,
        "observations": count.observations,
        "breaches": count.breaches,
        "worst_excess": count.worst_excess,
        "kupiec_statistic": None if test is None else test.statistic,
        "kupiec_p_value": None if test is None else test.p_value,
    }


@risk.command("backtest")
@pass_options
@click.option("--mpor", default="1h", show_default=True, help="The window: the model's margin period of risk.")
@click.option("--confidence", type=float, default=0.99, show_default=True, help="The model's confidence (Kupiec).")
@click.option("--significance", type=float, default=0.05, show_default=True, help="Kupiec's test level.")
@click.option("--market", "market_name", metavar="NAME", help="One underlying [default: every one].")
@json_option
def backtest_command(
    options: Options, mpor: str, confidence: float, significance: float, market_name: str | None, as_json: bool
) -> None:
    """Settled VM per margin-period window against the IM held: breaches per trade, member and
    market, and Kupiec's proportion-of-failures test."""
    market = open_market(options)
    name = market.underlying(market_name).name if market_name is not None else None
    mpor_seconds = parse_duration(mpor)
    report = market.risk.backtest(mpor_seconds, confidence, name)
    test = report.kupiec
    total = {
        "observations": report.total.observations,
        "breaches": report.total.breaches,
        "worst_excess": report.total.worst_excess,
        "kupiec_statistic": None if test is None else test.statistic,
        "kupiec_p_value": None if test is None else test.p_value,
        "rejected": None if test is None else test.rejects(significance),
    }
    groups = {
        "by_trade": [_count_row(k, c, confidence) for k, c in report.by_trade.items()],
        "by_member": [_count_row(k, c, confidence) for k, c in report.by_member.items()],
        "by_market": [_count_row(k, c, confidence) for k, c in report.by_market.items()],
    }
    if as_json:
        echo_json({"mpor_seconds": mpor_seconds, "confidence": confidence, "total": total, **groups})
        return
    click.echo(
        f"backtest over {duration(mpor_seconds)} windows at {confidence:g}: "
        f"{number(report.total.breaches)} breaches in {number(report.total.observations)} side-windows"
    )
    if test is None:
        click.echo("  no observation: no confirmed trade")
    else:
        verdict = "rejects" if test.rejects(significance) else "does not reject"
        click.echo(
            f"  Kupiec LR {test.statistic:.4f}, p-value {test.p_value:.4f}: {verdict} the model's coverage "
            f"at {significance:g}"
        )
    for title, rows in (
        ("trade", groups["by_trade"]),
        ("member", groups["by_member"]),
        ("market", groups["by_market"]),
    ):
        click.echo(f"  {title:<44} {'windows':>8} {'breaches':>8} {'worst excess':>24} {'p-value':>8}")
        for row in rows:
            p = "-" if row["kupiec_p_value"] is None else f"{row['kupiec_p_value']:.4f}"
            click.echo(
                f"  {row['key']!s:<44} {row['observations']:>8} {row['breaches']:>8} "
                f"{_cash(market, row['worst_excess']):>24} {p:>8}"
            )


# ---------------------------------------------------------------------- risk fund


def parse_shock(text: str) -> tuple[str | None, int]:
    """``MARKET=BPS`` (``EURUSD=-2000``) as a market name and a shock in basis points; a bare
    ``BPS`` (``-2000``) moves every market of a live trade at once (the name is ``None``).

    Raises:
        InputError: not of that form.
    """
    name, sep, bps = text.rpartition("=")
    try:
        value = int(bps.strip())
    except ValueError:
        value = None
    if (sep and not name.strip()) or value is None:
        raise InputError(
            f"--shock {text!r}: give MARKET=BPS, e.g. EURUSD=-2000 for a 20% fall, or BPS for every market"
        )
    return (name.strip() or None), value


@risk.command("fund")
@pass_options
@click.option("--mpor", default="1h", show_default=True, help="The window of the worst historical moves.")
@click.option(
    "--shock", "shocks", multiple=True, metavar="[MARKET=]BPS",
    help="A hypothetical shock (repeatable): one market's, or every traded market's at once without MARKET=.",
)  # fmt: skip
@click.option("--no-historical", is_flag=True, help="Only the hypothetical shocks.")
@click.option("--floor", "floor_", metavar="AMOUNT", default="0", show_default=True, help="Minimum fund size, cash.")
@click.option(
    "--propose", "propose_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
    help="Also write the fund governance action adopting the contributions as the members' own requirements "
    "(approve and execute it with dfmi fund approve/execute).",
)  # fmt: skip
@click.option(
    "--ttl", type=click.IntRange(min=1), default=3_600, show_default=True, help="Seconds --propose's action is valid."
)
@json_option
def fund_command(
    options: Options,
    mpor: str,
    shocks: tuple[str, ...],
    no_historical: bool,
    floor_: str,
    propose_path: Path | None,
    ttl: int,
    as_json: bool,
) -> None:
    """Each member's uncovered stressed loss beyond its IM, cover-1 / cover-2 against the fund's
    total assets, and contributions in proportion to each member's stressed exposure.

    With --propose FILE, the contributions become a SET_MEMBER_REQUIREMENTS action in FILE: each
    member's requirement is then at least its contribution while it has open trades, once the
    fund's threshold of members approve it (dfmi fund approve FILE) and anyone executes it."""
    market = open_market(options)
    by_market: dict[str, list[int]] = {}
    everywhere: list[int] = []
    for text in shocks:
        name, bps = parse_shock(text)
        if name is None:
            everywhere.append(bps)
        else:
            by_market.setdefault(market.underlying(name).name, []).append(bps)
    floor = units_of(floor_, market.cash.decimals, what="--floor")
    sizing = market.risk.fund_sizing(
        parse_duration(mpor), by_market, floor, historical=not no_historical, market_wide_bps=everywhere
    )
    proposal = None if propose_path is None else _propose_contributions(market, sizing, propose_path, ttl)
    if as_json:
        echo_json(
            {
                "cover1": sizing.cover1,
                "cover2": sizing.cover2,
                "target": sizing.target,
                "fund_total_assets": sizing.fund_size,
                "covers_1": sizing.covers_1,
                "covers_2": sizing.covers_2,
                "members": sizing.records(),
                "proposal": proposal,
            }
        )
        return

    def covered(flag: bool) -> str:
        return "covered" if flag else "NOT covered"

    click.echo(f"default fund: total assets {_cash(market, sizing.fund_size)}")
    click.echo(f"  cover-1 {_cash(market, sizing.cover1)} ({covered(sizing.covers_1)})")
    click.echo(f"  cover-2 {_cash(market, sizing.cover2)} ({covered(sizing.covers_2)})")
    click.echo(f"  suggested fund {_cash(market, sizing.target)}, split by stressed exposure:")
    click.echo(f"  {'member':<42} {'IM':>22} {'worst loss':>22} {'uncovered':>22} {'contribution':>22}  scenario")
    for m in sizing.members:
        click.echo(
            f"  {m.member:<42} {_cash(market, m.im):>22} {_cash(market, m.worst_loss):>22} "
            f"{_cash(market, m.uncovered):>22} {_cash(market, m.contribution):>22}  {m.scenario}"
        )
    if proposal is None:
        click.echo("  adopting the contributions is a fund governance action: --propose FILE writes it", err=True)
    else:
        click.echo(f"  wrote {proposal['file']}: {proposal['action']}; needs {proposal['approvals_needed']} approvals")


def _propose_contributions(market: Market, sizing: FundSizing, path: Path, ttl: int) -> dict[str, Any]:
    """Write the action adopting ``sizing``'s contributions as each member's own requirement;
    what was written (file, the action described, its nonce and the approvals it needs)."""
    if not sizing.members:
        raise InputError("no member has a stressed exposure: there is no contribution to adopt")
    contributions = {m.member: m.contribution for m in sizing.members}
    action = market.fund.member_requirements_action(contributions, deadline=market.chain.now() + ttl)
    write_action(path, action)
    return {
        "file": str(path),
        "action": describe_action(market, action),
        "nonce": action.nonce,
        "approvals_needed": market.fund.state().threshold,
    }


# ---------------------------------------------------------------------- risk regimes


def parse_regime(text: str) -> SettlementRegime:
    """``NAME=EVERY[,LAG[,CLOSEOUT]]`` (durations) as a settlement regime.

    Raises:
        InputError: not of that form.
    """
    name, sep, spec = text.partition("=")
    parts = [p.strip() for p in spec.split(",")] if sep else []
    if not name.strip() or not 1 <= len(parts) <= 3:
        raise InputError(f"--regime {text!r}: give NAME=EVERY[,LAG[,CLOSEOUT]], e.g. 'daily T+1=1d,1d,2d'")
    every, lag, closeout = [*parts, "0", "0"][:3]
    return SettlementRegime(
        name.strip(),
        parse_duration(every),
        parse_duration(lag) if lag != "0" else 0,
        parse_duration(closeout) if closeout != "0" else 0,
    )


#: The default comparison: settling every hourly round with the cure period to close out, against
#: daily margining paid a day later with two days to close out.
DEFAULT_REGIMES = ("dFMI, every round=1h,0,CURE", "CCP, daily T+1=1d,1d,2d")


@risk.command("regimes")
@pass_options
@click.option(
    "--regime", "regimes", multiple=True, metavar="NAME=EVERY[,LAG[,CLOSEOUT]]",
    help="A settlement regime (repeatable) [default: every hour closed out within the cure period; daily, "
    "paid a day later, closed out in two days].",
)  # fmt: skip
@model_options
@market_option
@json_option
def regimes_command(
    options: Options, regimes: tuple[str, ...], market_name: str | None, as_json: bool, **settings: Any
) -> None:
    """The live book's IM and exposure between settlements under each regime, on the oracle's history."""
    if settings["model"] != "historical":
        raise InputError("the regimes compare historical-simulation IMs: drop --model schedule")
    if settings["series"] is not None:
        raise InputError("the regimes use the oracle's own rounds: drop --series")
    if settings["stressed"] is not None:
        raise InputError("the regimes compare the oracle's history as it is: drop --stressed")
    model: HistoricalModel = historical_model(settings)
    market, underlying = _open(options, market_name)
    cure = underlying.derivatives.cure_period()
    chosen = [parse_regime(text.replace("CURE", f"{cure}s" if cure else "0")) for text in (regimes or DEFAULT_REGIMES)]
    table = market.risk.regimes(model, chosen, underlying.name)
    # pandas gives numpy integers: plain ints for the JSON and the text.
    rows = [{k: v if isinstance(v, str) else int(v) for k, v in r.items()} for r in table.to_dict("records")]
    if as_json:
        echo_json({"market": underlying.name, "model": describe_model(model), "regimes": rows})
        return
    click.echo(f"{underlying.name}: the live book under each settlement regime ({describe_model(model)})")
    click.echo(f"  {'regime':<28} {'margin period':>14} {'IM':>22} {'peak exposure':>22} {'mean exposure':>22}")
    for row in rows:
        click.echo(
            f"  {row['regime']:<28} {duration(int(row['mpor_s'])):>14} {_cash(market, int(row['im'])):>22} "
            f"{_cash(market, int(row['peak_exposure'])):>22} {_cash(market, int(row['mean_exposure'])):>22}"
        )
