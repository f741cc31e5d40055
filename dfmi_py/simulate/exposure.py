"""Each member's exposure just before and just after every settlement round of a simulated day.

Under dFMI every open trade settles to market at every oracle round: just before the keeper's
settlement a member is owed (or owes) the variation margin due at the new price, plus any margin
call still unpaid from earlier rounds; just after it, only what a margin call left unpaid — zero
for a member that paid. :func:`settlement_exposures` shows that reset, round by round, from the
chain's payments (the books' ``margin_flows`` view) placed in the day's rounds by the record:

- for each trade settled in a round, what was due from payer to receiver at the new price is what
  moved plus what stayed owed (``paid + owed`` of its first payment in the round, unpaid margin of
  earlier rounds included); what stays owed after is the ``owed`` of its last payment, or, when
  the trade was closed out in that round, the claim the waterfall left unpaid (the ``defaults``
  view);
- a member's figure is the sum over its trades, positive when owed to it, negative when it owes.

Every member appears in every round (zero where it had nothing due).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dfmi_py.books.columns import BIG, INT, STR, TIME

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

    from dfmi_py.books.books import Books
    from dfmi_py.simulate.record import SimulationRecord

__all__ = ["EXPOSURE_COLUMNS", "settlement_exposures"]

#: The columns of :func:`settlement_exposures` and their dtypes (the books' conventions).
EXPOSURE_COLUMNS = {
    "round": INT,
    "time": TIME,
    "member": STR,
    "name": STR,
    "before": BIG,
    "after": BIG,
}
#: The payments that settle a trade to market (an agreed payment of an amendment or a
#: termination is not exposure).
_SETTLEMENTS = ("variation_margin", "cure", "final")


def settlement_exposures(record: SimulationRecord, books: Books) -> pd.DataFrame:
    """Per round of the day and member: its exposure just before the round's settlement and
    just after (see the module's text).

    Args:
        record: The run's record (its rounds' blocks and keeper steps, its members).
        books: The books of the run's suite.

    Returns:
        One row per (round, member), rounds in order, members in the record's order; columns
        :data:`EXPOSURE_COLUMNS`: ``round`` (the day's round), ``time`` (the keeper's step, UTC),
        ``member`` (address), ``name`` (the run's short name), ``before`` and ``after`` (cash
        units, exact ints; positive: owed to the member).
    """
    import pandas as pd

    flows = books.margin_flows()
    flows = flows[flows["kind"].isin(_SETTLEMENTS) & flows["payer"].notna()]
    first: dict[tuple[int, str, int], tuple[str, str, int]] = {}
    last: dict[tuple[int, str, int], tuple[str, str, int]] = {}
    for row in flows.sort_values(["block", "log_index"], kind="stable").itertuples(index=False):
        round_number = record.round_of_block(int(row.block))
        if round_number is None:
            continue
        key = (round_number, str(row.market), int(row.trade_id))
        payer, receiver = str(row.payer), str(row.receiver)
        paid, owed = _int(row.paid), _int(row.owed)
        first.setdefault(key, (payer, receiver, paid + owed))
        last[key] = (payer, receiver, owed)
    defaults = books.defaults()
    for row in defaults.itertuples(index=False):
        closed_in = record.round_of_block(int(row.block))
        key = (-1 if closed_in is None else closed_in, str(row.market), int(row.trade_id))
        if key in last:  # closed out in the round it settled: the waterfall paid what stayed owed
            payer, receiver, _ = last[key]
            last[key] = (payer, receiver, _int(row.unpaid))
    before: dict[tuple[int, str], int] = {}
    after: dict[tuple[int, str], int] = {}
    for totals, items in ((before, first), (after, last)):
        for (round_number, _, _), (payer, receiver, amount) in items.items():
            totals[(round_number, payer)] = totals.get((round_number, payer), 0) - amount
            totals[(round_number, receiver)] = totals.get((round_number, receiver), 0) + amount
    rows: dict[str, list[Any]] = {name: [] for name in EXPOSURE_COLUMNS}
    for r in record.rounds:
        for m in record.members:
            rows["round"].append(r.round)
            rows["time"].append(r.keeper_time or r.time)
            rows["member"].append(m.address)
            rows["name"].append(m.name)
            rows["before"].append(before.get((r.round, m.address), 0))
            rows["after"].append(after.get((r.round, m.address), 0))
    frame = pd.DataFrame(
        {
            "round": pd.array(rows["round"], dtype=INT),
            "time": pd.to_datetime(rows["time"], unit="s", utc=True),
            "member": pd.array(rows["member"], dtype=STR),
            "name": pd.array(rows["name"], dtype=STR),
            "before": pd.Series(rows["before"], dtype=BIG),
            "after": pd.Series(rows["after"], dtype=BIG),
        }
    )
    frame.attrs.update(cash_decimals=record.cash_decimals, cash_symbol=record.cash_symbol)
    return frame


def _int(value: Any) -> int:
    """An amount of a books view (a Python int, or ``None``/``<NA>``) as an int."""
    return value if isinstance(value, int) else 0
