"""The CCP counterfactual of a simulated day: the models' inputs built from its record and its chain.

:func:`comparison_of` puts the day that ``dfmi simulate`` ran beside the same trades, prices and
default under a central counterparty (:mod:`dfmi_py.simulate.ccp`): it builds one
:class:`~dfmi_py.simulate.ccp.ModelInputs` and runs :func:`~dfmi_py.simulate.ccp.compare`. What
happened comes from the chain, through the books (:class:`dfmi_py.books.Books`, one reader of the
events); the record adds what the chain does not say:

- **trades**: every confirmed trade of every engine, as the books replay it (parties, quantity,
  contract price, maturity, the time of its confirmation, the initial margins posted);
- **price paths**: every market's final oracle rounds (the ``oracle_rounds`` view), and for the
  CCP's initial-margin model the look-back history the plan generated before the day (the record);
- **contributions**: what each member put into the default fund (the ``fund`` view), in the
  order they joined;
- **cure periods**: each engine's, from its ``ConfigUpdated`` events (the books' replay);
- **keeper steps**: the head the keeper stepped on in each of the day's rounds (the record);
- **the default**: the member the chain declared in default (the ``defaults`` view); its time
  is the keeper's step in the round of its first margin call (the ``margin_calls`` view) — the
  first step at which it did not pay — and its wallet from then on is the cash it held at that
  step (its cash token transfers up to the keeper's head, from the books' ledger).

:func:`model_inputs` is the chain-only part (trades, paths, contributions, cure periods) for any
suite the books read; the chain check of the dFMI model (tests/simulate/test_ccp.py) builds its
inputs with it too.

Under these inputs the dFMI model replays the engines, the fund and the keeper and its
close-outs equal the chain's waterfalls when the conditions of :func:`~dfmi_py.simulate.ccp.dfmi_model`
hold (tests/simulate/test_compare.py checks the small day of the tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dfmi_py.errors import InputError
from dfmi_py.risk.historical import PricePoint
from dfmi_py.simulate.ccp import (
    CcpAssumptions,
    Comparison,
    DefaultEvent,
    ForwardTrade,
    ModelInputs,
    ModelOutcome,
    PricePath,
    compare,
)

if TYPE_CHECKING:
    from dfmi_py.books.books import Books
    from dfmi_py.simulate.record import SimulationRecord
    from dfmi_py.simulate.run import SimulationResult

__all__ = [
    "cash_held",
    "comparison_of",
    "default_event",
    "model_inputs",
    "replay_differences",
    "simulation_inputs",
]


def comparison_of(result: SimulationResult, books: Books, assumptions: CcpAssumptions | None = None) -> Comparison:
    """The simulated day under dFMI's rules and under a CCP, side by side.

    Args:
        result: The finished run (its record names the keeper's steps, the members and the
            price history).
        books: The books of the run's suite (``Books(result.market)``, with any viewer key).
        assumptions: The CCP's rules (default :class:`~dfmi_py.simulate.ccp.CcpAssumptions`).

    Returns:
        Both models' outcomes (see :func:`dfmi_py.simulate.ccp.compare`). Where the dFMI replay's
        close-outs differ from the chain's (:func:`replay_differences`), its outcome's notes say
        so: the chain's waterfalls are then the ones to show.

    Raises:
        InputError: nobody defaulted in the run (there is no default to compare), or the record
            lacks the keeper's steps (a record written before they were kept).
    """
    both = compare(simulation_inputs(result.record, books), assumptions)
    differences = replay_differences(both.dfmi, books)
    if not differences:
        return both
    note = (
        "the dFMI replay's close-outs differ from the chain's ("
        + "; ".join(differences)
        + "): the chain's waterfalls are what happened (a condition of the replay did not hold: docs/ccp-model.md)"
    )
    return replace(both, dfmi=replace(both.dfmi, notes=(*both.dfmi.notes, note)))


def replay_differences(outcome: ModelOutcome, books: Books) -> tuple[str, ...]:
    """Where the dFMI replay's close-outs differ from the chain's (the books' ``defaults`` view):
    one line per close-out that differs, is missing on either side, or comes in another order;
    empty when every one agrees to the unit, tranche by tranche."""
    kinds = {"default": "close-out", "maturity": "maturity"}
    fields = ("loss", "from_im", "from_margin", "from_defaulter_contribution", "from_survivors", "unpaid")
    ours = {
        (kinds.get(c.kind, c.kind), c.market, c.trade_id): tuple(getattr(c, f) for f in fields)
        for c in outcome.closeouts
    }
    theirs = {
        (str(row.kind), str(row.market), int(row.trade_id)): tuple(_int(getattr(row, f)) for f in fields)
        for row in books.defaults().itertuples(index=False)
    }
    found = []
    for key in sorted(set(ours) | set(theirs)):
        kind, market, trade_id = key
        where = f"{market} trade {trade_id} ({kind})"
        if key not in ours:
            found.append(f"{where}: on the chain only")
        elif key not in theirs:
            found.append(f"{where}: in the replay only")
        elif ours[key] != theirs[key]:
            pairs = zip(fields, ours[key], theirs[key], strict=True)
            found.append(f"{where}: " + ", ".join(f"{f} {a} against {b} on the chain" for f, a, b in pairs if a != b))
    return tuple(found)


def simulation_inputs(record: SimulationRecord, books: Books) -> ModelInputs:
    """The models' inputs for the day ``record`` describes (see the module's text).

    Raises:
        InputError: as :func:`comparison_of`.
    """
    steps = tuple(r.keeper_time for r in record.rounds)
    if not steps or not all(steps):
        raise InputError("the record does not hold the keeper's steps (written by an older toolkit): run it again")
    history = {
        market.name: [PricePoint(p.time, p.price) for p in record.prices if p.market == market.name and p.round < 0]
        for market in record.markets
    }
    return model_inputs(
        books,
        default_event(record, books),
        steps,
        round_seconds=record.chain.interval,
        im_history=history,
    )


def model_inputs(
    books: Books,
    default: DefaultEvent,
    keeper_steps: Sequence[int] = (),
    *,
    round_seconds: int | None = None,
    im_history: Mapping[str, Sequence[PricePoint]] | None = None,
) -> ModelInputs:
    """The models' inputs read from the chain through ``books``: every confirmed trade, every
    market's final oracle rounds, the members' fund contributions and the engines' cure periods;
    the rest as given.

    Args:
        books: The suite's books.
        default: Who defaults, when, and what its wallet still pays from then on.
        keeper_steps: When the keeper acted (its heads' times), ascending; empty: every round.
        round_seconds: The oracle's round interval (default: the median gap between rounds).
        im_history: A look-back price history per market for the IM model.

    Raises:
        InputError: a market without a final oracle round.
    """
    state, _, _ = books.state()
    rounds = books.oracle_rounds()
    decimals: dict[str, int] = rounds.attrs["price_decimals"]
    paths = {}
    for name in books.markets:
        mine = rounds[rounds["market"] == name]
        if mine.empty:
            raise InputError(f"market {name!r} has no final oracle round: nothing to price its trades with")
        points = tuple(PricePoint(_seconds(t), int(a)) for t, a in zip(mine["updated_at"], mine["answer"], strict=True))
        paths[name] = PricePath(decimals[name], points)
    trades = []
    for name in books.markets:
        for t in state.markets[name].trades.values():
            if t.confirmed_at is None:
                continue  # proposed and never confirmed (or cancelled): no trade
            trades.append(
                ForwardTrade(
                    trade_id=t.trade_id,
                    market=name,
                    buyer=t.buyer,
                    seller=t.seller,
                    quantity=t.quantity,
                    contract_price=t.contract_price,
                    buyer_im=t.proposed_buyer_im,
                    seller_im=t.proposed_seller_im,
                    opened_at=t.confirmed_at,
                    maturity=t.maturity,
                )
            )
    fund = books.fund().sort_values("joined_block", kind="stable")
    contributions = {str(m): int(c) for m, c in zip(fund["member"], fund["contributed"], strict=True)}
    return ModelInputs(
        trades=tuple(trades),
        paths=paths,
        default=default,
        contributions=contributions,
        cash_decimals=int(rounds.attrs["cash_decimals"]),
        cure_periods={name: state.markets[name].cure_period for name in books.markets},
        round_seconds=round_seconds,
        keeper_steps=tuple(keeper_steps),
        im_history=dict(im_history or {}),
    )


def default_event(record: SimulationRecord, books: Books) -> DefaultEvent:
    """The run's default as the models take it (see the module's text).

    Raises:
        InputError: nobody was declared in default on the chain.
    """
    declared = books.defaults()
    if declared.empty:
        raise InputError("nobody defaulted in this run: there is no default to compare")
    defaulter = str(declared.sort_values(["block"], kind="stable")["defaulter"].iloc[0])
    member = record.member(defaulter)
    if member is None:
        raise InputError(f"the defaulter {defaulter} is not one of the run's members")
    calls = books.margin_calls()
    called = calls[calls["debtor"] == defaulter]
    first_call = int(called["called_block"].min()) if not called.empty else int(declared["block"].min())
    round_number = record.round_of_block(first_call)
    if round_number is None:
        raise InputError(f"the defaulter's first margin call (block {first_call}) is outside the day's rounds")
    step = record.rounds[round_number]
    return DefaultEvent(defaulter, step.keeper_time, cash_held(books, defaulter, step.keeper_block))


def cash_held(books: Books, account: str, block: int) -> int:
    """``account``'s cash at the end of block ``block``: the cash token's transfers to and from
    it up to that block, from the books' ledger (no balance read at an old block, which a node
    that prunes its history cannot answer)."""
    books.refresh()
    held = 0
    for event in books.ledger.events("CashToken", ["Transfer"]):
        if event.block > block:
            break
        args = event.log.args
        if str(args["to"]) == account:
            held += int(args["value"])
        if str(args["from"]) == account:
            held -= int(args["value"])
    return held


def _seconds(time: Any) -> int:
    """A books time (a UTC ``Timestamp``) as Unix seconds."""
    return int(time.timestamp())


def _int(value: Any) -> int:
    """An amount of a books view (a Python int, or ``None``/``<NA>`` where there is none) as an int."""
    return value if isinstance(value, int) else 0
