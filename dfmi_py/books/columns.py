"""Every view of the books and every column: name, dtype, unit and meaning.

This module is the single description of the books' tables: :mod:`dfmi_py.books.views` builds
each DataFrame with exactly these columns and dtypes, the CLI formats them by their unit, and
``docs/books.md`` is generated from it (:func:`markdown`; a test checks the two agree).

Conventions:

- **Amounts** (cash, prices, quantities, token amounts, fund shares) are exact Python ``int`` in
  ``object`` columns (:data:`BIG`): uint256 values, and sums of them, overflow int64. Block
  numbers, ids, counts and log indices are ``int64`` (:data:`INT`), or pandas' nullable
  ``Int64`` (:data:`NULLABLE_INT`) where a row may have none.
- **Times** are ``datetime64[ns, UTC]`` (:data:`TIME`), ``NaT`` where there is none; the block
  number sits beside the time where the event matters.
- **Parties**: every column holding an account (:attr:`Column.party`) has two companions,
  ``<column>_lei`` and ``<column>_name``, filled from the reader's
  :class:`~dfmi_py.identity.disclosure.Disclosure` (``<NA>`` when not disclosed); every DataFrame
  carries ``df.attrs["disclosure"]``, the disclosure's one-line note.
"""

from __future__ import annotations

from dataclasses import dataclass

#: int64 (never missing): block numbers, ids, counts.
INT = "int64"
#: pandas' nullable integer: an id or block number a row may not have.
NULLABLE_INT = "Int64"
#: Exact Python ints in an object column (None where missing): amounts, prices, quantities.
BIG = "object"
#: pandas' string dtype (``<NA>`` where missing).
STR = "string"
#: UTC times (``NaT`` where missing).
TIME = "datetime64[ns, UTC]"
BOOL = "bool"
FLOAT = "float64"

#: What each unit means (the docs' legend).
UNITS = {
    "cash": "the cash token's smallest unit (`df.attrs['cash_decimals']` decimals)",
    "price": "the market's oracle answer (its decimals: `df.attrs['price_decimals'][market]`)",
    "quantity": "the underlying, with 18 decimals",
    "token": "the smallest unit of the leg's token",
    "shares": "the default fund's shares",
    "time": "UTC",
    "block": "block number",
    "id": "identifier",
    "count": "count",
    "address": "account address (EIP-55 checksummed)",
    "hash": "32-byte hash, `0x` hex",
    "percent": "percent",
    "": "",
}


@dataclass(frozen=True)
class Column:
    """One column of a view.

    Attributes:
        name: Its name in the DataFrame.
        dtype: Its pandas dtype (:data:`INT`, :data:`BIG`, :data:`TIME`, ...).
        unit: A key of :data:`UNITS`.
        description: What it holds.
        party: It holds an account: it gets ``_lei`` and ``_name`` companions.
        show: Shown in the CLI's table (``--wide`` shows every column).
    """

    name: str
    dtype: str
    unit: str
    description: str
    party: bool = False
    show: bool = True


@dataclass(frozen=True)
class View:
    """One view: a DataFrame the books build.

    Attributes:
        name: Its name (``Books.<name>()``, ``dfmi books <name>``).
        title: One line for ``dfmi books --list``.
        description: What one row is, and how it is built.
        columns: Its own columns (party companions not included: see :meth:`all_columns`).
        per_market: It has a ``market`` column (``--market`` filters its rows).
    """

    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    per_market: bool = False

    def all_columns(self) -> tuple[Column, ...]:
        """Every column of the DataFrame, in order: each party column followed by its companions."""
        out: list[Column] = []
        for column in self.columns:
            out.append(column)
            if column.party:
                out.append(Column(f"{column.name}_lei", STR, "", f"LEI of `{column.name}`, when disclosed", show=False))
                out.append(
                    Column(f"{column.name}_name", STR, "", f"legal name of `{column.name}`, when disclosed", show=False)
                )
        return tuple(out)

    def names(self) -> list[str]:
        """The DataFrame's column names, in order."""
        return [c.name for c in self.all_columns()]

    def column(self, name: str) -> Column:
        """The column ``name``.

        Raises:
            KeyError: no such column.
        """
        for column in self.all_columns():
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def party_columns(self) -> tuple[str, ...]:
        """Names of the columns holding accounts."""
        return tuple(c.name for c in self.columns if c.party)


def _c(name: str, dtype: str, unit: str, description: str, *, party: bool = False, show: bool = True) -> Column:
    return Column(name, dtype, unit, description, party, show)


_MARKET = _c("market", STR, "", "The market (underlying) by its deployment name")
_TRADE = _c("trade_id", INT, "id", "The trade's id in its market's engine")
_BLOCK = _c("block", INT, "block", "Block of the event", show=False)
_TIME = _c("time", TIME, "time", "Time of that block")
_TX = _c("tx_hash", STR, "hash", "The transaction", show=False)

POSITIONS = View(
    "positions",
    "every trade: parties, economics, state, last and latest price, mark-to-market, initial margins",
    "One row per trade of every market, as its engine stores it (`tradeOf`), rebuilt from the engine's "
    "events; the latest price is the market's latest final oracle round.",
    (
        _MARKET,
        _TRADE,
        _c("buyer", STR, "address", "The long party", party=True),
        _c("seller", STR, "address", "The short party", party=True),
        _c("state", STR, "", "PROPOSED, LIVE, MARGIN_CALL, DEFAULTED, MATURED, TERMINATED or CANCELLED"),
        _c("quantity", BIG, "quantity", "Units of the underlying (as last amended)"),
        _c("contract_price", BIG, "price", "The agreed price"),
        _c("maturity", TIME, "time", "Maturity (as last amended)"),
        _c("proposed_block", INT, "block", "Block of the proposal", show=False),
        _c("proposed_at", TIME, "time", "Time of the proposal", show=False),
        _c("confirmed_block", NULLABLE_INT, "block", "Block of the confirmation", show=False),
        _c("confirmed_at", TIME, "time", "Time of the confirmation", show=False),
        _c("closed_block", NULLABLE_INT, "block", "Block where it ended (any final state)", show=False),
        _c("closed_at", TIME, "time", "Time it ended", show=False),
        _c("last_round", INT, "id", "Oracle round of its last settlement (0: none yet)", show=False),
        _c("last_price", BIG, "price", "Price of its last settlement (the contract price before the first)"),
        _c("latest_round", NULLABLE_INT, "id", "The market's latest final oracle round", show=False),
        _c("latest_price", BIG, "price", "That round's answer"),
        _c(
            "mtm_to_buyer",
            BIG,
            "cash",
            "Mark-to-market: change in the buyer's value from `last_price` to `latest_price` "
            "(`q*latest/scale - q*last/scale`, as the engine computes VM); the seller's is its opposite; "
            "None unless LIVE or MARGIN_CALL",
        ),
        _c("debtor", STR, "address", "Who owes the unpaid variation margin `debt` (<NA>: nobody)", party=True),
        _c("debt", BIG, "cash", "Unpaid variation margin (a margin call's), or the claim left after a default"),
        _c(
            "cure_deadline",
            TIME,
            "time",
            "Cure deadline of its last margin call, as called (NaT after a cure; a close-out, maturity or "
            "termination leaves it, as the engine does; a pause of the cash token extends the effective one)",
            show=False,
        ),
        _c("buyer_im", BIG, "cash", "Buyer's initial margin the engine holds (0 once the trade ended)"),
        _c("seller_im", BIG, "cash", "Seller's initial margin the engine holds (0 once the trade ended)"),
        _c("nonce", INT, "count", "Amendments and terminations signed so far", show=False),
        _c("settlements", INT, "count", "Settlements to an oracle round (the final one included)", show=False),
        _c("unpaid_claim", BIG, "cash", "Loss a default left unpaid: the survivor's claim", show=False),
        _c("fund_claim_pending", BOOL, "", "A claim on the default fund reverted and waits for a retry", show=False),
    ),
    per_market=True,
)

EXPOSURE = View(
    "exposure",
    "per member: exposure since the last settlement, IM held and posted, VM paid and received, fund",
    "One row per account that traded or joined the default fund. With a market, only that market's "
    "trades, payments and margin account count (the fund's columns are the fund's, behind every market).",
    (
        _c("member", STR, "address", "The account", party=True),
        _c("open_trades", INT, "count", "Its LIVE and MARGIN_CALL trades"),
        _c(
            "mtm",
            BIG,
            "cash",
            "Mark-to-market of its open trades since their last settlement, at the latest final prices "
            "(positive: owed to it)",
        ),
        _c("vm_owed", BIG, "cash", "Unpaid variation margin it owes (open margin calls)"),
        _c("vm_due", BIG, "cash", "Unpaid variation margin owed to it"),
        _c("exposure", BIG, "cash", "`mtm + vm_due - vm_owed`: what it would receive (negative: pay) if all settled"),
        _c("im_held", BIG, "cash", "Its initial margin locked in open trades"),
        _c(
            "margin_account",
            BIG,
            "cash",
            "Cash it holds in the engines' margin accounts (free, withdrawable; `marginOf`, rebuilt from the payments)",
        ),
        _c(
            "vm_paid",
            BIG,
            "cash",
            "Everything it paid its counterparties: variation margin, cures, final payments, agreed payments",
        ),
        _c("vm_received", BIG, "cash", "Everything its counterparties paid it"),
        _c("fund_balance", BIG, "cash", "Its default-fund balance (None: not a member)"),
        _c("fund_requirement", BIG, "cash", "Its default-fund requirement (None: not a member)"),
    ),
)

MARGIN_FLOWS = View(
    "margin_flows",
    "every payment between a trade's parties: VM, cures, final settlement, agreed payments",
    "One row per `VariationMarginSettled` (kind `variation_margin`), cure paid outside a settlement "
    "(`cure`), `TradeMatured` (`final`), and non-zero payment of a `TradeAmended` (`amendment`) or "
    "`TradeTerminated` (`termination`), in chain order. A close-out's payments are in `defaults`.",
    (
        _MARKET,
        _TRADE,
        _c("kind", STR, "", "variation_margin, cure, final, amendment or termination"),
        _BLOCK,
        _TIME,
        _TX,
        _c("log_index", INT, "count", "Position of the event in its block", show=False),
        _c("round_id", NULLABLE_INT, "id", "Oracle round marked (settlements)"),
        _c("price", BIG, "price", "That round's price (settlements)"),
        _c("vm_to_buyer", BIG, "cash", "Change in the buyer's value marked (negative: the buyer lost)"),
        _c("payer", STR, "address", "Who paid (<NA>: nothing was due)", party=True),
        _c("receiver", STR, "address", "Who was paid", party=True),
        _c("paid", BIG, "cash", "What moved now (unpaid VM of earlier rounds included)"),
        _c("owed", BIG, "cash", "What was due and stays unpaid (a margin call's debt, a claim left at maturity)"),
    ),
    per_market=True,
)

MARGIN_CALLS = View(
    "margin_calls",
    "every margin call: debtor, amount, cure deadline, outcome",
    "One row per margin call, from its first `MarginCalled` (later settlements under the call update "
    "its amount) to its outcome: open, cured (paid by a cure or by a settlement, or a price move wiped "
    "the debt), defaulted, terminated, matured, or moved (prices turned and the counterparty became the "
    "debtor: a new call).",
    (
        _MARKET,
        _TRADE,
        _c("debtor", STR, "address", "Who was called", party=True),
        _c("creditor", STR, "address", "Its counterparty", party=True),
        _c("called_block", INT, "block", "Block of the first call", show=False),
        _c("called_at", TIME, "time", "Time of the first call"),
        _c("cure_deadline", TIME, "time", "End of the cure period (as called; a pause of the cash token extends it)"),
        _c("first_amount", BIG, "cash", "Amount first called"),
        _c("amount", BIG, "cash", "Amount owed last (at the outcome, or now while open)"),
        _c("calls", INT, "count", "`MarginCalled` events in it", show=False),
        _c("outcome", STR, "", "open, cured, defaulted, terminated, matured or moved"),
        _c("resolved_block", NULLABLE_INT, "block", "Block of the outcome", show=False),
        _c("resolved_at", TIME, "time", "Time of the outcome"),
        _c(
            "paid",
            BIG,
            "cash",
            "What the payment that cleared it moved (cured only; after prices turned, the counterparty's)",
            show=False,
        ),
    ),
    per_market=True,
)

_WATERFALL = (
    _c("loss", BIG, "cash", "What the defaulter owed the survivor"),
    _c("from_im", BIG, "cash", "Paid from the defaulter's initial margin in the trade"),
    _c("from_margin", BIG, "cash", "Paid from the defaulter's margin account in the engine"),
    _c("from_defaulter_contribution", BIG, "cash", "Paid from the defaulter's default-fund balance"),
    _c("from_survivors", BIG, "cash", "Paid from the other members' fund balances, pro rata"),
    _c("unpaid", BIG, "cash", "Left unpaid: the survivor's claim on the defaulter"),
)

DEFAULTS = View(
    "defaults",
    "every default with its waterfall, tranche by tranche",
    "One row per close-out (`DefaultDeclared`) and per final payment at maturity that fell back on the "
    "payer's collateral; the fund's tranches come from its `DefaultClaimed` draw in the same transaction "
    "(or in the retry's, for a claim that first reverted). The tranches add up to `loss`.",
    (
        _MARKET,
        _TRADE,
        _c("kind", STR, "", "close-out or maturity"),
        _BLOCK,
        _TIME,
        _TX,
        _c("defaulter", STR, "address", "Who did not pay", party=True),
        _c("survivor", STR, "address", "Who was owed", party=True),
        *_WATERFALL,
        _c("fund_claim", STR, "", "none (nothing to claim), paid, or pending (reverted, waiting for a retry)"),
    ),
    per_market=True,
)

DEFAULT_LOSSES = View(
    "default_losses",
    "per default and member: what the default fund's waterfall took from each member's balance",
    "One row per default and fund member whose balance the draw lowered: the defaulter's own "
    "contribution, then every other member's pro-rata share (within one unit of rounding).",
    (
        _MARKET,
        _TRADE,
        _BLOCK,
        _TIME,
        _c("defaulter", STR, "address", "Who defaulted", party=True, show=False),
        _c("member", STR, "address", "The member charged", party=True),
        _c("role", STR, "", "defaulter (its own contribution) or survivor (a pro-rata share)"),
        _c("loss", BIG, "cash", "What its fund balance lost in this default"),
    ),
    per_market=True,
)

FUND = View(
    "fund",
    "the default fund per member: balance, shares, requirement, standing, open IM",
    "One row per member of the default fund. Balances and shares are the fund's pool replayed from "
    "its events with the contract's arithmetic; requirement and status are read from the fund.",
    (
        _c("member", STR, "address", "The member", party=True),
        _c("status", STR, "", "GOOD_STANDING, BELOW_REQUIREMENT or FLAGGED (the fund's `statusOf`)"),
        _c("flagged", BOOL, "", "Flagged for a missed replenishment and not reinstated", show=False),
        _c("balance", BIG, "cash", "Its balance: `shares * total assets / total shares`, rounded down"),
        _c("shares", BIG, "shares", "Its shares of the pool", show=False),
        _c("requirement", BIG, "cash", "What it must hold (`requirementOf`)"),
        _c("shortfall", BIG, "cash", "`max(requirement - balance, 0)`"),
        _c("open_im", BIG, "cash", "Initial margin of its open trades, as the engines reported it"),
        _c("member_requirement", BIG, "cash", "Minimum governance adopted for it (0: none)", show=False),
        _c("contributed", BIG, "cash", "Cash it put in (joining and contributions)", show=False),
        _c("withdrawn", BIG, "cash", "Cash governance returned to it", show=False),
        _c("lost", BIG, "cash", "What draws took from its balance"),
        _c("joined_block", INT, "block", "Block it joined", show=False),
        _c("joined_at", TIME, "time", "Time it joined", show=False),
    ),
)

INSTRUCTIONS = View(
    "instructions",
    "every DvP/PvP instruction: legs, parties, state, outcome and failure reason",
    "One row per instruction the settlement contract saw. Legs come from its proposal, its entry into "
    "a netting round, the transaction that carried it (sent straight to the settlement contract), or the "
    "token transfers of its settlement; unknown otherwise (<NA>). The state follows `stateOf` (an "
    "instruction whose nonce another spent reads as that one).",
    (
        _c("id", STR, "hash", "The instruction's id (its EIP-712 digest)"),
        _c("kind", STR, "", "DvP (a security against cash), PvP (two cash tokens), other, or <NA>"),
        _c("party_a", STR, "address", "Delivers leg A (the seller, in a DvP)", party=True),
        _c("token_a", STR, "", "Leg A's token: the suite's token symbol, or its address"),
        _c("amount_a", BIG, "token", "Leg A's amount"),
        _c("party_b", STR, "address", "Delivers leg B (the buyer's cash, in a DvP)", party=True),
        _c("token_b", STR, "", "Leg B's token"),
        _c("amount_b", BIG, "token", "Leg B's amount"),
        _c("deadline", TIME, "time", "Last second it may settle", show=False),
        _c("nonce", BIG, "id", "Its nonce in the parties' shared nonce space", show=False),
        _c("state", STR, "", "PENDING, PROPOSED, AFFIRMED, SETTLED, CANCELLED, EXPIRED or LOCKED"),
        _c(
            "outcome",
            STR,
            "",
            "settled, settled_netted (through a netting round), cancelled, failed (attempts failed, "
            "not settled), expired, locked (in a netting round), void (another instruction of the same "
            "parties spent its nonce) or pending",
        ),
        _c("failures", INT, "count", "Failed settlement attempts"),
        _c("failure_reason", STR, "", "The last failed attempt's error, decoded"),
        _c("netting_round", NULLABLE_INT, "id", "The netting round that holds or settled it", show=False),
        _c("first_block", INT, "block", "Block of its first event", show=False),
        _c("first_at", TIME, "time", "Time of its first event", show=False),
        _c("last_block", INT, "block", "Block of its last event", show=False),
        _c("last_at", TIME, "time", "Time of its last event"),
    ),
)

NETTING_ROUNDS = View(
    "netting_rounds",
    "every netting round: gross, net, compression, obligations, exclusions",
    "One row per netting round, rebuilt from its events (`roundOf`): the gross value of its remaining "
    "obligations, the net value that moves (the sum of positive nets), and what netting saved.",
    (
        _c("round_id", INT, "id", "The round"),
        _c("state", STR, "", "COLLECTING, CLOSED, VERIFIED, SETTLED or EXPIRED"),
        _c("opener", STR, "address", "Who opened it", party=True, show=False),
        _c("cutoff", TIME, "time", "Last second obligations may be registered", show=False),
        _c("deadline", TIME, "time", "Funding deadline"),
        _c("members", INT, "count", "Members that ever had an obligation in it (excluded ones included)"),
        _c("obligations", INT, "count", "Obligations that count (removed ones not)"),
        _c("gross_value", BIG, "cash", "Sum of those obligations: what would move without netting"),
        _c("net_value", BIG, "cash", "Sum of the positive nets: what moves with netting"),
        _c("saved", BIG, "cash", "`gross_value - net_value`"),
        _c("compression_pct", FLOAT, "percent", "`100 * (1 - net / gross)` (0 for an empty round)"),
        _c("excluded", INT, "count", "Members excluded"),
        _c("excluded_members", STR, "", "Their addresses, `;`-separated, in order", show=False),
        _c("instructions", INT, "count", "DvP instructions entered and not released"),
        _c("delivery_failures", INT, "count", "Deliveries that failed in a settlement attempt", show=False),
        _c("escrowed", BIG, "cash", "Cash held for it, owed to the members that paid it in", show=False),
        _c("opened_block", INT, "block", "Block it opened", show=False),
        _c("opened_at", TIME, "time", "Time it opened", show=False),
        _c("settled_block", NULLABLE_INT, "block", "Block it settled", show=False),
        _c("settled_at", TIME, "time", "Time it settled"),
    ),
)

ORACLE_ROUNDS = View(
    "oracle_rounds",
    "every final oracle round per market: answer, submissions, reporters, times",
    "One row per final round of every market's oracle (`getRoundData`), with the reports it "
    "finalised on (from `AnswerSubmitted`, less those a change cleared).",
    (
        _MARKET,
        _c("round_id", INT, "id", "The round"),
        _c("answer", BIG, "price", "Its answer: the median of its reports"),
        _c("submissions", INT, "count", "Reports it finalised on"),
        _c("reporters", STR, "", "Who reported, `;`-separated, in submission order", show=False),
        _c("started_by", STR, "address", "The reporter that opened it", party=True, show=False),
        _c("started_at", TIME, "time", "When it opened", show=False),
        _c("updated_at", TIME, "time", "When it finalised (`updatedAt`)"),
        _c("block", INT, "block", "Block it finalised in", show=False),
        _c("jump_detected", BOOL, "", "Its median at quorum was too far from the anchor: it waited for more reports"),
        _c("anchor_moved", BOOL, "", "It became the anchor"),
    ),
    per_market=True,
)

#: Every view, by name, in the order the docs and ``dfmi books --list`` show them.
VIEWS: dict[str, View] = {
    view.name: view
    for view in (
        POSITIONS,
        EXPOSURE,
        MARGIN_FLOWS,
        MARGIN_CALLS,
        DEFAULTS,
        DEFAULT_LOSSES,
        FUND,
        INSTRUCTIONS,
        NETTING_ROUNDS,
        ORACLE_ROUNDS,
    )
}

#: Where the generated part of docs/books.md starts and ends.
DOCS_BEGIN = "<!-- columns: generated from dfmi_py/books/columns.py by `python -m dfmi_py.books.columns` -->"
DOCS_END = "<!-- /columns -->"


def markdown() -> str:
    """The docs' description of every view and column (between :data:`DOCS_BEGIN` and :data:`DOCS_END`)."""
    lines = [DOCS_BEGIN, "", "Units:", ""]
    lines += [f"- `{unit}`: {meaning}" for unit, meaning in UNITS.items() if unit]
    for view in VIEWS.values():
        lines += ["", f"### `{view.name}`", "", f"{view.description}", ""]
        if view.per_market:
            lines += ["Per market: `--market NAME` (or `market=`) keeps that market's rows.", ""]
        lines += ["| column | dtype | unit | meaning |", "|---|---|---|---|"]
        for column in view.all_columns():
            description = column.description.replace("|", "\\|").replace("<NA>", "`<NA>`")
            dtype = "object (Python int)" if column.dtype == BIG else column.dtype
            lines.append(f"| `{column.name}` | {dtype} | {column.unit} | {description} |")
    lines += ["", DOCS_END]
    return "\n".join(lines)


def main() -> None:
    """Rewrite the generated part of docs/books.md (``python -m dfmi_py.books.columns``)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "books.md"
    text = path.read_text()
    start, end = text.index(DOCS_BEGIN), text.index(DOCS_END) + len(DOCS_END)
    path.write_text(text[:start] + markdown() + text[end:])


if __name__ == "__main__":
    main()
