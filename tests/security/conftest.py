"""Fixtures of the security tests: the whole suite of the session in use, with someone in every role.

:func:`world` sets up, once per worker (:class:`SetupCache` keeps it between the tests that ask for
it), on the session's deployment (every contract the deploy command makes, every role of
:meth:`RoleConfig.devnet`):

- the officer onboards what the session's deployment leaves to it: the engine, the fund, the
  settlement and the netting contracts, and the issuer;
- the buyer (member 0), the seller (member 1) and a third member (member 2) hold cash; the buyer
  holds shares of the security; all three approved the engine, the fund, the settlement and the
  netting contracts without limit, and the buyer the settlement contract on the security;
- buyer and seller joined the default fund with :data:`JOIN`;
- the first market's oracle has one final round at :data:`PRICE` (three reporters);
- trade 1 is live between buyer and seller (:data:`IM` each), trade 2 is proposed by the buyer;
- the buyer holds :data:`MARGIN` in its engine margin account;
- netting round 1, opened by the buyer, is collecting, and the buyer pre-funded :data:`ESCROW`;
- :data:`World.instruction` (the buyer delivers one share to the seller for one cash unit) is
  pending, and both parties signed it.

Callers: every role holder of the base scenario, the issuer and a reporter, the buyer and the
seller (the parties of everything above), a member with no part in it, and the outsider (never
onboarded). Contracts that are callers of each other (the registry, an engine, the netting and the
settlement contracts) appear as pseudo-callers: only an ``eth_call`` can speak for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.roles import DEV_REPORTER_INDICES, DEV_ROLE_INDEX
from dfmi_py.deploy.suite import Deployment
from dfmi_py.netting.obligation import Obligation, sign_obligation
from dfmi_py.signing import Domain
from dfmi_py.signing.settlement import Instruction, instruction_id, sign_instruction
from tests.contracts.conftest import send_setup
from tests.helpers import MAX_UINT256, Roles, SetupCache
from tests.security.attack_world import aggregator as aggregator
from tests.security.attack_world import buyer as buyer
from tests.security.attack_world import dvp as dvp
from tests.security.attack_world import dvp_world as dvp_world
from tests.security.attack_world import engine as engine
from tests.security.attack_world import fund_and_approve as fund_and_approve
from tests.security.attack_world import fund_world as fund_world
from tests.security.attack_world import issuer as issuer
from tests.security.attack_world import market as market
from tests.security.attack_world import netting_world as netting_world
from tests.security.attack_world import rogue_clearing as rogue_clearing
from tests.security.attack_world import rogue_market as rogue_market
from tests.security.attack_world import security as security
from tests.security.attack_world import seller as seller
from tests.security.attack_world import third as third

USD = 10**6
#: Cash each of the three funded members starts with.
FUNDS = 1_000_000 * USD
#: Shares of the security the buyer holds.
SHARES = 1_000
#: What buyer and seller put in the default fund.
JOIN = 50_000 * USD
#: Each party's initial margin on trade 1 and trade 2.
IM = 5_000 * USD
#: The buyer's free margin in the engine.
MARGIN = 1_000 * USD
#: The buyer's pre-funding of netting round 1.
ESCROW = 5 * USD
#: The trades' quantity (18 decimals) and the oracle's first price (8 decimals).
QUANTITY = 10 * 10**18
PRICE = 2_000 * 10**8
#: A day, and thirty.
DAY = 86_400
TERM = 30 * DAY

#: Callers that sign: role holders, issuer, reporter, parties, a bystanding member, the outsider.
CALLERS = (
    "admin",
    "officer",
    "regulator",
    "master_minter",
    "minter",
    "burner",
    "pauser",
    "issuer",
    "reporter",
    "buyer",
    "seller",
    "member",
    "outsider",
)
#: Contracts that call other contracts of the suite; only an ``eth_call`` from their address speaks for them.
PSEUDO_CALLERS = ("registry", "engine", "settlement", "netting")


def terms_tuple(buyer: str, seller: str, maturity: int, salt: int) -> tuple[Any, ...]:
    """Terms of a typical trade (:data:`QUANTITY` at :data:`PRICE`, :data:`IM` each)."""
    return (buyer, seller, QUANTITY, PRICE, maturity, IM, IM, salt.to_bytes(32, "big"))


@dataclass
class World:
    """The session's suite with someone in every role; see the module's docstring."""

    chain: Chain
    deployment: Deployment
    accounts: dict[str, LocalAccount]
    contracts: dict[str, Contract]
    start: int
    live_trade: int
    proposed_trade: int
    proposed_terms: tuple[Any, ...]
    round_id: int
    instruction: Instruction
    signature_a: bytes
    signature_b: bytes
    extra: dict[str, Any] = field(default_factory=dict)

    def address(self, caller: str) -> str:
        """The address of ``caller``: an account's, or a pseudo-caller's contract."""
        if caller in self.accounts:
            return str(self.accounts[caller].address)
        return str(self.contracts[caller].address)

    @property
    def buyer(self) -> LocalAccount:
        return self.accounts["buyer"]

    @property
    def seller(self) -> LocalAccount:
        return self.accounts["seller"]

    def settlement_domain(self) -> Domain:
        return Domain("AtomicSettlement", "1", self.chain.chain_id, self.contracts["settlement"].address)

    def netting_domain(self) -> Domain:
        return Domain("NettingEngine", "1", self.chain.chain_id, self.contracts["netting"].address)

    def instruction_id(self) -> bytes:
        return instruction_id(self.settlement_domain(), self.instruction)

    def obligation(self, amount: int, ref: int, payer: str = "buyer", payee: str = "seller") -> Obligation:
        """An obligation of round 1."""
        return Obligation(self.round_id, self.address(payer), self.address(payee), amount, ref.to_bytes(32, "big"))

    def sign_obligation(self, signer: str, obligation: Obligation) -> bytes:
        return sign_obligation(self.accounts[signer], self.netting_domain(), obligation).packed()


def _accounts(roles: Roles) -> dict[str, LocalAccount]:
    return {
        "admin": roles.admin,
        "officer": roles.officer,
        "regulator": roles.regulator,
        "master_minter": roles.master_minter,
        "minter": roles.minter,
        "burner": roles.burner,
        "pauser": roles.pauser,
        "issuer": dev_account(DEV_ROLE_INDEX["issuer"]),
        "reporter": dev_account(DEV_REPORTER_INDICES[0]),
        "buyer": roles.members[0],
        "seller": roles.members[1],
        "member": roles.members[2],
        "outsider": roles.outsider,
    }


def _build(chain: Chain, deployment: Deployment, roles: Roles) -> World:
    accounts = _accounts(roles)
    contracts = {
        "registry": deployment.registry,
        "cash": deployment.cash,
        "security": deployment.security,
        "oracle": deployment.oracle,
        "engine": deployment.engine,
        "fund": deployment.fund,
        "settlement": deployment.settlement,
        "netting": deployment.netting,
    }
    cash, security, engine = contracts["cash"], contracts["security"], contracts["engine"]
    fund, settlement, netting, oracle = (
        contracts["fund"],
        contracts["settlement"],
        contracts["netting"],
        contracts["oracle"],
    )
    buyer, seller, third = accounts["buyer"], accounts["seller"], accounts["member"]
    start = int(chain.w3.eth.get_block("latest")["timestamp"])
    system = [c.address for c in (engine, fund, settlement, netting)]
    calls: list[tuple[Any, LocalAccount]] = [
        (deployment.registry.functions.onboardBatch([*system, accounts["issuer"].address]), roles.officer)
    ]
    calls += [(cash.functions.mint(m.address, FUNDS), roles.minter) for m in (buyer, seller, third)]
    calls.append((security.functions.issue(buyer.address, SHARES), accounts["issuer"]))
    for member in (buyer, seller, third):
        calls += [(cash.functions.approve(c.address, MAX_UINT256), member) for c in (engine, fund, settlement, netting)]
    calls.append((security.functions.approve(settlement.address, MAX_UINT256), buyer))
    calls += [(fund.functions.join(JOIN), m) for m in (buyer, seller)]
    calls += [(oracle.functions.submit(1, PRICE), dev_account(i)) for i in DEV_REPORTER_INDICES[:3]]
    live = terms_tuple(buyer.address, seller.address, start + TERM, 1)
    proposed = terms_tuple(buyer.address, seller.address, start + TERM, 2)
    calls += [
        (engine.functions.propose(live), buyer),
        (engine.functions.confirm(1, live), seller),
        (engine.functions.propose(proposed), buyer),
        (engine.functions.depositMargin(MARGIN), buyer),
        (netting.functions.openRound(start + DAY, start + 2 * DAY), buyer),
        (netting.functions.fund(1, ESCROW), buyer),
    ]
    send_setup(chain, calls)
    assert engine.functions.tradeCount().call() == 2
    assert netting.functions.roundCount().call() == 1
    instruction = Instruction(buyer.address, security.address, 1, seller.address, cash.address, 1, start + 10 * DAY, 1)
    world = World(chain, deployment, accounts, contracts, start, 1, 2, proposed, 1, instruction, b"", b"")
    domain = world.settlement_domain()
    world.signature_a = sign_instruction(buyer, domain, instruction).packed()
    world.signature_b = sign_instruction(seller, domain, instruction).packed()
    return world


@pytest.fixture
def world(
    request: pytest.FixtureRequest, setup_cache: SetupCache, chain: Chain, deployment: Deployment, roles: Roles
) -> World:
    """The session's suite with someone in every role (see the module's docstring)."""
    return setup_cache.setup(request, lambda: _build(chain, deployment, roles))
