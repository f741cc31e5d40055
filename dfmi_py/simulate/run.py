"""The run: a whole dFMI market on a chain, one trading day, through the operators' own code.

:func:`run_simulation` takes a chain whose development accounts are funded (the roles of
:meth:`~dfmi_py.deploy.roles.RoleConfig.devnet`; the keeper is development account 13, the
settler of DvPs and netting rounds 14) and a configuration, and goes through these phases:

1. **deploy**: the suite with the configured markets (:func:`dfmi_py.deploy.deploy_suite`, a fresh
   deployment; the minter, burner and issuer onboarded, the minter configured);
2. **onboard**: gas money for the members, the compliance officer onboards them; the regulator
   observer holds the registry's ``REGULATOR_ROLE`` and moves nothing: it publishes its
   disclosure key (the devnet one, :func:`dfmi_py.identity.keys.dev_disclosure_key`), and the
   compliance officer records each member's identity (legal name, LEI, jurisdiction) encrypted to
   that key and to the member's own; the record says which key opens them
   (:class:`~dfmi_py.simulate.record.DisclosureRecord`);
3. **issue**: the minter issues each member its cash, the issuer the bonds DvP sellers sell;
4. **fund**: members approve the fund, every engine and the settlement contract, and join the
   default fund with the contributions of the plan's stress sizing (:mod:`dfmi_py.simulate.plan`);
5. **trades**: buyers propose, sellers confirm the plan's forwards (IMs from the margin model);
6. **rounds**: round 0 posts the opening prices; then at each round's time (the clock moved on a
   devnet, else waited for) the feeders report the path's price, the keeper steps once (settles,
   calls margin, declares defaults after the cure period, runs the close-out and waterfall), and
   the round's DvPs settle in a batch: a frozen buyer's fails (the compliance officer freezes it
   just for that attempt), an expired one fails; neither moves anything;
7. **netting**: the day's payments, signed by both parties, registered in one round; the nets are
   submitted, debtors approve, the round settles; a member that cannot fund its debit is excluded
   after the funding deadline (:meth:`dfmi_py.api.netting.Netting.resolve`).

Set-up transactions go out in batches (:func:`dfmi_py.simulate.batch.send_many`); prices and
settlements only through the feeders and the keeper (:mod:`dfmi_py.simulate.operators`). After
each phase and each round, :class:`~dfmi_py.simulate.actions.ActionBook` reads back what was
mined. The result is the market (still on the chain) and the :class:`SimulationRecord`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes

from dfmi_py.api.derivatives import Terms
from dfmi_py.api.market import Market
from dfmi_py.api.netting import RoundState
from dfmi_py.api.settlement import Outcome, SignedInstruction
from dfmi_py.api.token import UNLIMITED
from dfmi_py.chain.accounts import dev_account
from dfmi_py.chain.client import Chain
from dfmi_py.chain.events import EventLog, EventSpec, event_specs
from dfmi_py.deploy.roles import DEV_REPORTER_INDICES, DEV_ROLE_INDEX, RoleConfig
from dfmi_py.deploy.suite import activate_roles, deploy_suite
from dfmi_py.errors import TransactionError
from dfmi_py.identity.crypto import public_key_of
from dfmi_py.identity.keys import account_public_key, dev_disclosure_key
from dfmi_py.services.sender import TxResult, TxStatus
from dfmi_py.simulate.actions import ActionBook
from dfmi_py.simulate.batch import GAS, Tx, send_many
from dfmi_py.simulate.clock import ChainClock
from dfmi_py.simulate.config import CASH_DECIMALS, SimulationConfig
from dfmi_py.simulate.operators import Operators, replay_rows, write_replay
from dfmi_py.simulate.plan import DvpPlan, Plan, make_plan, shock_losses
from dfmi_py.simulate.raw import Receipt
from dfmi_py.simulate.record import (
    DEVNET_DISCLOSURE_KEY,
    RECORD_VERSION,
    ChainInfo,
    DefaultRecord,
    DisclosureRecord,
    DvpAttempt,
    DvpRecord,
    FundSizingRecord,
    MarginCallRecord,
    MarketRecord,
    MemberRecord,
    NettingRecord,
    ObligationRecord,
    OracleRecord,
    Participant,
    PriceRecord,
    RoundRecord,
    ScenarioRecord,
    SimulationRecord,
    SizingRecord,
    TradeRecord,
)
from dfmi_py.units import from_units

ADMIN = dev_account(DEV_ROLE_INDEX["admin"])
OFFICER = dev_account(DEV_ROLE_INDEX["compliance_officer"])
REGULATOR = dev_account(DEV_ROLE_INDEX["regulator"])
MASTER_MINTER = dev_account(DEV_ROLE_INDEX["master_minter"])
MINTER = dev_account(DEV_ROLE_INDEX["minter"])
ISSUER = dev_account(DEV_ROLE_INDEX["issuer"])
#: Anyone may settle and keep: two development accounts that are neither roles nor members.
KEEPER = dev_account(13)
SETTLER = dev_account(14)
#: Ether each member gets for gas.
GAS_MONEY = 10 * 10**18
#: Most accounts one ``onboardBatch`` takes here.
ONBOARD_BATCH = 100
#: The replay file the feeders read, in the output folder.
REPLAY_FILE = "feed-replay.csv"
#: Which key opens the members' identity records (the record's words).
DEVNET_KEY_TEXT = (
    "the devnet regulator key (dfmi_py.identity.keys.dev_disclosure_key(), derived from the public development "
    "mnemonic: anyone can open a simulation's records; a real regulator keeps its own key)"
)


class Progress(Protocol):
    """Where a run reports its progress (the CLI draws bars on a terminal)."""

    def start(self, phase: str, total: int) -> None:
        """Phase ``phase`` starts; it has ``total`` steps (0: unknown)."""

    def advance(self, steps: int = 1) -> None:
        """``steps`` more steps of the current phase are done."""

    def finish(self) -> None:
        """The current phase is done."""


class QuietProgress:
    """Reports nothing."""

    def start(self, phase: str, total: int) -> None:
        """Nothing."""

    def advance(self, steps: int = 1) -> None:
        """Nothing."""

    def finish(self) -> None:
        """Nothing."""


@dataclass
class SimulationResult:
    """A finished run: the market on the chain, the plan it followed and its record."""

    market: Market
    plan: Plan
    record: SimulationRecord


def run_simulation(
    chain: Chain,
    config: SimulationConfig,
    clock: ChainClock,
    *,
    manifest_dir: Path,
    local: bool,
    progress: Progress | None = None,
) -> SimulationResult:
    """Run the simulation (see the module's text) and write the feeders' replay file to
    ``config.out``; the record is returned, not written (:meth:`SimulationRecord.write`).

    Args:
        chain: The chain (its development accounts funded).
        config: The run's settings.
        clock: The chain's clock (devnet or real waiting).
        manifest_dir: Where the deployment manifest goes.
        local: Whether the caller started the node (recorded).
        progress: Where progress goes.

    Raises:
        TransactionError: a transaction the run needs was refused or failed (its custom error).
        DfmiError: any other failure of the toolkit it drives.
    """
    run = _Run(chain, config, clock, manifest_dir, local, progress or QuietProgress())
    return run.go()


class _Run:
    """One run's state, phase by phase."""

    def __init__(
        self,
        chain: Chain,
        config: SimulationConfig,
        clock: ChainClock,
        manifest_dir: Path,
        local: bool,
        progress: Progress,
    ) -> None:
        self.chain = chain
        self.config = config
        self.clock = clock
        self.manifest_dir = manifest_dir
        self.local = local
        self.progress = progress
        self.plan = make_plan(config)
        self.first_block = int(chain.w3.eth.block_number) + 1
        self.timings: dict[str, float] = {}
        self.trades: list[TradeRecord] = []
        self.oracle_rounds: list[OracleRecord] = []
        self.rounds: list[RoundRecord] = []
        self.dvps: list[DvpRecord] = []
        self.margin_calls: list[MarginCallRecord] = []
        self.defaults: list[DefaultRecord] = []
        self.netting: NettingRecord | None = None
        self.disclosure: DisclosureRecord | None = None
        self.bonds: dict[int, int] = {}
        self.times: list[int] = []
        self.feeders: dict[str, tuple[str, ...]] = {}
        self._market: Market | None = None
        self._book: ActionBook | None = None
        self._specs: dict[str, dict[bytes, EventSpec]] = {}

    @property
    def market(self) -> Market:
        assert self._market is not None, "the suite is deployed first"
        return self._market

    @property
    def book(self) -> ActionBook:
        assert self._book is not None, "the action book starts with the deployment"
        return self._book

    # ------------------------------------------------------------------ phases

    @contextlib.contextmanager
    def phase(self, name: str, total: int = 0) -> Iterator[None]:
        first = self._book.next_block if self._book is not None else self.first_block
        started = time.monotonic()
        self.progress.start(name, total)
        try:
            yield
            self.book.read(name)
            self.book.close_phase(name, first)
        finally:
            self.progress.finish()
            self.timings[name] = round(time.monotonic() - started, 3)

    def go(self) -> SimulationResult:
        with self.phase("deploy"):
            self.deploy()
        with self.phase("onboard"):
            self.onboard()
        with self.phase("issue"):
            self.issue()
        with self.phase("fund"):
            self.join_fund()
        with self.phase("trades", 2 * len(self.plan.trades)):
            self.open_trades()
        with self.phase("rounds", self.config.path.rounds + 1):
            self.day()
        if self.plan.payments:
            with self.phase("netting"):
                self.net()
        return SimulationResult(self.market, self.plan, self.record())

    def send(self, txs: Sequence[Tx], *, counted: bool = False) -> list[Receipt]:
        """Send set-up transactions in a batch, each noted in the action book (and counted as a
        step of the phase's progress when ``counted``)."""

        def sent(tx_hash: str, note: str) -> None:
            self.book.note(tx_hash, note)
            if counted:
                self.progress.advance()

        return send_many(self.chain, txs, sent=sent)

    def deploy(self) -> None:
        roles = RoleConfig.devnet()
        deployment = deploy_suite(
            self.chain,
            ADMIN,
            roles,
            manifest_dir=self.manifest_dir,
            fresh=True,
            params=self.config.market_params(),
            officer=OFFICER,
        )
        activate_roles(deployment, roles, officer=OFFICER, master_minter=MASTER_MINTER)
        self._market = Market.from_deployment(deployment)
        actors = {p.address: p.role for p in self.participants()}
        actors.update({m.address: m.name for m in self.plan.members})
        self._book = ActionBook(self.chain, deployment, actors, self.first_block)
        for config in self.config.markets:
            reporters = self.market.markets[config.name].oracle.reporters()
            self.feeders[config.name] = reporters[: config.feeders]

    def participants(self) -> list[Participant]:
        roles = [
            ("admin", ADMIN),
            ("compliance officer", OFFICER),
            ("regulator", REGULATOR),
            ("master minter", MASTER_MINTER),
            ("minter", MINTER),
            ("issuer", ISSUER),
            ("keeper", KEEPER),
            ("settler", SETTLER),
        ]
        found = [Participant(role, account.address) for role, account in roles]
        for index in DEV_REPORTER_INDICES:
            address = dev_account(index).address
            markets = tuple(name for name, feeders in self.feeders.items() if address in feeders)
            found.append(Participant(f"reporter {index}", address, markets))
        return found

    def onboard(self) -> None:
        members = self.plan.members
        self.send([Tx(ADMIN, m.address, b"", GAS["ether"], f"gas money for {m.name}", GAS_MONEY) for m in members])
        addresses = [m.address for m in members]
        for start in range(0, len(addresses), ONBOARD_BATCH):
            chunk = addresses[start : start + ONBOARD_BATCH]
            self.market.compliance.onboard(OFFICER, chunk)
            self._note_last(f"onboard {len(chunk)} members")
        if not self.market.compliance.has_role("REGULATOR_ROLE", REGULATOR.address):
            raise TransactionError(f"the regulator observer {REGULATOR.address} does not hold REGULATOR_ROLE")
        self.record_identities()

    def record_identities(self) -> None:
        """The regulator publishes its disclosure key; the compliance officer records every
        member's identity, encrypted to it and to the member (sealed with keys drawn from the
        seed, so the same seed sends the same transactions), in one batch."""
        compliance = self.market.compliance
        receipt = compliance.publish_regulator_key(REGULATOR, public_key_of(dev_disclosure_key()))
        publish_tx = HexBytes(receipt["transactionHash"]).to_0x_hex()
        self.book.note(publish_tx, "the regulator publishes its disclosure key (the devnet key)")
        published = compliance.regulator_key()
        assert published is not None, "the key was just published"
        seed = self.config.seed
        records = []
        for m in self.plan.members:
            envelope = compliance.seal_identity(
                m.address, m.identity, account_public_key(bytes(m.account.key)), entropy=m.identity_entropy(seed)
            )
            note = f"record {m.name}'s identity ({m.legal_name}), readable by the regulator and {m.name} only"
            records.append(
                Tx.call(OFFICER, compliance.contract, "recordIdentity", (m.address, envelope), GAS["identity"], note)
            )
        self.send(records)
        self.disclosure = DisclosureRecord(
            regulator=REGULATOR.address,
            key_epoch=published.epoch,
            public_key=HexBytes(published.public_key).to_0x_hex(),
            key=DEVNET_DISCLOSURE_KEY,
            opened_by=DEVNET_KEY_TEXT,
            accounts=tuple(m.address for m in self.plan.members),
            publish_tx=publish_tx,
        )

    def issue(self) -> None:
        cash = self.market.cash
        self.send(
            [
                Tx.call(MINTER, cash.contract, "mint", (m.address, m.wallet), GAS["mint"], f"mint to {m.name}")
                for m in self.plan.members
            ]
        )
        for dvp in self.plan.dvps:
            self.bonds[dvp.seller] = self.bonds.get(dvp.seller, 0) + dvp.quantity
        security = self.market.deployment.security
        self.send(
            [
                Tx.call(ISSUER, security, "issue", (self.plan.member(n).address, q), GAS["issue"], f"issue {q} bonds")
                for n, q in sorted(self.bonds.items())
            ]
        )

    def join_fund(self) -> None:
        market = self.market
        cash, security = market.cash.contract, market.deployment.security
        buyers = {d.buyer for d in self.plan.dvps}
        sellers = {d.seller for d in self.plan.dvps}
        approvals = []
        for m in self.plan.members:
            account, gas = m.account, GAS["approve"]
            spenders = [(cash, market.fund.address, m.contribution, "the fund")]
            spenders += [
                (cash, u.derivatives.address, UNLIMITED, f"the {name} engine") for name, u in market.markets.items()
            ]
            if m.number in buyers:
                spenders.append((cash, market.settlement.address, UNLIMITED, "the settlement contract (cash)"))
            if m.number in sellers:
                spenders.append((security, market.settlement.address, UNLIMITED, "the settlement contract (bonds)"))
            for token, spender, amount, what in spenders:
                approvals.append(
                    Tx.call(account, token, "approve", (spender, amount), gas, f"{m.name} approves {what}")
                )
        self.send(approvals)
        fund = market.fund.contract
        self.send(
            [
                Tx.call(m.account, fund, "join", (m.contribution,), GAS["join"], f"{m.name} joins the default fund")
                for m in self.plan.members
            ]
        )

    def open_trades(self) -> None:
        market = self.market
        maturity = self.clock.now() + self.config.trades.maturity_days * 86_400
        terms: list[Terms] = []
        proposals = []
        for t in self.plan.trades:
            buyer, seller = self.plan.member(t.buyer), self.plan.member(t.seller)
            term = Terms(
                buyer.address, seller.address, t.quantity, t.contract_price, maturity, t.buyer_im, t.seller_im, t.salt
            )
            terms.append(term)
            engine = market.markets[t.market].derivatives.contract
            note = f"{buyer.name} proposes to buy {t.quantity // 10**18:,} {t.market} from {seller.name}"
            proposals.append(Tx.call(buyer.account, engine, "propose", (term.as_tuple(),), GAS["propose"], note))
        proposed = self.send(proposals, counted=True)
        topic = bytes(event_abi_to_log_topic(market.derivatives.contract.events.TradeProposed().abi))
        ids = []
        for t, receipt in zip(self.plan.trades, proposed, strict=True):
            address = market.markets[t.market].derivatives.address.lower()
            logs = [log for log in receipt.logs if log.address == address and log.topics[:1] == (topic,)]
            ids.append(int.from_bytes(logs[0].topics[1], "big"))
        confirmations = []
        for t, term, trade_id in zip(self.plan.trades, terms, ids, strict=True):
            engine = market.markets[t.market].derivatives.contract
            seller = self.plan.member(t.seller)
            note = f"{seller.name} confirms {t.market} trade {trade_id}"
            call = (trade_id, term.as_tuple())
            confirmations.append(Tx.call(seller.account, engine, "confirm", call, GAS["confirm"], note))
        confirmed = self.send(confirmations, counted=True)
        for t, term, trade_id, p, c in zip(self.plan.trades, terms, ids, proposed, confirmed, strict=True):
            self.trades.append(
                TradeRecord(
                    number=t.number,
                    market=t.market,
                    trade_id=trade_id,
                    buyer=term.buyer,
                    seller=term.seller,
                    buyer_member=t.buyer,
                    seller_member=t.seller,
                    quantity=t.quantity,
                    contract_price=t.contract_price,
                    maturity=maturity,
                    buyer_im=t.buyer_im,
                    seller_im=t.seller_im,
                    notional=t.notional,
                    propose_tx=p.tx_hash,
                    confirm_tx=c.tx_hash,
                    confirm_block=c.block,
                )
            )

    # ------------------------------------------------------------------ the day

    def day(self) -> None:
        config = self.config
        start = self.clock.now()
        self.times = [start + r * config.path.interval for r in range(config.path.rounds + 1)]
        paths = {
            m.name: [(answer, f"{from_units(answer, m.decimals):f}") for answer in m.path] for m in self.plan.markets
        }
        config.out.mkdir(parents=True, exist_ok=True)
        replay = write_replay(config.out / REPLAY_FILE, replay_rows(self.times, paths))
        operators = Operators(self.market, self.feeders, replay.resolve(), config.path.interval, KEEPER)
        instructions = self.sign_dvps()
        for round_number, due in enumerate(self.times):
            first = self.book.next_block
            if round_number > 0:
                self.clock.advance_to(due)
            made, reports = operators.post_round(round_number)
            self.note_reports(reports)
            for item in made:
                self.oracle_rounds.append(
                    OracleRecord(
                        item.market, round_number, item.oracle_round, item.answer, item.updated_at, item.reports
                    )
                )
            head = operators.head()
            self.keep(operators.keep(head), round_number)
            if round_number > 0:
                self.settle_dvps(round_number, instructions)
            self.book.read("rounds", round_number)
            self.rounds.append(
                RoundRecord(round_number, due, first, self.book.next_block - 1, head.number, head.timestamp)
            )
            self.progress.advance()

    def note_reports(self, results: Sequence[TxResult]) -> None:
        for result in results:
            if result.tx_hash is None:
                continue
            fields = result.request.fields
            outcome = "" if result.status is TxStatus.MINED else f" ({result.status.value}: {result.error})"
            self.book.note(
                result.tx_hash,
                f"{result.request.market} report {fields['answer']} in oracle round {fields['round']}{outcome}",
            )

    def keep(self, results: Sequence[TxResult], round_number: int) -> None:
        for result in results:
            if result.tx_hash is None:
                continue
            request = result.request
            fields = request.fields
            trades = ", ".join(str(t) for t in fields.get("trades", []))
            outcome = "" if result.status is TxStatus.MINED else f" ({result.status.value}: {result.error})"
            self.book.note(result.tx_hash, f"{request.action} {request.market} trades {trades}{outcome}")
            if result.status is not TxStatus.MINED or result.receipt is None:
                continue
            for event in self.keeper_events(request.market, result.receipt):
                args = event.args
                if event.name == "MarginCalled":
                    self.margin_calls.append(
                        MarginCallRecord(
                            request.market,
                            int(args["tradeId"]),
                            str(args["debtor"]),
                            int(args["amount"]),
                            int(args["cureDeadline"]),
                            round_number,
                            result.tx_hash,
                        )
                    )
                elif event.name == "DefaultDeclared":
                    self.defaults.append(
                        DefaultRecord(
                            request.market,
                            int(args["tradeId"]),
                            str(args["defaulter"]),
                            str(args["survivor"]),
                            int(args["loss"]),
                            round_number,
                            result.tx_hash,
                            int(result.block or 0),
                        )
                    )

    def keeper_events(self, market: str, receipt: Any) -> list[EventLog]:
        """The margin calls and defaults of ``market``'s engine in ``receipt`` (the fast decoder:
        a batch's receipt holds a settlement event per trade)."""
        underlying = self.market.markets[market].derivatives
        if market not in self._specs:
            self._specs[market] = event_specs(underlying.contract, ("MarginCalled", "DefaultDeclared"))
        wanted, engine = self._specs[market], underlying.address.lower()
        found = []
        for log in receipt["logs"]:
            spec = wanted.get(bytes(log["topics"][0])) if log["topics"] else None
            if spec is not None and str(log["address"]).lower() == engine:
                found.append(EventLog(spec, log))
        return found

    # ------------------------------------------------------------------ DvPs

    def sign_dvps(self) -> dict[int, SignedInstruction]:
        market = self.market
        settlement = market.settlement
        interval = self.config.path.interval
        signed = {}
        for d in self.plan.dvps:
            seller, buyer = self.plan.member(d.seller), self.plan.member(d.buyer)
            due = self.times[d.round]
            deadline = due - 1 if d.kind == "expired" else due + interval - 1
            instruction = settlement.dvp(
                seller.address,
                market.deployment.security.address,
                d.quantity,
                buyer.address,
                market.cash.address,
                d.amount,
                deadline=deadline,
                nonce=d.nonce,
            )
            signed[d.number] = settlement.signed(instruction, seller.account, buyer.account)
        return signed

    def settle_dvps(self, round_number: int, instructions: dict[int, SignedInstruction]) -> None:
        due = [d for d in self.plan.dvps if d.round == round_number]
        normal = [d for d in due if d.kind != "frozen"]
        if normal:
            self.settle_batch(round_number, normal, instructions)
        for d in (d for d in due if d.kind == "frozen"):
            buyer = self.plan.member(d.buyer)
            self.market.compliance.freeze(OFFICER, buyer.address)
            self._note_last(f"freeze {buyer.name}, the buyer of DvP {d.number}, for its settlement")
            self.settle_batch(round_number, [d], instructions)
            self.market.compliance.unfreeze(OFFICER, buyer.address)
            self._note_last(f"unfreeze {buyer.name}")

    def settle_batch(
        self, round_number: int, dvps: Sequence[DvpPlan], instructions: dict[int, SignedInstruction]
    ) -> None:
        settlement = self.market.settlement
        outcomes = settlement.settle_batch(SETTLER, [instructions[d.number] for d in dvps])
        receipt = self.chain.last_receipt
        assert receipt is not None
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        block = int(receipt["blockNumber"])
        words = ", ".join(f"DvP {d.number} {_outcome_word(o)}" for d, o in zip(dvps, outcomes, strict=True))
        self.book.note(tx_hash, f"settle {words}")
        for d, outcome in zip(dvps, outcomes, strict=True):
            instruction = instructions[d.number].instruction
            attempt = DvpAttempt(round_number, tx_hash, block, outcome.settled, outcome.error, outcome.error_text)
            self.dvps.append(
                DvpRecord(
                    number=d.number,
                    id=settlement.instruction_id(instruction),
                    seller=instruction.party_a,
                    buyer=instruction.party_b,
                    seller_member=d.seller,
                    buyer_member=d.buyer,
                    quantity=d.quantity,
                    amount=d.amount,
                    deadline=instruction.deadline,
                    nonce=d.nonce,
                    round=d.round,
                    kind=d.kind,
                    attempts=(attempt,),
                )
            )

    # ------------------------------------------------------------------ netting

    def net(self) -> None:
        market, netting = self.market, self.market.netting
        opener = next(m for m in self.plan.members if not m.defaulter)
        window = self.config.netting.window
        cutoff = self.clock.now() + window
        deadline = cutoff + window
        round_id = netting.open_round(opener.account, cutoff, deadline)
        self._note_last(f"{opener.name} opens netting round {round_id}")
        batch = []
        obligations = []
        for p in self.plan.payments:
            payer, payee = self.plan.member(p.payer), self.plan.member(p.payee)
            obligation = netting.obligation(round_id, payer.address, payee.address, p.amount, ref=p.number)
            batch.append(netting.signed_by_both(obligation, payer.account, payee.account))
            obligations.append(ObligationRecord(p.number, payer.address, payee.address, p.amount))
        for receipt in netting.register_batch(SETTLER, batch):
            self.book.note(
                HexBytes(receipt["transactionHash"]).to_0x_hex(), f"register obligations in round {round_id}"
            )
        netting.close(opener.account, round_id)
        self._note_last(f"{opener.name} closes round {round_id}")
        netting.submit_nets(SETTLER, round_id)
        self._note_last(f"submit the nets of round {round_id}")
        # Each payer approves what it owes in all: its debit after any exclusion stays within it.
        owed: dict[int, int] = {}
        for p in self.plan.payments:
            owed[p.payer] = owed.get(p.payer, 0) + p.amount
        gas = GAS["approve"]
        self.send(
            [
                Tx.call(
                    self.plan.member(n).account,
                    market.cash.contract,
                    "approve",
                    (netting.address, amount),
                    gas,
                    f"M{n:02d} approves the netting contract",
                )
                for n, amount in sorted(owed.items())
            ]
        )
        excluded: list[str] = []
        if netting.blocking_member(round_id) is not None:
            self.clock.advance_to(deadline + 1)
            excluded = netting.resolve(SETTLER, round_id)
        settle_tx = None
        if netting.state(round_id) == RoundState.VERIFIED:
            receipt = netting.settle(SETTLER, round_id)
            settle_tx = HexBytes(receipt["transactionHash"]).to_0x_hex()
            self.book.note(settle_tx, f"settle netting round {round_id}")
        self.netting = NettingRecord(round_id, opener.address, tuple(obligations), tuple(excluded), settle_tx)

    def _note_last(self, detail: str) -> None:
        receipt = self.chain.last_receipt
        if receipt is not None:
            self.book.note(HexBytes(receipt["transactionHash"]).to_0x_hex(), detail)

    # ------------------------------------------------------------------ the record

    def record(self) -> SimulationRecord:
        config, market, plan = self.config, self.market, self.plan
        manifest = market.deployment.manifest
        interval = config.path.interval
        start = self.times[0] if self.times else self.clock.now()
        chain = ChainInfo(
            chain_id=self.chain.chain_id,
            genesis_hash=HexBytes(self.chain.w3.eth.get_block(0)["hash"]).to_0x_hex(),
            local=self.local,
            clock=self.clock.mode,
            manifest=str(market.deployment.manifest_file),
            contracts={key: record.address for key, record in manifest.contracts.items()},
            first_block=self.first_block,
            last_block=self.book.next_block - 1,
            start_time=start,
            interval=interval,
        )
        members = tuple(
            MemberRecord(
                m.number,
                m.name,
                m.legal_name,
                m.lei,
                m.address,
                m.defaulter,
                m.im,
                m.contribution,
                m.wallet,
                self.bonds.get(m.number, 0),
                m.jurisdiction,
            )
            for m in plan.members
        )
        markets = []
        prices = []
        for settings, planned in zip(config.markets, plan.markets, strict=True):
            underlying = market.markets[settings.name]
            engine = underlying.derivatives
            markets.append(
                MarketRecord(
                    name=settings.name,
                    description=settings.description,
                    decimals=settings.decimals,
                    oracle=underlying.oracle.address,
                    engine=engine.address,
                    value_scale=engine.value_scale,
                    drift=settings.drift,
                    volatility=settings.volatility,
                    feeders=self.feeders[settings.name],
                    heartbeat=settings.heartbeat,
                    cure_period=engine.cure_period(),
                    max_price_age=engine.max_price_age(),
                    shock_round=planned.shock_round,
                    shock_bps=config.shock.size_bps if planned.shock_round is not None else 0,
                )
            )
            history = len(planned.history)
            for k, price in enumerate(planned.history):
                prices.append(PriceRecord(settings.name, k - history, start - (history - k) * interval, price, False))
            for r, price in enumerate(planned.path):
                prices.append(PriceRecord(settings.name, r, start + r * interval, price, r == planned.shock_round))
        sizing = plan.sizing
        fund_sizing = FundSizingRecord(
            scenarios=tuple(ScenarioRecord(s.name, dict(s.prices)) for s in plan.scenarios),
            members=tuple(
                SizingRecord(int(m.member), m.im, m.worst_loss, m.uncovered, m.scenario, m.contribution)
                for m in sizing.members
            ),
            cover1=sizing.cover1,
            cover2=sizing.cover2,
            target=sizing.target,
            shock_losses={str(k): v for k, v in shock_losses(config, plan.markets, plan.trades).items()},
        )
        dvps = sorted(self.dvps, key=lambda d: d.number)
        return SimulationRecord(
            version=RECORD_VERSION,
            seed=config.seed,
            config=config.model_dump(mode="json"),
            chain=chain,
            cash_decimals=CASH_DECIMALS,
            cash_symbol=market.cash.symbol,
            participants=tuple(self.participants()),
            members=members,
            markets=tuple(markets),
            prices=tuple(prices),
            oracle_rounds=tuple(self.oracle_rounds),
            rounds=tuple(self.rounds),
            trades=tuple(self.trades),
            fund_sizing=fund_sizing,
            dvps=tuple(dvps),
            netting=self.netting,
            margin_calls=tuple(self.margin_calls),
            defaults=tuple(self.defaults),
            actions=tuple(self.book.actions),
            phases=tuple(self.book.phases),
            disclosure=self.disclosure,
            timings=dict(self.timings),
        )


def _outcome_word(outcome: Outcome) -> str:
    return "settled" if outcome.settled else f"failed ({outcome.error or 'no known error'})"
