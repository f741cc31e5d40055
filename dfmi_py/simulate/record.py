"""What a simulation did, as data: :class:`SimulationRecord`, its JSON file and its CSV tables.

The record holds what the report, the CCP counterfactual and the books views need and the chain
alone does not say: the configuration and seed, the price path as generated (and the look-back
history before it), which oracle round each of the day's rounds made, which blocks each round and
phase spans and the head the keeper stepped on, who each address is (and which key opens the
members' identity records on the chain: :class:`DisclosureRecord`), every transaction with its
operation type and gas, the DvPs' plan and attempts, the netting round's obligations, the margin
calls and defaults the keeper made, and the fund's planned sizing. Balances, flows and each
default's waterfall stay on the chain (read them through :mod:`dfmi_py.api` or the books): the
record points at them by block, transaction and trade id.

Everything in it is a function of the configuration (seed included) on a fresh local chain with
a fixed genesis time (the identity envelopes too: sealed with keys drawn from the seed), except
:attr:`SimulationRecord.timings` (wall-clock seconds per phase), which is kept apart: two runs
with the same seed write the same tables.

Amounts are integers in the cash token's smallest unit, prices the feed's integers
(``price x 10^decimals``), quantities 18-decimal units, times Unix seconds (the chain's clock).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dfmi_py.errors import InputError
from dfmi_py.identity.keys import dev_disclosure_key
from dfmi_py.units import from_units

#: Bumped when a field changes meaning or goes away (readers check it).
RECORD_VERSION = 1
RECORD_FILE = "record.json"

T = TypeVar("T")


@dataclass(frozen=True)
class ChainInfo:
    """The chain the run used.

    Attributes:
        chain_id: Its chain id.
        genesis_hash: Its genesis block's hash.
        local: Whether ``dfmi simulate`` started the node itself (and stopped it after).
        clock: ``"devnet"`` (the run moved the chain's clock) or ``"wait"`` (it waited).
        manifest: The deployment manifest's path (``dfmi_py.books.connect(rpc, manifest)``).
        contracts: Manifest key -> address.
        first_block: The first block of the run (the deployment's first).
        last_block: The last block of the run.
        start_time: The chain time of round 0 (the opening prices): round ``r`` is due at
            ``start_time + r * interval``.
        interval: Seconds between rounds.
    """

    chain_id: int
    genesis_hash: str
    local: bool
    clock: str
    manifest: str
    contracts: dict[str, str]
    first_block: int
    last_block: int
    start_time: int
    interval: int


@dataclass(frozen=True)
class Participant:
    """An account that acts in the run other than a member: ``role`` is ``admin``,
    ``compliance officer``, ``regulator`` (the observer: holds the registry's ``REGULATOR_ROLE``,
    moves nothing), ``master minter``, ``minter``, ``issuer``, ``keeper``, ``settler`` (sends DvP
    and netting transactions) or ``reporter``."""

    role: str
    address: str
    #: The markets it reports for (reporters only).
    markets: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemberRecord:
    """A member: who it is, and what it was given (see :class:`~dfmi_py.simulate.plan.MemberPlan`).

    Its legal name, LEI and jurisdiction are also on the chain, encrypted to the regulator's
    disclosure key and to the member's own (:class:`DisclosureRecord`): the record keeps them in
    the clear, as the plan made them, to check what the regulator reads.
    """

    number: int
    name: str
    legal_name: str
    lei: str
    address: str
    defaulter: bool
    #: The IM of every side it opened, cash units.
    im: int
    #: What it joined the default fund with.
    contribution: int
    #: Cash minted to it.
    wallet: int
    #: Bonds issued to it (to sell in DvPs).
    bonds: int
    #: Its ISO 3166 jurisdiction code.
    jurisdiction: str = ""


#: :attr:`DisclosureRecord.key` of the devnet regulator key.
DEVNET_DISCLOSURE_KEY = "devnet"


@dataclass(frozen=True)
class DisclosureRecord:
    """The members' disclosed identities: the regulator observer published its disclosure key, and
    the compliance officer recorded each member's identity encrypted to that key and to the
    member's own (``IdentityRecorded`` events; the public sees addresses only).

    Attributes:
        regulator: The regulator observer that published the key.
        key_epoch: The key's epoch in the compliance registry.
        public_key: The published public key (compressed secp256k1, ``0x`` hex).
        key: Which private key opens the records: ``"devnet"``, the devnet regulator key
            (:func:`dfmi_py.identity.keys.dev_disclosure_key`, derived from the public development
            mnemonic: anyone can open a simulation's records; see :func:`regulator_viewer_key`).
        opened_by: The same, in words.
        accounts: The members whose identity is recorded, in the order recorded.
        publish_tx: The transaction that published the key.
    """

    regulator: str
    key_epoch: int
    public_key: str
    key: str
    opened_by: str
    accounts: tuple[str, ...]
    publish_tx: str


@dataclass(frozen=True)
class MarketRecord:
    """One market (underlying) and its price path's parameters."""

    name: str
    description: str
    decimals: int
    oracle: str
    engine: str
    #: ``10 ** (18 + decimals - cash decimals)``: value = quantity * price // value_scale.
    value_scale: int
    drift: float
    volatility: float
    #: Reporters that ran a feeder, in order.
    feeders: tuple[str, ...]
    heartbeat: int
    cure_period: int
    max_price_age: int
    #: The round of the shock and its size (``None`` and 0 when this market is not shocked).
    shock_round: int | None
    shock_bps: int


@dataclass(frozen=True)
class PriceRecord:
    """One point of a market's generated prices: rounds below 0 are the look-back history (never
    on the chain: the margin model's and the fund sizing's input), round 0 the opening price,
    rounds 1.. the day's path the feeders replay."""

    market: str
    round: int
    time: int
    price: int
    shock: bool


@dataclass(frozen=True)
class OracleRecord:
    """What the feeders made of one round in one market: its oracle round (``None`` when no
    feeder reported: the price moved less than their deviation threshold), the answer, its
    ``updatedAt`` and the reports mined."""

    market: str
    round: int
    oracle_round: int | None
    answer: int | None
    updated_at: int | None
    reports: int


@dataclass(frozen=True)
class RoundRecord:
    """One of the day's rounds: its due time, the blocks it spans (prices, keeper, DvPs) and the
    head the keeper stepped on (its block and time: the keeper acts on what it saw there)."""

    round: int
    time: int
    first_block: int
    last_block: int
    keeper_block: int = 0
    keeper_time: int = 0


@dataclass(frozen=True)
class TradeRecord:
    """One forward as opened (its later life is on the chain: the engine's events)."""

    number: int
    market: str
    trade_id: int
    buyer: str
    seller: str
    buyer_member: int
    seller_member: int
    quantity: int
    contract_price: int
    maturity: int
    buyer_im: int
    seller_im: int
    notional: int
    propose_tx: str
    confirm_tx: str
    confirm_block: int


@dataclass(frozen=True)
class ScenarioRecord:
    """A stress scenario of the fund's sizing: shocked prices by market."""

    name: str
    prices: dict[str, int]


@dataclass(frozen=True)
class SizingRecord:
    """One member in the fund's sizing (:class:`dfmi_py.risk.fund.MemberStress`)."""

    member: int
    im: int
    worst_loss: int
    uncovered: int
    scenario: str
    contribution: int


@dataclass(frozen=True)
class FundSizingRecord:
    """The fund's sizing on the planned book at the opening prices (before any trade)."""

    scenarios: tuple[ScenarioRecord, ...]
    members: tuple[SizingRecord, ...]
    cover1: int
    cover2: int
    target: int
    #: What the shock alone costs each member (by number), from the opening price.
    shock_losses: dict[str, int]


@dataclass(frozen=True)
class DvpAttempt:
    """One attempt to settle a DvP: its transaction, and the custom error when it failed."""

    round: int
    tx_hash: str
    block: int
    settled: bool
    error: str | None
    error_text: str | None


@dataclass(frozen=True)
class DvpRecord:
    """A bond sale delivery-versus-payment: ``kind`` is what the plan made of it (``settles``,
    ``frozen``: the buyer frozen at settlement, ``expired``: its deadline passed before)."""

    number: int
    id: str
    seller: str
    buyer: str
    seller_member: int
    buyer_member: int
    quantity: int
    amount: int
    deadline: int
    nonce: int
    round: int
    kind: str
    attempts: tuple[DvpAttempt, ...]


@dataclass(frozen=True)
class ObligationRecord:
    """A payment of the day's netting round."""

    number: int
    payer: str
    payee: str
    amount: int


@dataclass(frozen=True)
class NettingRecord:
    """The day's netting round: its id (its state, nets and compression are on the chain), who
    opened it, the obligations registered, the members excluded (could not fund their debit) and
    the settling transaction."""

    round_id: int
    opener: str
    obligations: tuple[ObligationRecord, ...]
    excluded: tuple[str, ...]
    settle_tx: str | None


@dataclass(frozen=True)
class MarginCallRecord:
    """A margin call a keeper's settlement opened (``MarginCalled``)."""

    market: str
    trade_id: int
    debtor: str
    amount: int
    cure_deadline: int
    round: int
    tx_hash: str


@dataclass(frozen=True)
class DefaultRecord:
    """A default the keeper declared (``DefaultDeclared``; the waterfall is on the chain:
    ``Market.waterfalls()``)."""

    market: str
    trade_id: int
    defaulter: str
    survivor: str
    loss: int
    round: int
    tx_hash: str
    block: int


@dataclass(frozen=True)
class ActionRecord:
    """One transaction of the run, read back from the chain.

    Attributes:
        seq: Its position in the run (chain order).
        phase: The run's phase it belongs to.
        round: The day's round (``None`` outside the rounds).
        block: Its block.
        tx_hash: Its hash.
        sender: Who signed it.
        actor: Who that is (a member's name, ``keeper``, ``reporter``...).
        operation: ``Contract.function`` (``DerivativeEngine.settleMany``), ``deploy Contract`` or
            ``ether transfer``: the type gas is counted by.
        market: The market of the contract it called (engines and oracles), else empty.
        gas_used: Its receipt's ``gasUsed``.
        status: 1 mined, 0 reverted.
        detail: What it did, in words, when the run knows.
    """

    seq: int
    phase: str
    round: int | None
    block: int
    tx_hash: str
    sender: str
    actor: str
    operation: str
    market: str
    gas_used: int
    status: int
    detail: str


@dataclass(frozen=True)
class PhaseRecord:
    """One phase of the run: its blocks, transactions and gas."""

    name: str
    first_block: int
    last_block: int
    transactions: int
    gas_used: int


@dataclass(frozen=True)
class GasByOperation:
    """Gas of one operation type over the run."""

    operation: str
    transactions: int
    gas_total: int
    gas_mean: int
    gas_min: int
    gas_max: int


@dataclass
class SimulationRecord:
    """Everything a simulation did that the chain alone does not say (see the module's text)."""

    version: int
    seed: int
    #: The validated configuration, as JSON data.
    config: dict[str, Any]
    chain: ChainInfo
    cash_decimals: int
    cash_symbol: str
    participants: tuple[Participant, ...]
    members: tuple[MemberRecord, ...]
    markets: tuple[MarketRecord, ...]
    prices: tuple[PriceRecord, ...]
    oracle_rounds: tuple[OracleRecord, ...]
    rounds: tuple[RoundRecord, ...]
    trades: tuple[TradeRecord, ...]
    fund_sizing: FundSizingRecord
    dvps: tuple[DvpRecord, ...]
    netting: NettingRecord | None
    margin_calls: tuple[MarginCallRecord, ...]
    defaults: tuple[DefaultRecord, ...]
    actions: tuple[ActionRecord, ...]
    phases: tuple[PhaseRecord, ...]
    #: The members' identities on the chain and the key that opens them (``None``: not recorded).
    disclosure: DisclosureRecord | None = None
    #: Wall-clock seconds per phase: the one part that differs between two identical runs.
    timings: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ lookups

    def member(self, address: str) -> MemberRecord | None:
        """The member at ``address`` (any case), if it is one."""
        wanted = address.lower()
        return next((m for m in self.members if m.address.lower() == wanted), None)

    def name_of(self, address: str) -> str:
        """A member's name, a participant's role, or the address itself."""
        member = self.member(address)
        if member is not None:
            return member.name
        wanted = address.lower()
        found = next((p for p in self.participants if p.address.lower() == wanted), None)
        return found.role if found is not None else address

    def market(self, name: str) -> MarketRecord:
        """The market ``name``.

        Raises:
            InputError: no such market in the record.
        """
        found = next((m for m in self.markets if m.name == name), None)
        if found is None:
            raise InputError(f"no market {name!r} in the record (it has {', '.join(m.name for m in self.markets)})")
        return found

    def regulator_viewer_key(self) -> bytes | None:
        """The private key that opens the members' identity records, as the regulator reads them:
        the devnet regulator key when :attr:`disclosure` names it; ``None`` when no identity was
        recorded, or the key is another (the regulator's own, which no record holds)."""
        if self.disclosure is None or self.disclosure.key != DEVNET_DISCLOSURE_KEY:
            return None
        return dev_disclosure_key()

    def round_of_block(self, block: int) -> int | None:
        """The day's round whose blocks include ``block`` (``None`` outside the rounds)."""
        return next((r.round for r in self.rounds if r.first_block <= block <= r.last_block), None)

    def gas_by_operation(self) -> list[GasByOperation]:
        """Gas per operation type over every mined transaction, dearest in total first."""
        by: dict[str, list[int]] = {}
        for action in self.actions:
            by.setdefault(action.operation, []).append(action.gas_used)
        rows = [GasByOperation(op, len(g), sum(g), sum(g) // len(g), min(g), max(g)) for op, g in by.items() if g]
        return sorted(rows, key=lambda row: (-row.gas_total, row.operation))

    # ------------------------------------------------------------------ files

    def to_data(self) -> dict[str, Any]:
        """The record as JSON data."""
        return dataclasses.asdict(self)

    def write(self, folder: Path) -> list[Path]:
        """Write ``record.json`` and the CSV tables (:func:`write_tables`) to ``folder``; their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / RECORD_FILE
        path.write_text(json.dumps(self.to_data(), indent=1) + "\n", encoding="utf-8")
        return [path, *write_tables(self, folder)]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> SimulationRecord:
        """A record from its JSON data.

        Raises:
            InputError: another version of the record, or data of the wrong shape.
        """
        if data.get("version") != RECORD_VERSION:
            raise InputError(f"record version {data.get('version')!r}; this toolkit reads version {RECORD_VERSION}")
        try:
            record: SimulationRecord = _build(cls, data)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"the record does not have the expected shape: {exc}") from None
        return record

    @classmethod
    def load(cls, path: Path) -> SimulationRecord:
        """Read a record file (``record.json``, or the folder holding it).

        Raises:
            InputError: the file cannot be read, is not JSON, or is not a record of this version.
        """
        file = path / RECORD_FILE if path.is_dir() else path
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the record {file}: {exc}") from None
        return cls.from_data(data)


def _build(kind: Any, value: Any) -> Any:
    """``value`` (JSON data) as an instance of the type ``kind``."""
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        hints = typing.get_type_hints(kind)
        fields = {f.name: _build(hints[f.name], value[f.name]) for f in dataclasses.fields(kind) if f.name in value}
        return kind(**fields)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return _build(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        (item, *_) = typing.get_args(kind)
        return tuple(_build(item, v) for v in value)
    if origin is list:
        (item,) = typing.get_args(kind)
        return [_build(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(kind)
        return {k: _build(item, v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------- the tables

#: The CSV tables :func:`write_tables` writes, by file name.
TABLES = (
    "members.csv",
    "prices.csv",
    "rounds.csv",
    "trades.csv",
    "margin_calls.csv",
    "defaults.csv",
    "dvps.csv",
    "netting.csv",
    "actions.csv",
    "gas_by_operation.csv",
    "phases.csv",
)
#: Wall-clock seconds per phase (differs between identical runs).
TIMINGS_TABLE = "timings.csv"


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if cell is None else cell for cell in row])
    return path


def _rows(items: Iterable[Any]) -> tuple[list[str], list[list[Any]]]:
    listed = list(items)
    if not listed:
        return [], []
    names = [f.name for f in dataclasses.fields(listed[0])]
    return names, [[getattr(item, name) for name in names] for item in listed]


def write_tables(record: SimulationRecord, folder: Path) -> list[Path]:
    """Write the record's CSV tables to ``folder`` (:data:`TABLES`, then :data:`TIMINGS_TABLE`).

    Amounts stay integers in the cash token's smallest unit and prices the feed's integers; the
    price table adds each price as a decimal (``price_text``) and the oracle round that replays it.
    """
    written = []
    decimals = {m.name: m.decimals for m in record.markets}
    oracle = {(o.market, o.round): o for o in record.oracle_rounds}
    member_header = ["number", "name", "legal_name", "lei", "jurisdiction", "address", "defaulter", "im"]
    member_header += ["contribution", "wallet", "bonds"]
    members = [[getattr(m, name) for name in member_header] for m in record.members]
    written.append(_write(folder / "members.csv", member_header, members))
    prices = []
    for p in record.prices:
        made = oracle.get((p.market, p.round))
        prices.append(
            [
                p.market,
                p.round,
                p.time,
                p.price,
                f"{from_units(p.price, decimals[p.market]):f}",
                p.shock,
                made.oracle_round if made else None,
                made.answer if made else None,
                made.updated_at if made else None,
                made.reports if made else None,
            ]
        )
    header = ["market", "round", "time", "price", "price_text", "shock", "oracle_round", "answer", "updated_at"]
    written.append(_write(folder / "prices.csv", [*header, "reports"], prices))
    for name, items, empty in (
        ("rounds.csv", record.rounds, RoundRecord),
        ("trades.csv", record.trades, TradeRecord),
        ("margin_calls.csv", record.margin_calls, MarginCallRecord),
        ("defaults.csv", record.defaults, DefaultRecord),
        ("actions.csv", record.actions, ActionRecord),
        ("phases.csv", record.phases, PhaseRecord),
    ):
        names, rows = _rows(items)
        written.append(_write(folder / name, names or [f.name for f in dataclasses.fields(empty)], rows))
    dvps = []
    for d in record.dvps:
        last = d.attempts[-1] if d.attempts else None
        outcome = "not attempted" if last is None else "settled" if last.settled else f"failed: {last.error}"
        row = [d.number, d.id, d.seller, d.buyer, d.seller_member, d.buyer_member, d.quantity, d.amount, d.deadline]
        row += [d.nonce, d.round, d.kind, len(d.attempts), outcome, last.tx_hash if last else None]
        dvps.append(row)
    dvp_header = ["number", "id", "seller", "buyer", "seller_member", "buyer_member", "quantity", "amount", "deadline"]
    written.append(
        _write(folder / "dvps.csv", [*dvp_header, "nonce", "round", "kind", "attempts", "outcome", "last_tx"], dvps)
    )
    netting = record.netting
    obligations = (
        []
        if netting is None
        else [[netting.round_id, o.number, o.payer, o.payee, o.amount] for o in netting.obligations]
    )
    written.append(_write(folder / "netting.csv", ["round_id", "number", "payer", "payee", "amount"], obligations))
    gas = record.gas_by_operation()
    names, rows = _rows(gas)
    written.append(
        _write(folder / "gas_by_operation.csv", names or [f.name for f in dataclasses.fields(GasByOperation)], rows)
    )
    written.append(
        _write(folder / TIMINGS_TABLE, ["phase", "seconds"], [[k, f"{v:.3f}"] for k, v in record.timings.items()])
    )
    return written
