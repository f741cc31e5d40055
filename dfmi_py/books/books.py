"""The analyst's entry point: the books of a deployed suite as pandas DataFrames, one method per view.

::

    import dfmi_py
    books = dfmi_py.connect("http://127.0.0.1:8545")        # the default deployments folder
    books.positions()                                      # every trade, marked to market
    books.exposure(market="XAU")                           # per member, that market's trades only
    books.defaults(); books.default_losses()               # every waterfall, per tranche and per member

Each view method reads what is new on the chain first (:meth:`Books.refresh`: the ledger's
incremental, reorganisation-aware read), then builds its DataFrame from the events and a
snapshot of view reads at the ledger's head (:mod:`dfmi_py.books.views`; columns documented in
:mod:`dfmi_py.books.columns` and ``docs/books.md``). The rebuilt state is kept while the ledger
does not change, so asking for several views costs one read of the chain.

Identities: a :class:`~dfmi_py.identity.disclosure.Disclosure` fills every party column's
``_lei`` and ``_name`` companions; without a key that opens the recorded identities the books
show addresses only, and every DataFrame says so in ``df.attrs["disclosure"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from dfmi_py.api.guard import guard_public_methods
from dfmi_py.api.market import Market
from dfmi_py.api.settlement import Settlement
from dfmi_py.books import views
from dfmi_py.books.columns import VIEWS
from dfmi_py.books.ledger import BATCH_ERRORS, Contracts, Ledger, LedgerError, LedgerEvent
from dfmi_py.books.replay import Replay, as_instruction, replay
from dfmi_py.books.snapshot import BatchCaller, Constants, Snapshot, read_constants, read_snapshot
from dfmi_py.books.tr import TRRecord, check_markets, iso_time, market_infos, tr_records
from dfmi_py.chain.client import Chain
from dfmi_py.chain.events import DEFAULT_CHUNK_BLOCKS, collector_paused
from dfmi_py.deploy.suite import Deployment, load_deployment, open_manifest
from dfmi_py.errors import InputError
from dfmi_py.identity.disclosure import Disclosure, disclosure_from
from dfmi_py.signing.settlement import Instruction

logger = logging.getLogger(__name__)

#: Settlement events whose instruction the event itself does not carry.
_WITHOUT_INSTRUCTION = ("InstructionSettled", "InstructionCancelled", "SettlementFailed", "InstructionAffirmed")


@guard_public_methods
class Books:
    """The books of one deployed suite.

    Args:
        source: The suite (a :class:`~dfmi_py.api.market.Market`), or its chain with
            ``deployment``.
        deployment: The deployment, when ``source`` is a chain.
        disclosure: Who is who for this reader (default: built from the chain's identity records
            with ``viewer_key``; without a key, addresses only).
        viewer_key: The reader's private key (32 bytes) for identity records (a regulator's
            observer key, or an account's own).
        chunk_blocks: Most blocks per ``eth_getLogs`` request.

    Raises:
        InputError: a chain without its deployment, a viewer key that is not 32 bytes.
    """

    def __init__(
        self,
        source: Market | Chain,
        deployment: Deployment | None = None,
        *,
        disclosure: Disclosure | None = None,
        viewer_key: bytes | None = None,
        chunk_blocks: int = DEFAULT_CHUNK_BLOCKS,
    ) -> None:
        if viewer_key is not None and (len(viewer_key) != 32 or not any(viewer_key)):
            raise InputError(
                f"viewer_key must be a private key of 32 bytes (not all zero), got {len(viewer_key)} bytes: "
                "give the regulator's observer key or the account's own"
            )
        if isinstance(source, Market):
            chain, deployment = source.chain, source.deployment
        elif deployment is None:
            raise InputError("Books(chain, deployment): give the deployment with the chain, or a Market")
        else:
            chain = source
        self.chain = chain
        self.deployment = deployment
        self.contracts = Contracts(deployment)
        self.ledger = Ledger(chain, deployment, chunk_blocks, contracts=self.contracts)
        self.caller = BatchCaller(chain.w3)
        self._given_disclosure = disclosure
        self._viewer_key = viewer_key
        self._constants: Constants | None = None
        self._known: dict[str, Instruction] = {}
        self._decoded_txs: set[str] = set()
        self._replayed: tuple[int, Replay, Disclosure] | None = None
        self._snapshot: tuple[tuple[int, int | None], Snapshot] | None = None

    # ------------------------------------------------------------------ state

    @property
    def markets(self) -> list[str]:
        """The suite's markets, in configuration order."""
        return [m.name for m in self.deployment.markets]

    def refresh(self) -> int:
        """Read what is new on the chain (incrementally; a reorganisation re-reads what it replaced).

        Returns:
            The head block read.
        """
        return self.ledger.refresh()

    def state(self) -> tuple[Replay, Snapshot, Disclosure]:
        """The replayed state, the snapshot at the ledger's head and the disclosure, refreshed first."""
        self.refresh()
        version = self.ledger.version
        if self._replayed is None or self._replayed[0] != version:
            events = self.ledger.events()
            known = self._decode_instructions(events)
            with collector_paused():  # a bulk build: many objects, no garbage
                rebuilt = replay(events, self.markets, known)
            self._replayed = (version, rebuilt, self._disclosure())
        _, state, disclosure = self._replayed
        key = (version, self.ledger.head)
        if self._snapshot is None or self._snapshot[0] != key:
            if self._constants is None:
                self._constants = read_constants(self.chain, self.contracts, self.caller)
            head = self.ledger.head or 0
            snapshot = read_snapshot(
                self.chain, self.contracts, self._constants, state, head, self.ledger.head_timestamp, self.caller
            )
            self._snapshot = (key, snapshot)
        return state, self._snapshot[1], disclosure

    # ------------------------------------------------------------------ views

    def view(self, name: str, market: str | None = None) -> pd.DataFrame:
        """The view ``name`` (see :data:`dfmi_py.books.columns.VIEWS`), of ``market`` only when given.

        Raises:
            InputError: an unknown view or market, or a market given to a view that is not per
                market (``fund``, ``instructions``, ``netting_rounds``).
        """
        spec = VIEWS.get(name)
        if spec is None:
            raise InputError(f"unknown view {name!r}: one of {', '.join(VIEWS)}")
        chosen = self._market(market)
        if chosen is not None and not spec.per_market and name != "exposure":
            raise InputError(f"the {name} view is not per market: drop the market")
        return self._build(name, chosen, *self.state())

    def _build(
        self, name: str, market: str | None, state: Replay, snapshot: Snapshot, disclosure: Disclosure
    ) -> pd.DataFrame:
        build = views.BUILDERS[name]
        with collector_paused():  # a bulk build: many objects, no garbage
            if VIEWS[name].per_market or name == "exposure":
                return build(state, snapshot, disclosure, market=market)
            return build(state, snapshot, disclosure)

    def positions(self, market: str | None = None) -> pd.DataFrame:
        """Every trade: parties, economics, state, last and latest price, mark-to-market, IMs."""
        return self.view("positions", market)

    def exposure(self, market: str | None = None) -> pd.DataFrame:
        """Per member: exposure since the last settlement, IM held and posted, VM paid and
        received, fund balance and requirement (``market``: that market's trades only)."""
        return self.view("exposure", market)

    def margin_flows(self, market: str | None = None) -> pd.DataFrame:
        """Every payment between a trade's parties: VM, cures, final settlements, agreed payments."""
        return self.view("margin_flows", market)

    def margin_calls(self, market: str | None = None) -> pd.DataFrame:
        """Every margin call: debtor, amount, cure deadline, outcome."""
        return self.view("margin_calls", market)

    def defaults(self, market: str | None = None) -> pd.DataFrame:
        """Every default with its waterfall, tranche by tranche."""
        return self.view("defaults", market)

    def default_losses(self, market: str | None = None) -> pd.DataFrame:
        """What the default fund's waterfall took from each member in each default."""
        return self.view("default_losses", market)

    def fund(self) -> pd.DataFrame:
        """The default fund per member: balance, shares, requirement, standing, open IM."""
        return self.view("fund")

    def instructions(self) -> pd.DataFrame:
        """Every DvP/PvP instruction: legs, parties, state, outcome, failure reason."""
        return self.view("instructions")

    def netting_rounds(self) -> pd.DataFrame:
        """Every netting round: gross, net, compression, obligations, exclusions."""
        return self.view("netting_rounds")

    def oracle_rounds(self, market: str | None = None) -> pd.DataFrame:
        """Every final oracle round of every market: answer, submissions, times."""
        return self.view("oracle_rounds", market)

    def all(self) -> dict[str, pd.DataFrame]:
        """Every view, by name, from one read of the chain."""
        current = self.state()
        return {name: self._build(name, None, *current) for name in VIEWS}

    def trade_repository(
        self,
        *,
        report_from: int | None = None,
        report_to: int | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
        markets: Sequence[str] | None = None,
        currency: str | None = None,
    ) -> list[TRRecord]:
        """The trade-repository export (:mod:`dfmi_py.books.tr`, docs/trade-repository.md) from the
        same read of the chain as the views: one record per lifecycle event and one
        valuation-and-collateral record per live trade per UTC day end, identities as this reader
        may see them. ``pandas.DataFrame(map(dataclasses.asdict, records))`` makes it a table.

        Args:
            report_from: First second of the window (Unix, inclusive; ``None``: from the start).
            report_to: Last second of the window (inclusive; ``None``: up to the head).
            from_block: First block whose lifecycle events are reported (the window then starts at
                its time).
            to_block: Last block whose lifecycle events are reported (the window ends at its time).
            markets: Only these markets (``None``: every one).
            currency: ISO 4217 code of the cash token's currency (default: the token's symbol).

        Raises:
            InputError: a market the suite does not have, a block beyond the head, or a window the
                wrong way round.
        """
        if markets is not None:
            check_markets(markets, self.markets)
        state, snapshot, disclosure = self.state()
        w3 = self.chain.w3
        for block in (from_block, to_block):
            if block is not None and block > snapshot.block:
                raise InputError(f"block {block} is beyond the chain's head, block {snapshot.block}")
        if from_block is not None:
            report_from = int(w3.eth.get_block(from_block)["timestamp"])
        if to_block is not None:
            report_to = int(w3.eth.get_block(to_block)["timestamp"])
        if report_from is not None and report_to is not None and report_from > report_to:
            raise InputError(f"the window starts ({iso_time(report_from)}) after it ends ({iso_time(report_to)})")
        return tr_records(
            self.ledger.events(),
            chain_id=self.chain.chain_id,
            markets=market_infos(snapshot.constants, markets, currency),
            disclosure=disclosure,
            report_from=report_from,
            report_to=report_to,
            from_block=from_block,
            to_block=to_block,
            as_of=snapshot.timestamp,
            replayed=state,
        )

    # ------------------------------------------------------------------ internals

    def _market(self, name: str | None) -> str | None:
        if name is None:
            return None
        for market in self.markets:
            if market.lower() == name.lower():
                return market
        raise InputError(f"no market {name!r}: this deployment has {', '.join(self.markets)}")

    def _disclosure(self) -> Disclosure:
        if self._given_disclosure is not None:
            return self._given_disclosure
        return disclosure_from(
            self.ledger.events("ComplianceRegistry"),
            self._viewer_key,
            self.chain.chain_id,
            self.deployment.manifest.address("ComplianceRegistry"),
        )

    def _decode_instructions(self, events: Iterable[LedgerEvent]) -> dict[str, Instruction]:
        """Instructions whose events do not carry them, decoded from the transactions that carried
        them (sent straight to the settlement contract): their blocks are read with their
        transactions (``eth_getBlockByNumber``), once."""
        carried: set[str] = set()
        wanted: dict[str, tuple[int, str]] = {}
        for e in events:
            if e.contract == "AtomicSettlement":
                id_hex = "0x" + e.log.fixed_bytes("id").hex()
                if e.name in ("InstructionProposed", "InstructionLocked"):
                    carried.add(id_hex)
                elif e.name in _WITHOUT_INSTRUCTION and e.tx_hash not in self._decoded_txs:
                    wanted.setdefault(id_hex, (e.block, e.tx_hash))
            elif e.contract == "NettingEngine" and e.name == "InstructionEntered":
                carried.add("0x" + e.log.fixed_bytes("instructionId").hex())
        missing = {i: where for i, where in wanted.items() if i not in carried and i not in self._known}
        if not missing:
            return self._known
        settlement = Settlement(self.chain, self.contracts["AtomicSettlement"])
        txs = {tx for _, tx in missing.values()}
        for number in sorted({block for block, _ in missing.values()}):
            try:
                block = self.chain.w3.eth.get_block(number, full_transactions=True)
            except BATCH_ERRORS as exc:
                raise LedgerError(f"reading block {number}'s transactions failed ({exc})") from exc
            transactions: list[Any] = list(block["transactions"])
            for tx in transactions:
                tx_hash = "0x" + bytes(tx["hash"]).hex()
                if tx_hash not in txs or tx.get("to") != settlement.address:
                    continue
                for instruction in _carried(settlement, tx["input"]):
                    self._known.setdefault(settlement.instruction_id(instruction), instruction)
        self._decoded_txs |= txs  # a transaction through another contract tells nothing: not read again
        return self._known


def _carried(settlement: Settlement, data: Any) -> list[Instruction]:
    """The instructions in the input of a call to the settlement contract."""
    try:
        function, args = settlement.contract.decode_function_input(data)
    except ValueError:
        return []
    name = function.fn_name
    if name == "settleBatch":
        return [as_instruction(item["instruction"]) for item in args["batch"]]
    if name in ("settle", "propose", "affirm", "cancel"):
        return [as_instruction(args["instruction"])]
    return []


def connect(
    rpc_url: str,
    manifest: Path | str | None = None,
    *,
    viewer_key: bytes | None = None,
    chunk_blocks: int = DEFAULT_CHUNK_BLOCKS,
) -> Books:
    """The books of the suite deployed at ``rpc_url``.

    Args:
        rpc_url: The chain's JSON-RPC endpoint.
        manifest: A deployment manifest file, or a folder of them (``None``: the default folder,
            ``$DFMI_DEPLOYMENTS_DIR`` or ``deployments/``).
        viewer_key: The reader's private key (32 bytes), to open identity records.
        chunk_blocks: Most blocks per ``eth_getLogs`` request.

    Raises:
        ChainConnectionError: nothing answers at ``rpc_url``, or it is not an http(s) URL.
        ManifestError: no manifest of this chain, or the suite is not there.
        InputError: ``manifest`` is not a path, or a bad ``viewer_key`` or ``chunk_blocks``.
    """
    if manifest is not None and not isinstance(manifest, (str, Path)):
        raise InputError(f"manifest must be a file or folder path, got {manifest!r}")
    chain = Chain.connect(rpc_url)
    path = Path(manifest) if manifest is not None else None
    deployment = open_manifest(chain, path) if path is not None and path.is_file() else load_deployment(chain, path)
    return Books(chain, deployment, viewer_key=viewer_key, chunk_blocks=chunk_blocks)
