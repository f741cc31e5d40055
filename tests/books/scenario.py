"""A three-market suite for the books' tests, and the steps that fill its books.

Built on the services' world (tests/services/keeper_world.py: three markets, five funded members
in the default fund, each approving every engine, a first price in every market), plus a bond
issued to every member and the settlement contract approved on both tokens. The steps below are
what the books must then account for: trades, price moves and settlements, margin calls and
cures, defaults and the fund's waterfall, DvPs settled and failed, netting rounds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from dfmi_py.api import Terms
from dfmi_py.books import Books
from dfmi_py.chain import dev_account
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT, DEV_ROLE_INDEX
from dfmi_py.netting import Obligation
from dfmi_py.signing.settlement import Instruction
from tests.services.keeper_world import KEEPERS, MARKETS, OFFICER, PARTIES, UNLIMITED, World, start_world

USD = 10**6
ISSUER = dev_account(DEV_ROLE_INDEX["issuer"])
KEEPER = KEEPERS[0]
#: Bonds issued to each member.
BONDS = 1_000


@dataclass
class BooksWorld:
    """The world, and the steps the tests take in it."""

    w: World
    #: Every development account by address (deriving one from the mnemonic takes milliseconds).
    accounts: dict[str, LocalAccount] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"BooksWorld({self.w.node.rpc_url})"

    def post(self, market: str, price: int) -> int:
        """The reporters submit ``price`` (oracle units) until the round is final; its id."""
        if not self.accounts:
            self.accounts.update((a.address, a) for a in map(dev_account, range(DEV_ACCOUNT_COUNT)))
        oracle = self.w.market.markets[market].oracle
        round_id = oracle.open_round()
        for reporter in oracle.reporters():
            oracle.submit(self.accounts[reporter], price)
            if oracle.open_round() != round_id:
                return round_id
        raise AssertionError(f"{market}: round {round_id} did not finalise")

    @property
    def market(self) -> Any:
        return self.w.market

    def books(self, **kwargs: Any) -> Books:
        """A fresh reader of this world's books (an empty cache)."""
        return Books(self.w.market, **kwargs)

    # ------------------------------------------------------------------ derivatives

    def price(self, market: str) -> int:
        return int(self.w.market.markets[market].oracle.latest().answer)

    def trade(
        self,
        market: str,
        buyer: LocalAccount,
        seller: LocalAccount,
        *,
        quantity: int = 10**18,
        im: int = 100 * USD,
        price: int | None = None,
        maturity_in: int = 30 * 86_400,
    ) -> int:
        """A confirmed trade at ``price`` (the latest by default); its id."""
        engine = self.w.market.markets[market].derivatives
        at = self.price(market) if price is None else price
        terms = Terms(buyer.address, seller.address, quantity, at, self.w.chain.now() + maturity_in, im, im)
        trade_id = engine.propose(buyer, terms)
        engine.confirm(seller, trade_id, terms)
        return trade_id

    def move(self, market: str, bps: int) -> int:
        """A new final round ``bps`` basis points from the latest price; its id."""
        return self.post(market, self.price(market) * (10_000 + bps) // 10_000)

    def settle_all(self, market: str) -> None:
        """Settle every open trade of ``market`` to its latest round: one ``settleMany`` of every
        trade (the engine passes over those that are not due)."""
        engine = self.w.market.markets[market].derivatives
        count = engine.trade_count()
        if count:
            self.w.chain.transact(engine.contract.functions.settleMany(list(range(1, count + 1))), KEEPER)

    def stop_paying(self, party: LocalAccount, market: str) -> None:
        self.w.market.cash.approve(party, self.w.market.markets[market].derivatives.address, 0)

    def resume_paying(self, party: LocalAccount, market: str) -> None:
        self.w.market.cash.approve(party, self.w.market.markets[market].derivatives.address, UNLIMITED)

    def cure(self, market: str, trade_id: int) -> None:
        """The debtor of ``trade_id``'s margin call pays it."""
        engine = self.w.market.markets[market].derivatives
        trade = engine.trade(trade_id)
        debtor = trade.buyer if trade.debtor.name == "BUYER" else trade.seller
        account = next(p for p in PARTIES if p.address == debtor)
        self.resume_paying(account, market)
        engine.cure(account, trade_id)

    def default(self, market: str, trade_id: int) -> bool:
        """Let the cure period pass, post a fresh round (same price) and declare the default."""
        engine = self.w.market.markets[market].derivatives
        self.w.advance(engine.cure_period() + 1)
        self.post(market, self.price(market))
        receipt = engine.declare_default(KEEPER, trade_id)
        return any(e.name == "DefaultDeclared" for e in engine.events_in(receipt))

    # ------------------------------------------------------------------ settlement and netting

    def dvp(self, seller: LocalAccount, buyer: LocalAccount, bonds: int, price: int) -> Instruction:
        """A DvP signed by both parties and settled (or failed) by the keeper; the instruction."""
        settlement = self.w.market.settlement
        d = self.w.market.deployment
        instruction = settlement.dvp(seller.address, d.security.address, bonds, buyer.address, d.cash.address, price)
        settlement.settle_batch(KEEPER, [settlement.signed(instruction, seller, buyer)])
        return instruction

    def netting_round(self, payments: list[tuple[LocalAccount, LocalAccount, int]]) -> int:
        """A netting round of ``payments`` (payer, payee, amount), closed, verified and settled."""
        netting = self.w.market.netting
        opener = payments[0][0]
        round_id = netting.open_round(opener)
        batch = [
            netting.signed_by_both(netting.obligation(round_id, p.address, q.address, amount, ref=k), p, q)
            for k, (p, q, amount) in enumerate(payments)
        ]
        netting.register_batch(KEEPER, batch)
        netting.close(opener, round_id)
        netting.submit_nets(KEEPER, round_id)
        for member in {p.address: p for p, _, _ in payments}.values():
            netting.approve(member, sum(a for p, _, a in payments if p is member))
        netting.settle(KEEPER, round_id)
        return round_id

    def obligations(self, round_id: int) -> list[Obligation]:
        return self.w.market.netting.obligations(round_id)


def start(tmp: Path) -> Iterator[BooksWorld]:
    """The world with a bond issued to every member and the settlement contract approved."""
    for w in start_world(tmp):
        market = w.market
        security = market.deployment.security
        settlement = market.settlement.address
        market.compliance.onboard(OFFICER, [ISSUER.address])
        for party in PARTIES:
            w.chain.transact(security.functions.issue(party.address, BONDS), ISSUER)
            w.chain.transact(security.functions.approve(settlement, UNLIMITED), party)
            market.cash.approve(party, settlement, UNLIMITED)
        yield BooksWorld(w)


__all__ = ["KEEPER", "MARKETS", "PARTIES", "USD", "BooksWorld", "start"]
