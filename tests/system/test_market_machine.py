"""The whole market as one state machine: random sequences over every contract, checked after
every step against an independent model (tests/system/model.py) and the chain.

Rules: onboarding, freezing and unfreezing; minting, burning and moving cash, a second cash
token (EUR) and bonds; pausing any of them; opening (propose + confirm), amending and
terminating (2-of-2 signed, with replayed and expired signatures) trades in two markets, some
maturing within the run, and maturing them (by anyone, at the maturity round or a wrong one);
oracle rounds with random moves, bad reports (out of bounds, a reporter reporting twice); time
passing (stale prices); settlements sent by an outsider (one trade, or every trade in a batch);
missed payments (allowance or balance removed) and cures; defaults, two of them in one block;
the fund's contributions, governance (requirements, withdrawals, too few approvals) and
replenishment (after a draw, short members top up within the window or are flagged after it);
DvP (bonds against cash) and PvP (EUR against cash) instructions signed, affirmed on-chain,
expired, cancelled and replayed; netting rounds, settled (with a DvP entered, its bonds
delivered), with a short member excluded, or left collecting or verified to expire;
pre-funding a round's escrow and withdrawing it (free part, too much, after expiry). Every rule
either succeeds and moves the model, or reverts with the custom error (name and arguments) that
the model predicts.

Invariants after every step: each token's supply is what was minted less what was burnt, and
the sum of every holder's balance; every unit a contract holds is owed to someone (an engine's
cash is its margin accounts plus the IM of its open trades, the fund's at least its members'
balances, which add up to its assets within one unit per member; the settlement contract holds
nothing, the netting contract exactly the escrow the model books, member by member); each
engine's trades, margin accounts and IM are the model's; no (trade, round) settles twice and none
on a stale price; a frozen or unknown account never receives a token. At the end of each
example the books (``dfmi_py.connect``) agree with the model: positions, margin accounts, the
fund's balances.

Size: ``DFMI_MACHINE_EXAMPLES`` examples (default 6) of ``DFMI_MACHINE_STEPS`` steps (default
30); for a long search, e.g. ``DFMI_MACHINE_EXAMPLES=100 DFMI_MACHINE_STEPS=50 pytest
tests/system``. The Hypothesis database is off: every run searches afresh. While working on the
model, ``DFMI_MACHINE_SHRINK=0`` reports a failure without shrinking it (shrinking a long
sequence takes minutes) and ``DFMI_MACHINE_STATS=FILE`` writes how often each rule ran, each
call succeeded or reverted, by error, and how many margin calls, cures and defaults the run went
through.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

import dfmi_py
from dfmi_py.api import Terms
from dfmi_py.errors import ContractRevertError
from dfmi_py.netting import Obligation as SignedObligationTerms
from dfmi_py.signing.fund import ActionKind
from dfmi_py.signing.settlement import Instruction
from tests.helpers import _plain, evm_revert, evm_snapshot, mine_in_one_block, read_words
from tests.system.conftest import (
    BURNER,
    ISSUER,
    MARKETS,
    MINTER,
    NEWCOMER,
    OFFICER,
    OUTSIDER,
    PARTIES,
    PAUSER,
    USD,
    World,
)
from tests.system.model import (
    ACTIVE,
    CLOSED,
    COLLECTING,
    EXPIRED,
    FROZEN,
    LIVE,
    MARGIN_CALL,
    MAX_UINT,
    NETTING_EXPIRY,
    PROPOSED,
    SETTLED,
    VERIFIED,
    Model,
    Obligation,
    Revert,
    Token,
    Trade,
)

#: One xdist worker runs this folder (``--dist loadgroup``): its world is deployed once.
pytestmark = pytest.mark.xdist_group("system")

EXAMPLES = int(os.environ.get("DFMI_MACHINE_EXAMPLES", "6"))
#: No explanation phase (it replays a failure hundreds of times); ``DFMI_MACHINE_SHRINK=0`` also
#: skips shrinking, to see a failure at once while working on the model.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target) + (
    (Phase.shrink,) if os.environ.get("DFMI_MACHINE_SHRINK", "1") != "0" else ()
)
STEPS = int(os.environ.get("DFMI_MACHINE_STEPS", "30"))
TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
VM_SETTLED = "VariationMarginSettled"

#: How often each call succeeded or reverted (by error), written to ``DFMI_MACHINE_STATS`` when set.
OUTCOMES: Counter[str] = Counter()
#: The engines' and the fund's events worth counting, by topic.
EVENT_NAMES = {
    "0x" + keccak(text=signature).hex(): signature.split("(")[0]
    for signature in (
        "MarginCalled(uint256,address,uint256,uint256)",
        "MarginCallCured(uint256,address,uint256)",
        "DefaultDeclared(uint256,address,address,uint256,uint256,uint256,uint256,uint256)",
        "SettlementSkipped(uint256,bytes)",
        "DefaultClaimed(address,address,address,uint256,uint256,uint256,uint256,uint256)",
        "FundExhausted(uint256)",
    )
}


def counted(rule_function: Callable[..., None]) -> Callable[..., None]:
    """Counts each call of a rule in :data:`OUTCOMES` (a rule that calls another counts both)."""

    @functools.wraps(rule_function)
    def run(*args: Any, **kwargs: Any) -> None:
        OUTCOMES[f"rule {rule_function.__name__}"] += 1
        rule_function(*args, **kwargs)

    return run


#: The world of the running test (Hypothesis builds the machine itself, without fixtures).
_WORLD: list[World] = []

party = st.sampled_from(PARTIES)
someone = st.sampled_from((*PARTIES, NEWCOMER, OUTSIDER, BURNER))
market_name = st.sampled_from(MARKETS)
pick = st.integers(min_value=0, max_value=2**16)
cash_amount = st.integers(min_value=1, max_value=50_000 * USD)
token_name = st.sampled_from(("cash", "bond", "eur"))
#: How long a trade runs: some mature within a run (which jumps up to a day at a time).
trade_life = st.sampled_from((3_600, 86_400, 3 * 86_400, 30 * 86_400))


def _nonce_and_deadline(nonce: int, flaw: str, now: int) -> dict[str, int]:
    """A 2-of-2 message's nonce and deadline: the trade's next ones, or the flaw's (a used nonce, a
    deadline already passed)."""
    return {
        "nonce": nonce - 1 if flaw == "replayed" and nonce > 0 else nonce,
        "deadline": now - 1 if flaw == "expired" else now + 600,
    }


class MarketMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.w = _WORLD[0]
        self.chain = self.w.chain
        self.snapshot = evm_snapshot(self.chain)
        self.m: Model = self.w.model.clone()
        self.settled: set[tuple[str, int, int]] = set()  # (market, trade, round) settled
        self.instructions: list[tuple[Instruction, str]] = []  # every DvP built, with its id
        self.nonces: dict[tuple[str, str], int] = {}
        self.refs = 0

    def teardown(self) -> None:
        try:
            self.check_books()
        finally:
            evm_revert(self.chain, self.snapshot)

    # ------------------------------------------------------------------ doing and predicting

    def now(self) -> int:
        """The time of the next block (each block is one second after the last)."""
        return self.w.latest_time() + 1

    def jump(self, seconds: int) -> None:
        """Mine an empty block ``seconds`` after the latest."""
        self.w.rpc("evm_setNextBlockTimestamp", [self.w.latest_time() + seconds])
        self.w.rpc("evm_mine", [])

    def predict(self, change: Callable[[Model, int], Any], now: int | None = None) -> tuple[Model, Any, Revert | None]:
        """Run ``change`` on a copy of the model: the copy, its result, or the revert it predicts."""
        trial = self.m.clone()
        try:
            return trial, change(trial, self.now() if now is None else now), None
        except Revert as revert:
            return trial, None, revert

    def do(self, call: Any, sender: LocalAccount, change: Callable[[Model, int], Any]) -> Any:
        """Send ``call`` and check the chain does what the model predicts; the model's result.

        The transaction is mined one second after the latest block; the toolkit's preflight
        (``eth_call`` on the latest block) sees the latest block's time, so a revert is predicted
        at that time (the rules keep clear of the one-second boundary).
        """
        trial, result, expected = self.predict(change)
        try:
            receipt = self.chain.transact(call, sender)
        except ContractRevertError as error:
            raised = error
        else:
            assert expected is None, f"{call.fn_name}: the model expects {expected.name}{expected.args_}, it succeeded"
            self.m = trial
            self.after(receipt)
            OUTCOMES[f"{call.fn_name}: ok"] += 1
            return result
        _, _, at_preflight = self.predict(change, self.w.latest_time())
        assert at_preflight is not None, f"{call.fn_name}: the model expects success, the chain reverted: {raised}"
        self.assert_revert(raised, at_preflight)
        OUTCOMES[f"{call.fn_name}: {raised.error}"] += 1
        return None

    @staticmethod
    def assert_revert(error: ContractRevertError, expected: Revert) -> None:
        actual = (error.error, list(error.args_by_name.values()))
        assert actual == (expected.name, [_plain(a) for a in expected.args_]), (
            f"expected {expected.name}{expected.args_}"
        )

    def after(self, receipt: TxReceipt) -> None:
        """What every mined step must respect: nobody frozen or unknown received a token, no
        (trade, round) settled twice, none on a stale price."""
        tokens = {t.address.lower() for t in (self.w.cash, self.w.bond, self.w.eur)}
        for log in receipt["logs"]:
            if log["address"].lower() in tokens and "0x" + bytes(log["topics"][0]).hex() == TRANSFER:
                to = "0x" + bytes(log["topics"][2])[-20:].hex()
                if int(to, 16) == 0:
                    continue
                account = self.chain.w3.to_checksum_address(to)
                assert account in self.m.contracts or self.m.status_of(account) == ACTIVE, (
                    f"{account} (status {self.m.status_of(account)}) received a token"
                )
        for log in receipt["logs"]:
            name = EVENT_NAMES.get("0x" + bytes(log["topics"][0]).hex()) if log["topics"] else None
            if name is not None:
                OUTCOMES[f"event {name}"] += 1
        block_time = int(self.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
        for name in MARKETS:
            engine = self.w.engine(name)
            logs = [log for log in receipt["logs"] if log["address"] == engine.address]
            if not logs:
                continue
            for event in engine.events[VM_SETTLED]().process_receipt({**receipt, "logs": logs}, errors=DISCARD):
                key = (name, int(event["args"]["tradeId"]), int(event["args"]["roundId"]))
                assert key not in self.settled, f"{key} settled twice"
                self.settled.add(key)
                updated = int(self.w.oracle(name).functions.getRoundData(key[2]).call()[3])
                age = self.m.engines[name].max_price_age
                assert updated + age >= block_time, f"{key} settled on a stale price"

    def trade_of(self, name: str, index: int, states: tuple[int, ...]) -> int | None:
        """A trade of ``name`` in one of ``states`` (chosen by ``index``), or None."""
        ids = [i for i, t in self.m.engines[name].trades.items() if t.state in states]
        return ids[index % len(ids)] if ids else None

    def token(self, name: str) -> tuple[Contract, Callable[[Model], Token]]:
        """The token named ``name`` ("cash", "bond" or "eur") and how to find it in a model."""
        contract = {"cash": self.w.cash, "bond": self.w.bond, "eur": self.w.eur}[name]
        return contract, lambda m: getattr(m, name)

    def account_of(self, address: str) -> LocalAccount:
        return next(a for a in (*PARTIES, NEWCOMER, OUTSIDER, BURNER) if a.address == address)

    # ------------------------------------------------------------------ compliance

    @rule(account=st.sampled_from((*PARTIES, NEWCOMER)))
    @counted
    def onboard(self, account: LocalAccount) -> None:
        call = self.w.deployment.registry.functions.onboard(account.address)
        self.do(call, OFFICER, lambda m, now: m.onboard(account.address))

    @rule(account=st.sampled_from((*PARTIES, NEWCOMER)), freeze=st.booleans(), a_frozen_one=st.booleans())
    @counted
    def freeze_or_unfreeze(self, account: LocalAccount, freeze: bool, a_frozen_one: bool) -> None:
        """Freeze or unfreeze ``account`` (or, to unfreeze, ``a_frozen_one`` when there is one)."""
        registry = self.w.deployment.registry.functions
        frozen = [a for a in (*PARTIES, NEWCOMER) if self.m.status_of(a.address) == FROZEN]
        if not freeze and a_frozen_one and frozen:
            account = frozen[0]
        if freeze:
            self.do(registry.freeze(account.address), OFFICER, lambda m, now: m.freeze(account.address))
        else:
            self.do(registry.unfreeze(account.address), OFFICER, lambda m, now: m.unfreeze(account.address))

    # ------------------------------------------------------------------ tokens

    @rule(to=someone, amount=cash_amount, eur=st.booleans())
    @counted
    def mint(self, to: LocalAccount, amount: int, eur: bool) -> None:
        token, model_token = self.token("eur" if eur else "cash")
        call = token.functions.mint(to.address, amount)
        self.do(call, MINTER, lambda m, now: m.mint(model_token(m), MINTER.address, to.address, amount))

    @rule(frm=party, to=someone, amount=cash_amount, name=token_name)
    @counted
    def move(self, frm: LocalAccount, to: LocalAccount, amount: int, name: str) -> None:
        token, model_token = self.token(name)
        amount = amount % 50 + 1 if name == "bond" else amount
        self.do(
            token.functions.transfer(to.address, amount),
            frm,
            lambda m, now: m.transfer(model_token(m), frm.address, to.address, amount),
        )

    @rule(amount=cash_amount)
    @counted
    def burn(self, amount: int) -> None:
        self.do(self.w.cash.functions.burn(amount), BURNER, lambda m, now: m.burn(m.cash, BURNER.address, amount))

    @rule(to=someone, amount=st.integers(1, 100), redeem=st.booleans())
    @counted
    def issue_or_redeem(self, to: LocalAccount, amount: int, redeem: bool) -> None:
        bond = self.w.bond.functions
        if redeem:
            self.do(bond.redeem(amount), ISSUER, lambda m, now: m.burn(m.bond, ISSUER.address, amount))
        else:
            self.do(
                bond.issue(to.address, amount),
                ISSUER,
                lambda m, now: m.mint(m.bond, ISSUER.address, to.address, amount),
            )

    @rule(name=token_name, pause=st.sampled_from((True, False, False)))
    @counted
    def pause_or_unpause(self, name: str, pause: bool) -> None:
        token, model_token = self.token(name)
        if pause:
            self.do(token.functions.pause(), PAUSER, lambda m, now: m.pause(model_token(m)))
        else:
            self.do(token.functions.unpause(), PAUSER, lambda m, now: m.unpause(model_token(m), now))

    # ------------------------------------------------------------------ trades

    @rule(
        name=market_name,
        buyer=party,
        seller=party,
        units=st.integers(1, 100),
        ims=st.tuples(st.integers(0, 40_000), st.integers(0, 40_000)),
        by_seller=st.booleans(),
        off_market_bps=st.integers(-300, 300),
        life=trade_life,
    )
    @counted
    def open_trade(
        self,
        name: str,
        buyer: LocalAccount,
        seller: LocalAccount,
        units: int,
        ims: tuple[int, int],
        by_seller: bool,
        off_market_bps: int,
        life: int,
    ) -> None:
        engine = self.w.engine(name)
        e = self.m.engines[name]
        price = e.oracle.latest[1] * (10_000 + off_market_bps) // 10_000
        quantity = units * 10**18 if name == "XAU" else units * 1_000 * 10**18
        terms = Terms(buyer.address, seller.address, quantity, price, self.now() + life, ims[0] * USD, ims[1] * USD)
        proposer, confirmer = (seller, buyer) if by_seller else (buyer, seller)
        trade_id = len(e.trades) + 1
        draft = Trade(terms.buyer, terms.seller, quantity, terms.maturity, price, terms.buyer_im, terms.seller_im, 0)
        self.do(
            engine.functions.propose(terms.as_tuple()),
            proposer,
            lambda m, now: m.propose(name, proposer.address, trade_id, draft, now),
        )
        if trade_id in self.m.engines[name].trades:
            self.do(
                engine.functions.confirm(trade_id, terms.as_tuple()),
                confirmer,
                lambda m, now: m.confirm(name, confirmer.address, trade_id, now),
            )

    @initialize(
        trades=st.lists(
            st.tuples(market_name, party, party, st.integers(1, 100), st.integers(0, 20_000), trade_life),
            min_size=2,
            max_size=4,
        )
    )
    def opening_trades(self, trades: list[tuple[str, LocalAccount, LocalAccount, int, int, int]]) -> None:
        """Every example starts with a few trades, for the rules that act on open trades."""
        for name, buyer, seller, units, im, life in trades:
            self.open_trade(name, buyer, seller, units, (im, im), False, 0, life)

    @rule(name=market_name, index=pick)
    @counted
    def cancel_proposal(self, name: str, index: int) -> None:
        trade_id = self.trade_of(name, index, (PROPOSED,))
        if trade_id is None:
            return
        t = self.m.engines[name].trades[trade_id]
        sender = self.account_of(t.buyer if index % 2 else t.seller)
        self.do(
            self.w.engine(name).functions.cancel(trade_id),
            sender,
            lambda m, now: m.cancel_trade(name, sender.address, trade_id),
        )

    def _signed(self, name: str, trade_id: int, message: dict[str, int], kind: str) -> tuple[bytes, bytes]:
        d = self.w.market.markets[name].derivatives
        t = self.m.engines[name].trades[trade_id]
        sign = d.sign_amendment if kind == "amend" else d.sign_termination
        return sign(self.account_of(t.buyer), message), sign(self.account_of(t.seller), message)

    @rule(
        name=market_name,
        index=pick,
        units=st.integers(1, 20),
        ims=st.tuples(st.integers(0, 40_000), st.integers(0, 40_000)),
        payment=st.integers(-5_000, 5_000),
        flaw=st.sampled_from(("none", "none", "replayed", "expired")),
    )
    @counted
    def amend(self, name: str, index: int, units: int, ims: tuple[int, int], payment: int, flaw: str) -> None:
        trade_id = self.trade_of(name, index, (LIVE, MARGIN_CALL))
        if trade_id is None:
            return
        t = self.m.engines[name].trades[trade_id]
        now = self.now()
        message = {
            "tradeId": trade_id,
            "quantity": units * 10**18 if name == "XAU" else units * 1_000 * 10**18,
            "maturity": t.maturity,
            "buyerIm": ims[0] * USD,
            "sellerIm": ims[1] * USD,
            "payment": payment * USD,
            **_nonce_and_deadline(t.nonce, flaw, now),
        }
        sig_b, sig_s = self._signed(name, trade_id, message, "amend")
        call = self.w.engine(name).functions.amend(tuple(message.values()), sig_b, sig_s)
        self.do(
            call,
            OUTSIDER,
            lambda m, now: m.amend(
                name,
                trade_id,
                message["quantity"],
                message["buyerIm"],
                message["sellerIm"],
                message["payment"],
                message["nonce"],
                message["deadline"],
                now,
            ),
        )

    @rule(
        name=market_name,
        index=pick,
        payment=st.integers(-5_000, 5_000),
        flaw=st.sampled_from(("none", "none", "replayed", "expired")),
    )
    @counted
    def terminate(self, name: str, index: int, payment: int, flaw: str) -> None:
        trade_id = self.trade_of(name, index, (LIVE, MARGIN_CALL))
        if trade_id is None:
            return
        t = self.m.engines[name].trades[trade_id]
        now = self.now()
        message = {
            "tradeId": trade_id,
            "payment": payment * USD,
            **_nonce_and_deadline(t.nonce, flaw, now),
        }
        sig_b, sig_s = self._signed(name, trade_id, message, "terminate")
        call = self.w.engine(name).functions.terminate(tuple(message.values()), sig_b, sig_s)
        self.do(
            call,
            OUTSIDER,
            lambda m, now: m.terminate(name, trade_id, message["payment"], message["nonce"], message["deadline"], now),
        )

    # ------------------------------------------------------------------ prices and time

    @rule(name=market_name, bps=st.integers(-2_500, 2_500), spread=st.integers(0, 30), order=st.permutations(range(5)))
    @counted
    def oracle_round(self, name: str, bps: int, spread: int, order: list[int]) -> None:
        """Every reporter reports around a move of ``bps`` until the round is final."""
        oracle = self.w.oracle(name)
        o = self.m.engines[name].oracle
        base = o.latest[1] * (10_000 + bps) // 10_000
        for k, i in enumerate(order):
            reporter = o.reporters[i]
            if any(r == reporter for r, _ in o.submissions):
                continue
            answer = base * (10_000 + spread * (k - 2)) // 10_000
            round_id = o.open_round
            self.do(
                oracle.functions.submit(round_id, answer),
                self.w.reporters[reporter],
                lambda m, now, r=reporter, a=answer, rid=round_id: m.submit(name, r, rid, a, now),
            )
            o = self.m.engines[name].oracle
            if o.open_round != round_id:
                return

    @rule(name=market_name, twice=st.booleans(), high=st.booleans(), index=st.integers(0, 4))
    @counted
    def bad_report(self, name: str, twice: bool, high: bool, index: int) -> None:
        """A reporter reports twice in one round, or a value out of bounds: the named revert."""
        oracle = self.w.oracle(name)
        o = self.m.engines[name].oracle
        reporter = o.reporters[index]
        round_id = o.open_round
        if twice:
            answer = o.latest[1]
            if not any(r == reporter for r, _ in o.submissions):
                self.do(
                    oracle.functions.submit(round_id, answer),
                    self.w.reporters[reporter],
                    lambda m, now: m.submit(name, reporter, round_id, answer, now),
                )
                if self.m.engines[name].oracle.open_round != round_id:
                    return
        else:
            answer = o.max_answer + 1 if high else o.min_answer - 1
        self.do(
            oracle.functions.submit(round_id, answer),
            self.w.reporters[reporter],
            lambda m, now: m.submit(name, reporter, round_id, answer, now),
        )

    @rule(seconds=st.sampled_from((60, 600, 1_800, 3_700, 7_300, 90_000)))
    @counted
    def time_passes(self, seconds: int) -> None:
        self.jump(seconds)

    # ------------------------------------------------------------------ settlement of trades

    @rule(name=market_name)
    @counted
    def settle_all(self, name: str) -> None:
        """The outsider settles every trade of ``name`` in one batch (the engine passes over those not due)."""
        ids = list(self.m.engines[name].trades)
        if ids:
            self.do(
                self.w.engine(name).functions.settleMany(ids), OUTSIDER, lambda m, now: m.settle_many(name, ids, now)
            )

    @rule(name=market_name, index=pick)
    @counted
    def settle_one(self, name: str, index: int) -> None:
        ids = list(self.m.engines[name].trades)
        trade_id = ids[index % len(ids)] if ids else 1
        self.do(self.w.engine(name).functions.settle(trade_id), OUTSIDER, lambda m, now: m.settle(name, trade_id, now))

    @rule(who=party, name=market_name, pay=st.booleans())
    @counted
    def stop_or_resume_paying(self, who: LocalAccount, name: str, pay: bool) -> None:
        """A member removes (or restores) its allowance to an engine: its payments fail (or resume)."""
        engine = self.w.engine(name).address
        amount = MAX_UINT if pay else 0
        self.do(
            self.w.cash.functions.approve(engine, amount),
            who,
            lambda m, now: m.approve(m.cash, who.address, engine, amount),
        )

    @rule(who=party, name=market_name, share=st.integers(1, 4))
    @counted
    def withdraw_margin(self, who: LocalAccount, name: str, share: int) -> None:
        held = self.m.engines[name].margin_of(who.address)
        amount = held * share // 4 if held else 1
        self.do(
            self.w.engine(name).functions.withdrawMargin(amount),
            who,
            lambda m, now: m.withdraw_margin(name, who.address, amount),
        )

    @rule(name=market_name, index=pick, bps=st.integers(300, 2_500), seller=st.booleans())
    @counted
    def member_misses_payment(self, name: str, index: int, bps: int, seller: bool) -> None:
        """A party to an open trade stops paying that engine and empties its margin account, the
        price moves against it, the outsider settles the market: a margin call, unless paid."""
        trade_id = self.trade_of(name, index, (LIVE, MARGIN_CALL))
        if trade_id is None:
            return
        t = self.m.engines[name].trades[trade_id]
        who = self.account_of(t.seller if seller else t.buyer)
        self.stop_or_resume_paying(who, name, pay=False)
        if self.m.engines[name].margin_of(who.address):
            self.withdraw_margin(who, name, 4)
        self.oracle_round(name, bps if seller else -bps, 0, [0, 1, 2, 3, 4])
        self.settle_all(name)

    @rule(name=market_name, bps=st.integers(300, 2_500), seller=st.booleans())
    @counted
    def busiest_member_misses_payments(self, name: str, bps: int, seller: bool) -> None:
        """As :meth:`member_misses_payment`, for the member with the most open trades on the side
        the move hurts (the way to several margin calls at once, hence to two defaults in a block)."""
        trades = [t for t in self.m.engines[name].trades.values() if t.state in (LIVE, MARGIN_CALL)]
        sides = [t.seller if seller else t.buyer for t in trades]
        if not sides:
            return
        who = max(set(sides), key=sides.count)
        index = sides.index(who)  # trade_of's index among the open trades
        self.member_misses_payment(name, index, bps, seller)

    @rule(name=market_name, index=pick, resume=st.booleans())
    @counted
    def cure(self, name: str, index: int, resume: bool) -> None:
        """The debtor of a margin call pays it (after restoring its allowance, when ``resume``)."""
        trade_id = self.trade_of(name, index, (MARGIN_CALL,))
        if trade_id is None:
            return
        t = self.m.engines[name].trades[trade_id]
        debtor = self.account_of(t.buyer if t.debtor == 1 else t.seller)
        if resume:
            self.stop_or_resume_paying(debtor, name, pay=True)
        self.do(self.w.engine(name).functions.cure(trade_id), debtor, lambda m, now: m.cure(name, trade_id, now))

    @rule(name=market_name, index=pick, wait=st.booleans())
    @counted
    def declare_default(self, name: str, index: int, wait: bool) -> None:
        trade_id = self.trade_of(name, index, (MARGIN_CALL,))
        if trade_id is None:
            return
        if wait:
            e = self.m.engines[name]
            self.jump(max(self.m.cure_deadline(e, e.trades[trade_id]) - self.now() + 2, 1))
        self.do(
            self.w.engine(name).functions.declareDefault(trade_id),
            OUTSIDER,
            lambda m, now: m.declare_default(name, trade_id, now),
        )

    @rule()
    @counted
    def two_defaults_in_one_block(self) -> None:
        """Two margin calls (any markets) past their cure periods, declared in one block."""
        calls = [
            (name, i) for name in MARKETS for i, t in self.m.engines[name].trades.items() if t.state == MARGIN_CALL
        ]
        if len(calls) < 2:
            return
        calls = calls[:2]
        deadline = max(self.m.cure_deadline(self.m.engines[n], self.m.engines[n].trades[i]) for n, i in calls)
        self.jump(max(deadline - self.now() + 2, 1))
        now = self.now()

        def both(m: Model, now: int) -> None:
            for n, i in calls:
                m.declare_default(n, i, now)

        trial, _, expected = self.predict(both, now)
        if expected is not None:
            return  # a revert cannot be read from a block's receipt: only the successes are sent together
        OUTCOMES["two defaults in one block"] += 1
        receipts = mine_in_one_block(
            self.chain, [(self.w.engine(n).functions.declareDefault(i), OUTSIDER) for n, i in calls]
        )
        assert [r["status"] for r in receipts] == [1, 1]
        assert int(self.chain.w3.eth.get_block(receipts[0]["blockNumber"])["timestamp"]) == now
        self.m = trial
        for receipt in receipts:
            self.after(receipt)

    @rule(name=market_name, index=pick, wrong=st.booleans())
    @counted
    def mature(self, name: str, index: int, wrong: bool) -> None:
        """The outsider matures an open trade at its maturity round (waiting for the maturity and
        posting a round when there is none yet), or (``wrong``) at a round that is not it."""
        trade_id = self.trade_of(name, index, (LIVE, MARGIN_CALL))
        if trade_id is None:
            return
        t = self.m.engines[name].trades[trade_id]
        round_id = self.m.maturity_round(name, trade_id)
        if round_id is None and not wrong:
            self.jump(max(t.maturity - self.w.latest_time(), 1))
            self.oracle_round(name, 0, 0, [0, 1, 2, 3, 4])
            round_id = self.m.maturity_round(name, trade_id)
        rounds = self.m.engines[name].oracle.rounds
        if wrong:  # the latest round before the maturity, or the one after the maturity round
            round_id = max(rounds) if round_id is None else round_id + 1 if round_id + 1 in rounds else round_id - 1
        if round_id is None:
            return  # the oracle did not finalise a round (a reporter's report was refused)
        self.do(
            self.w.engine(name).functions.mature(trade_id, round_id),
            OUTSIDER,
            lambda m, now: m.mature(name, trade_id, round_id, now),
        )

    # ------------------------------------------------------------------ the default fund

    @rule(who=party, amount=st.integers(1, 20_000))
    @counted
    def contribute(self, who: LocalAccount, amount: int) -> None:
        self.contribute_units(who, amount * USD)

    def contribute_units(self, who: LocalAccount, units: int) -> None:
        fund = self.w.market.fund.contract
        self.do(
            self.w.cash.functions.approve(fund.address, units),
            who,
            lambda m, now: m.approve(m.cash, who.address, fund.address, units),
        )
        self.do(fund.functions.contribute(units), who, lambda m, now: m.fund_contribute(who.address, units))

    @rule(who=party, wait=st.booleans())
    @counted
    def flag_missed_replenishment(self, who: LocalAccount, wait: bool) -> None:
        """Anyone flags a member short of its requirement once the window after a draw closed
        (``wait``: let the window close first)."""
        f = self.m.fund
        if wait and f.last_draw_at:
            self.jump(max(f.last_draw_at + f.window - self.now() + 2, 1))
            short = [p for p in PARTIES if f.balance_of(p.address) < f.requirement_of(p.address)]
            who = short[0] if short else who
        fund = self.w.market.fund.contract
        self.do(
            fund.functions.flagMissedReplenishment(who.address), OUTSIDER, lambda m, now: m.fund_flag(who.address, now)
        )

    @rule(replenish=st.lists(st.booleans(), min_size=5, max_size=5), defaulter=party, survivor=party)
    @counted
    def replenishment_window(self, replenish: list[bool], defaulter: LocalAccount, survivor: LocalAccount) -> None:
        """After a draw on the fund, while its replenishment window runs: the members short of
        their requirement chosen by ``replenish`` top up to it (flagging them then fails), the
        window passes, and the outsider flags every member (the others short are flagged).
        Without a window running, a draw first: ``defaulter`` buys 100 ounces of gold from
        ``survivor`` without IM, stops paying, the price falls 15% and it defaults (a loss of
        about 30,000 dollars, beyond its 10,000 in the fund)."""
        if not self.window_open():
            self.draw_on_fund(defaulter, survivor)
        if not self.window_open():
            return
        OUTCOMES["replenishment window open"] += 1
        f = self.m.fund
        fund = self.w.market.fund.contract
        for member, tops_up in zip(PARTIES, replenish, strict=True):
            balance, requirement = f.balance_of(member.address), f.requirement_of(member.address)
            if tops_up and balance < requirement:
                # One unit over: a contribution's shares round down.
                self.contribute_units(member, requirement - balance + 1)
                f = self.m.fund
        self.jump(max(f.last_draw_at + f.window - self.now() + 2, 1))
        for member in PARTIES:
            self.do(
                fund.functions.flagMissedReplenishment(member.address),
                OUTSIDER,
                lambda m, now, a=member.address: m.fund_flag(a, now),
            )

    def window_open(self) -> bool:
        """Whether a draw's replenishment window runs (for a minute more at least)."""
        f = self.m.fund
        return f.last_draw_at != 0 and self.now() <= f.last_draw_at + f.window - 60

    def draw_on_fund(self, defaulter: LocalAccount, survivor: LocalAccount) -> None:
        trade_id = len(self.m.engines["XAU"].trades) + 1
        self.open_trade("XAU", defaulter, survivor, 100, (0, 0), False, 0, 30 * 86_400)
        trade = self.m.engines["XAU"].trades.get(trade_id)
        if trade is None or trade.state != LIVE:
            return
        live = [i for i, t in self.m.engines["XAU"].trades.items() if t.state in (LIVE, MARGIN_CALL)]
        self.member_misses_payment("XAU", live.index(trade_id), 1_500, False)
        calls = [i for i, t in self.m.engines["XAU"].trades.items() if t.state == MARGIN_CALL]
        if trade_id in calls:
            self.declare_default("XAU", calls.index(trade_id), True)

    @rule(
        signers=st.lists(party, min_size=1, max_size=5, unique=True),
        withdraw=st.booleans(),
        amount=st.integers(1, 12_000),
        bps=st.integers(0, 4_000),
    )
    @counted
    def governance(self, signers: list[LocalAccount], withdraw: bool, amount: int, bps: int) -> None:
        """A withdrawal from the fund (by its member's approval among others) or new requirements."""
        fund = self.w.market.fund
        member = signers[0].address
        if withdraw:
            action = fund.action(
                ActionKind.WITHDRAW, member, amount * USD, nonce=self.m.fund.nonce, deadline=self.now() + 600
            )
        else:
            action = fund.action(
                ActionKind.SET_REQUIREMENT, bps, amount * USD, nonce=self.m.fund.nonce, deadline=self.now() + 600
            )
        approvals = sorted((fund.sign(s, action) for s in signers), key=lambda a: int(a.signer, 16))
        call = fund.contract.functions.execute(action.as_tuple(), [a.as_tuple() for a in approvals])
        addresses = [s.address for s in signers]

        def change(m: Model, now: int) -> None:
            m.fund_execute(action.nonce, action.deadline, addresses, now)
            if withdraw:
                m.fund_withdraw(member, amount * USD, addresses)
            else:
                m.fund_set_requirement(bps, amount * USD)

        self.do(call, OUTSIDER, change)

    # ------------------------------------------------------------------ DvP and PvP

    def _instruction(
        self, seller: LocalAccount, buyer: LocalAccount, token_a: Contract, amount_a: int, price: int, ttl: int
    ) -> tuple[Instruction, str]:
        """``amount_a`` of ``token_a`` (bonds: DvP; EUR: PvP) from ``seller`` against ``price`` cash."""
        pair = tuple(sorted((seller.address, buyer.address)))
        nonce = self.nonces.get(pair, 0)  # type: ignore[arg-type]
        self.nonces[pair] = nonce + 1  # type: ignore[index]
        settlement = self.w.market.settlement
        ins = Instruction(
            seller.address,
            token_a.address,
            amount_a,
            buyer.address,
            self.w.cash.address,
            price,
            self.now() + ttl,
            nonce,
        )
        built = (ins, settlement.instruction_id(ins))
        self.instructions.append(built)
        return built

    @rule(
        seller=party,
        buyer=party,
        bonds=st.integers(1, 60),
        price=cash_amount,
        how=st.sampled_from(("signed", "signed", "affirmed", "expired", "cancelled", "unsigned", "same_token")),
    )
    @counted
    def dvp(self, seller: LocalAccount, buyer: LocalAccount, bonds: int, price: int, how: str) -> None:
        """Bonds against cash (``same_token``: cash against the same cash, which the contract refuses)."""
        token = self.w.cash if how == "same_token" else self.w.bond
        built = self._instruction(seller, buyer, token, bonds, price, 1 if how == "expired" else 3_600)
        self._settle_instruction(*built, seller, buyer, how)
        self.count_settled("DvP", built[0], how)

    @rule(
        seller=party,
        buyer=party,
        euros=cash_amount,
        dollars=cash_amount,
        how=st.sampled_from(("signed", "signed", "affirmed", "expired", "cancelled", "unsigned")),
    )
    @counted
    def pvp(self, seller: LocalAccount, buyer: LocalAccount, euros: int, dollars: int, how: str) -> None:
        """EUR against dollars, signed, affirmed, expired, cancelled or half signed (replayed by
        :meth:`replay_instruction`)."""
        built = self._instruction(seller, buyer, self.w.eur, euros, dollars, 1 if how == "expired" else 3_600)
        self._settle_instruction(*built, seller, buyer, how)
        self.count_settled("PvP", built[0], how)

    def count_settled(self, kind: str, ins: Instruction, how: str) -> None:
        if self.m.instruction_mark(ins) == 1:
            OUTCOMES[f"{kind} settled ({how})"] += 1

    def _settle_instruction(
        self, ins: Instruction, iid: str, seller: LocalAccount, buyer: LocalAccount, how: str
    ) -> None:
        settlement = self.w.market.settlement
        functions = settlement.contract.functions
        if how == "affirmed":
            self.do(
                functions.propose(ins.as_tuple()),
                buyer,
                lambda m, now: m.propose_instruction(ins, iid, buyer.address, now),
            )
            self.do(
                functions.affirm(ins.as_tuple()),
                seller,
                lambda m, now: m.affirm_instruction(ins, iid, seller.address, now),
            )
            return
        if how == "cancelled":
            self.do(
                functions.cancel(ins.as_tuple()), seller, lambda m, now: m.cancel_instruction(ins, iid, seller.address)
            )
        if how == "expired":
            self.jump(5)
        sig_a = settlement.sign(seller, ins)
        sig_b = b"" if how == "unsigned" else settlement.sign(buyer, ins)
        self.do(
            functions.settle(ins.as_tuple(), sig_a, sig_b),
            OUTSIDER,
            lambda m, now: m.settle_instruction(ins, iid, True, how != "unsigned", now),
        )

    @rule(index=pick)
    @counted
    def replay_instruction(self, index: int) -> None:
        """Any instruction built before, sent again with both signatures (settled ones must not move)."""
        if not self.instructions:
            return
        ins, iid = self.instructions[index % len(self.instructions)]
        settlement = self.w.market.settlement
        seller, buyer = self.account_of(ins.party_a), self.account_of(ins.party_b)
        call = settlement.contract.functions.settle(
            ins.as_tuple(), settlement.sign(seller, ins), settlement.sign(buyer, ins)
        )
        self.do(call, OUTSIDER, lambda m, now: m.settle_instruction(ins, iid, True, True, now))

    # ------------------------------------------------------------------ netting

    @rule(
        payments=st.lists(st.tuples(party, party, st.integers(1, 30_000)), min_size=2, max_size=5),
        short=st.booleans(),
        prefund=st.integers(0, 2),
        left=st.sampled_from((None, None, None, COLLECTING, VERIFIED)),
        bonds=st.sampled_from((0, 0, 5, 200)),
    )
    @counted
    def netting_round(
        self,
        payments: list[tuple[LocalAccount, LocalAccount, int]],
        short: bool,
        prefund: int,
        left: int | None,
        bonds: int,
    ) -> None:
        """A round of ``payments``: registered by the outsider, closed, verified; the first debtor
        pre-funds ``prefund`` halves of its debit into the round's escrow; every member who owes
        approves its debit, except (``short``) the first debtor, who is then excluded after the
        deadline (unless its escrow covers it) and the round settles without it. ``left``: the
        round is left collecting (after its obligations, its first debtor's funding) or verified
        (after the funding), to expire or be settled later. ``bonds`` (in a round settled in
        full): the first payment is instead the cash leg of a DvP of that many bonds, entered
        with both parties' signatures, delivered when the round settles (a round whose delivery
        cannot move is left to expire, its instruction locked)."""
        payments = [(p, q, a * USD) for p, q, a in payments if p != q]
        if not payments:
            return
        netting = self.w.market.netting
        functions = netting.contract.functions
        opener = payments[0][0]
        now = self.now()
        cutoff, deadline = now + 600, now + 1_200
        round_id = len(self.m.rounds) + 1
        self.do(
            functions.openRound(cutoff, deadline),
            opener,
            lambda m, now: m.open_netting_round(round_id, opener.address, cutoff, deadline, now),
        )
        if round_id not in self.m.rounds:
            return
        netted = bool(bonds) and not short and left is None
        if netted:
            (payer, payee, amount), payments = payments[0], payments[1:]
            ins, iid = self._instruction(payee, payer, self.w.bond, bonds, amount, deadline + 600 - self.now())
            self.refs += 1
            ref, settlement = self.refs, self.w.market.settlement
            signatures = settlement.sign(payee, ins), settlement.sign(payer, ins)
            self.do(
                functions.enterInstruction(round_id, ins.as_tuple(), *signatures),
                OUTSIDER,
                lambda m, now: m.enter_instruction(round_id, ins, iid, ref, now),
            )
        for payer, payee, amount in payments:
            self.refs += 1
            ob = SignedObligationTerms(round_id, payer.address, payee.address, amount, self.refs)
            oid = "0x" + netting.id_of(ob).hex()
            item = (ob.as_tuple(), netting.sign(payer, ob), netting.sign(payee, ob))
            model_ob = Obligation(payer.address, payee.address, amount, self.refs)
            self.do(
                functions.registerBatch([item]),
                OUTSIDER,
                lambda m, now, o=model_ob, i=oid: m.register_obligation(round_id, o, i, now),
            )
        nets = self.m.rounds[round_id].nets()
        debtors = [a for a in self.m.rounds[round_id].members if nets[a] < 0]
        if prefund and debtors:
            debit = -nets[debtors[0]] * prefund // 2 // USD
            self.fund_netting(self.account_of(debtors[0]), round_id - 1, debit, new_round=False)
        if left == COLLECTING:
            return
        self.do(functions.close(round_id), opener, lambda m, now: m.close_round(round_id, opener.address, now))
        r = self.m.rounds[round_id]
        if not r.members:
            return
        self._submit_nets(round_id)
        if left == VERIFIED:
            return
        skipped = debtors[0] if short and debtors else None
        self._approve_debits(round_id, skip=skipped)
        if skipped is None:
            entered = [o.delivery[0] for o in r.obligations if o.delivery is not None]
            if self.m.deliveries_fail(round_id, self.now()):
                OUTCOMES["netted DvP left to expire (its delivery cannot move)"] += 1
                return
            self.do(
                functions.settle(round_id, [i.as_tuple() for i in entered]),
                OUTSIDER,
                lambda m, now: m.settle_round(round_id, now),
            )
            if entered and self.m.rounds[round_id].stage == SETTLED:
                OUTCOMES["netted DvP settled"] += 1
            return
        # Nobody settles while a member is short; it cannot be excluded before the deadline,
        # nor can a member who is not short, nor the short one leaving an obligation behind.
        self.do(functions.settle(round_id, []), OUTSIDER, lambda m, now: m.settle_round(round_id, now))
        self.do(
            functions.exclude(round_id, skipped, [], []), OUTSIDER, lambda m, now: m.exclude(round_id, skipped, [], now)
        )
        self.jump(max(deadline - self.now() + 2, 1))
        for other in [a for a in r.members if a != skipped and nets[a] >= 0][:1]:
            self.do(
                functions.exclude(round_id, other, [], []),
                OUTSIDER,
                lambda m, now, other=other: m.exclude(round_id, other, [], now),
            )
        mine = [o for o in self.m.rounds[round_id].obligations if not o.removed and skipped in (o.payer, o.payee)]
        for given in (mine[:-1], mine):
            refs = [o.ref for o in given]
            obs = [SignedObligationTerms(round_id, o.payer, o.payee, o.amount, o.ref).as_tuple() for o in given]
            call = functions.exclude(round_id, skipped, obs, [])
            self.do(call, OUTSIDER, lambda m, now, refs=refs: m.exclude(round_id, skipped, refs, now))
        if self.m.rounds[round_id].stage == CLOSED:
            self._submit_nets(round_id)
            self._approve_debits(round_id, skip=None)
        if self.m.rounds[round_id].stage == VERIFIED:
            self.do(functions.settle(round_id, []), OUTSIDER, lambda m, now: m.settle_round(round_id, now))

    def _submit_nets(self, round_id: int) -> None:
        r = self.m.rounds[round_id]
        nets = [r.nets()[a] for a in r.members]
        call = self.w.market.netting.contract.functions.submitNets(round_id, nets)
        self.do(call, OUTSIDER, lambda m, now: m.submit_nets(round_id, nets, now))

    def _approve_debits(self, round_id: int, skip: str | None) -> None:
        netting = self.w.market.netting.address
        nets = self.m.rounds[round_id].nets()
        for member, net in nets.items():
            if member in self.m.rounds[round_id].excluded:
                continue
            amount = 0 if member == skip else max(-net, 0)
            who = self.account_of(member)
            self.do(
                self.w.cash.functions.approve(netting, amount),
                who,
                lambda m, now, a=member, x=amount: m.approve(m.cash, a, netting, x),
            )

    @rule(who=party, index=pick, amount=st.integers(0, 30_000), new_round=st.booleans())
    @counted
    def fund_netting(self, who: LocalAccount, index: int, amount: int, new_round: bool) -> None:
        """``who`` pre-funds ``amount`` dollars (after approving them) into a netting round: one
        it opens (``new_round``, or there is none yet), or any other, of any state (a settled or
        expired one refuses; one in seven times the round after the last, unknown)."""
        netting = self.w.market.netting.contract
        if new_round or not self.m.rounds:
            cutoff, deadline, new_id = self.now() + 600, self.now() + 1_200, len(self.m.rounds) + 1
            self.do(
                netting.functions.openRound(cutoff, deadline),
                who,
                lambda m, now: m.open_netting_round(new_id, who.address, cutoff, deadline, now),
            )
        round_id = index % len(self.m.rounds) + 1 if self.m.rounds and index % 7 else len(self.m.rounds) + 1
        units = amount * USD
        if round_id in self.m.rounds:
            self.do(
                self.w.cash.functions.approve(netting.address, units),
                who,
                lambda m, now: m.approve(m.cash, who.address, netting.address, units),
            )
        self.do(
            netting.functions.fund(round_id, units),
            who,
            lambda m, now: m.fund_netting(round_id, who.address, units, now),
        )

    @rule(index=pick, share=st.integers(1, 5), expire=st.booleans())
    @counted
    def withdraw_netting_funding(self, index: int, share: int, expire: bool) -> None:
        """A member takes back ``share`` quarters of what it may (5: one unit more than it may)
        of its funding of a round; ``expire``: after waiting for an unsettled round to expire."""
        held = [(i, a) for i, r in self.m.rounds.items() for a, x in r.funded.items() if x]
        if not held:
            return
        round_id, member = held[index % len(held)]
        r = self.m.rounds[round_id]
        if expire and r.state(self.now()) not in (SETTLED, EXPIRED):
            self.jump(max(r.deadline + NETTING_EXPIRY - self.w.latest_time() + 2, 1))
        free = self.m.free_funding(round_id, member, self.now())
        amount = free + 1 if share == 5 else free * share // 4
        state = ("collecting", "closed", "verified", "settled", "expired")[r.state(self.now()) - 1]
        before = self.m.rounds[round_id].funded[member]
        self.do(
            self.w.market.netting.contract.functions.withdrawFunding(round_id, amount),
            self.account_of(member),
            lambda m, now: m.withdraw_funding(round_id, member, amount, now),
        )
        if self.m.rounds[round_id].funded[member] < before:
            OUTCOMES[f"escrow withdrawn (round {state})"] += 1

    # ------------------------------------------------------------------ invariants

    @invariant()
    def tokens_conserved_and_held_as_modelled(self) -> None:
        holders = self.w.holders
        for token, t in ((self.w.cash, self.m.cash), (self.w.bond, self.m.bond), (self.w.eur, self.m.eur)):
            words = read_words(self.chain, [(token, "totalSupply", ()), *[(token, "balanceOf", (a,)) for a in holders]])
            supply, balances = words[0], dict(zip(holders, words[1:], strict=True))
            assert t.supply == t.created - t.destroyed, (
                f"{t.name}: a unit was created or destroyed outside mint and burn"
            )
            assert supply == t.supply, f"{t.name}: total supply {supply}, the model {t.supply}"
            assert sum(balances.values()) == supply, f"{t.name}: the holders hold {sum(balances.values())} of {supply}"
            wrong = {a: (balances[a], t.balance(a)) for a in holders if balances[a] != t.balance(a)}
            assert not wrong, f"{t.name} balances (chain, model): {wrong}"

    @invariant()
    def contracts_hold_only_what_they_owe(self) -> None:
        m = self.m
        parties = [p.address for p in PARTIES]
        # Engines: cash == margin accounts + IM of open trades, and the model's accounts add up.
        for name in MARKETS:
            e = m.engines[name]
            engine = self.w.engine(name)
            ids = list(e.trades)
            words = read_words(
                self.chain,
                [
                    (engine, "totalMargin", ()),
                    (engine, "totalInitialMargin", ()),
                    *[(engine, "marginOf", (a,)) for a in parties],
                    *[(engine, "stateOf", (i,)) for i in ids],
                ],
            )
            assert (words[0], words[1]) == (e.total_margin, e.total_im), f"{name}: totals (chain, model)"
            assert dict(zip(parties, words[2:7], strict=True)) == {a: e.margin_of(a) for a in parties}, (
                f"{name}: margins"
            )
            assert words[7:] == [e.trades[i].state for i in ids], f"{name}: trade states"
            assert sum(e.margin.values()) == e.total_margin, f"{name}: margin accounts do not add up"
            open_im = sum(t.buyer_im + t.seller_im for t in e.trades.values() if t.state in (LIVE, MARGIN_CALL))
            assert open_im == e.total_im, f"{name}: IM left the engine outside the lifecycle"
            assert m.cash.balance(e.address) == e.total_margin + e.total_im, f"{name}: the engine holds unowed cash"
        # The fund: at least its assets, its members' balances within one unit each of them.
        f = m.fund
        fund = self.w.market.fund.contract
        words = read_words(
            self.chain,
            [
                (fund, "totalAssets", ()),
                (fund, "totalShares", ()),
                *[(fund, "balanceOf", (a,)) for a in parties],
                *[(fund, "openImOf", (a,)) for a in parties],
            ],
        )
        assert (words[0], words[1]) == (f.assets, f.shares), "fund pool (chain, model)"
        balances = [f.balance_of(a) for a in parties]
        assert words[2:7] == balances, "fund balances (chain, model)"
        assert words[7:] == [f.members[a].open_im for a in parties], "fund open IM (chain, model)"
        assert m.cash.balance(f.address) >= f.assets, "the fund holds less than its members' assets"
        assert f.assets - len(parties) < sum(balances) <= f.assets, (
            f"members' balances {sum(balances)} vs assets {f.assets}"
        )
        # Settlement never holds anything; netting holds only the escrow, as its books say.
        for t in (m.cash, m.bond, m.eur):
            assert t.balance(m.settlement) == 0, f"the settlement contract holds {t.name}"
            escrow = sum(r.escrowed for r in m.rounds.values()) if t is m.cash else 0
            assert t.balance(m.netting) == escrow, f"the netting contract holds {t.name} beyond the escrow"
        netting = self.w.market.netting.contract
        funded = [(i, a) for i, r in m.rounds.items() for a in r.funded]
        # positionOf returns (net, obligations, excluded, funded): funded is the last word.
        words = read_words(self.chain, [(netting, "positionOf", (i, a)) for i, a in funded]) if funded else []
        chain_funded = {key: word % 2**256 for key, word in zip(funded, words, strict=True)}
        assert chain_funded == {(i, a): m.rounds[i].funded[a] for i, a in funded}, "netting escrow (chain, model)"

    @invariant()
    def oracles_as_modelled(self) -> None:
        for name in MARKETS:
            o = self.m.engines[name].oracle
            rid, answer, updated = o.latest
            latest = self.w.oracle(name).functions.latestRoundData().call()
            assert (latest[0], latest[1], latest[3]) == (rid, answer, updated), f"{name}: latest round"

    # ------------------------------------------------------------------ the books, once per example

    def check_books(self) -> None:
        books = dfmi_py.connect(self.w.rpc_url, self.w.deployment.manifest_file)
        positions = books.positions()
        for name in MARKETS:
            rows = positions[positions["market"] == name] if len(positions) else pd.DataFrame()
            e = self.m.engines[name]
            got = {
                int(r.trade_id): (r.state, int(r.buyer_im), int(r.seller_im), int(r.debt)) for r in rows.itertuples()
            }
            names = {
                1: "PROPOSED",
                2: "LIVE",
                3: "MARGIN_CALL",
                4: "DEFAULTED",
                5: "MATURED",
                6: "TERMINATED",
                7: "CANCELLED",
            }
            want = {i: (names[t.state], t.buyer_im, t.seller_im, t.debt) for i, t in e.trades.items()}
            assert got == want, f"{name}: the books' positions disagree with the model"
            exposure = books.exposure(market=name)
            accounts = {r.member: int(r.margin_account) for r in exposure.itertuples()}
            for a, held in e.margin.items():
                assert accounts.get(a, 0) == held, f"{name}: the books' margin account of {a}"
        fund = books.fund()
        for r in fund.itertuples():
            assert int(r.balance) == self.m.fund.balance_of(r.member), f"the books' fund balance of {r.member}"


def test_market_machine(world: World) -> None:
    _WORLD[:] = [world]
    run_state_machine_as_test(
        MarketMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            phases=PHASES,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    if os.environ.get("DFMI_MACHINE_STATS"):
        lines = [f"{count:6d} {outcome}" for outcome, count in sorted(OUTCOMES.items())]
        Path(os.environ["DFMI_MACHINE_STATS"]).write_text("\n".join(lines) + "\n")
