"""The demo: deploy, onboard three members, issue cash, move it, trade forwards, default, show the books.

The three members join the default fund before they trade; Carol's default costs more than her
initial margin, so the fund's waterfall pays the rest (her contribution first, then the others'
pro rata), and Carol, flagged for not replenishing, can no longer open trades. Then a bond is
issued and sold delivery-versus-payment, and a netting round settles the members' payments and a
second DvP's cash leg with only the net cash moving.

The regulator publishes its disclosure key and the compliance officer records each member's
identity (made-up names, valid LEIs) encrypted to it and to the member: the public sees addresses,
the regulator's key opens every identity (``DemoResult.disclosure``).

Also shows the compliance rules biting: a payment to an account that was never onboarded and a
payment from a frozen account are both refused with the contract's named error, and nothing moves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from dfmi_py.api.cash import Cash
from dfmi_py.api.compliance import AccountStatus
from dfmi_py.api.derivatives import Derivatives, Terms
from dfmi_py.api.fund import DefaultFund
from dfmi_py.api.market import Market
from dfmi_py.api.netting import Netting
from dfmi_py.api.waterfall import Waterfall
from dfmi_py.chain.accounts import dev_account
from dfmi_py.deploy.roles import DEV_REPORTER_INDICES, DEV_ROLE_INDEX, FIRST_MEMBER_INDEX
from dfmi_py.errors import ContractRevertError
from dfmi_py.identity.crypto import public_key_of
from dfmi_py.identity.disclosure import Disclosure, Identity
from dfmi_py.identity.keys import account_public_key, dev_disclosure_key
from dfmi_py.node.devnet import advance_time
from dfmi_py.units import to_units

logger = logging.getLogger(__name__)

MEMBER_NAMES = ("Alice", "Bob", "Carol")
#: The members' identities: made up, with LEIs whose check digits verify (ISO 7064 MOD 97-10).
MEMBER_IDENTITIES = {
    "Alice": Identity("Alice Capital Markets Ltd", "DFMI00A1ICE0CAPITA26", "GB"),
    "Bob": Identity("Bob Trading GmbH", "DFMI00B0B0TRADING080", "DE"),
    "Carol": Identity("Carol Securities LLC", "DFMI00CARO1SECURIT67", "US-DE"),
}


@dataclass
class Step:
    """One action of the demo and what it cost."""

    description: str
    gas_used: int | None = None
    rejected_with: str | None = None


@dataclass
class DemoResult:
    """What the demo did and the books at the end."""

    steps: list[Step] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, AccountStatus] = field(default_factory=dict)
    margin: dict[str, int] = field(default_factory=dict)
    claims: dict[int, int] = field(default_factory=dict)
    waterfalls: list[Waterfall] = field(default_factory=list)
    fund_balances: dict[str, int] = field(default_factory=dict)
    #: Bonds each member holds at the end.
    bonds: dict[str, int] = field(default_factory=dict)
    #: The netting round's gross and net value moved.
    compression: tuple[int, int] = (0, 0)
    total_supply: int = 0
    #: The members' identities as the regulator's disclosure key opens them.
    disclosure: Disclosure = field(default_factory=Disclosure)


def run_demo(market: Market, report: Callable[[Step], None] | None = None) -> DemoResult:
    """Run the demo on a freshly deployed devnet market whose roles are the dev accounts.

    Args:
        market: The deployed suite (roles as in :meth:`RoleConfig.devnet`).
        report: Called after every step (the CLI prints them as they happen).
    """
    result = DemoResult()
    officer = dev_account(DEV_ROLE_INDEX["compliance_officer"])
    master_minter = dev_account(DEV_ROLE_INDEX["master_minter"])
    minter = dev_account(DEV_ROLE_INDEX["minter"])
    members = member_accounts()
    stranger = dev_account(FIRST_MEMBER_INDEX + len(MEMBER_NAMES))
    cash = market.cash

    def done(description: str, action: Callable[[], TxReceipt]) -> None:
        step = Step(description, gas_used=int(action()["gasUsed"]))
        result.steps.append(step)
        if report:
            report(step)

    def refused(description: str, action: Callable[[], object]) -> None:
        before = cash.balances([m.address for m in members.values()] + [stranger.address])
        try:
            action()
        except ContractRevertError as exc:
            step = Step(description, rejected_with=str(exc))
        else:  # pragma: no cover - the contracts refuse these; the tests check it
            raise AssertionError(f"{description}: expected a rejection")
        if cash.balances(before) != before:  # pragma: no cover - same
            raise AssertionError(f"{description}: balances moved on a rejected action")
        result.steps.append(step)
        if report:
            report(step)

    unit = cash.decimals
    issuer = dev_account(DEV_ROLE_INDEX["issuer"])
    to_onboard = [
        m for m in (minter, issuer, *members.values()) if market.compliance.status(m.address) is AccountStatus.NONE
    ]
    if to_onboard:
        done(
            f"compliance officer onboards {len(to_onboard)} accounts",
            lambda: market.compliance.onboard(officer, [a.address for a in to_onboard]),
        )
    record_identities(market, members, done)
    done(
        "master minter gives the minter a 10,000,000 allowance",
        lambda: cash.configure_minter(master_minter, minter.address, to_units(10_000_000, unit)),
    )
    done(
        "minter issues 1,000,000 to Alice",
        lambda: cash.mint(minter, members["Alice"].address, to_units(1_000_000, unit)),
    )
    done("minter issues 500,000 to Bob", lambda: cash.mint(minter, members["Bob"].address, to_units(500_000, unit)))
    done(
        "Alice pays Carol 250,000 (Carol's first cash)",
        lambda: cash.transfer(members["Alice"], members["Carol"].address, to_units(250_000, unit)),
    )
    done(
        "Bob pays Alice 125,000.50",
        lambda: cash.transfer(members["Bob"], members["Alice"].address, to_units("125000.50", unit)),
    )
    refused(
        "Alice tries to pay an account that was never onboarded",
        lambda: cash.transfer(members["Alice"], stranger.address, to_units(1, unit)),
    )
    done("compliance officer freezes Carol", lambda: market.compliance.freeze(officer, members["Carol"].address))
    refused(
        "Carol, frozen, tries to pay Bob",
        lambda: cash.transfer(members["Carol"], members["Bob"].address, to_units(1, unit)),
    )
    done("compliance officer unfreezes Carol", lambda: market.compliance.unfreeze(officer, members["Carol"].address))
    done(
        "Carol pays Bob 50,000", lambda: cash.transfer(members["Carol"], members["Bob"].address, to_units(50_000, unit))
    )

    _forwards(market, members, done, refused)
    result.compression = _securities(market, members, issuer, done)

    result.balances = {name: cash.balance_of(account.address) for name, account in members.items()}
    result.margin = {name: market.derivatives.margin_of(account.address) for name, account in members.items()}
    engine = market.derivatives.contract.functions
    result.claims = {
        trade_id: int(engine.unpaidClaimOf(trade_id).call())
        for trade_id in range(1, market.derivatives.trade_count() + 1)
        if engine.unpaidClaimOf(trade_id).call() > 0
    }
    security = market.deployment.security.functions
    result.bonds = {name: int(security.balanceOf(account.address).call()) for name, account in members.items()}
    result.waterfalls = market.waterfalls()
    result.fund_balances = {name: market.fund.balance_of(account.address) for name, account in members.items()}
    result.statuses = {name: market.compliance.status(a.address) for name, a in members.items()}
    result.total_supply = cash.total_supply()
    result.disclosure = market.compliance.disclosure(dev_disclosure_key())
    return result


def record_identities(
    market: Market, members: dict[str, LocalAccount], done: Callable[[str, Callable[[], TxReceipt]], None]
) -> None:
    """The regulator publishes its (devnet) disclosure key; the compliance officer records each
    member's identity encrypted to that key and to the member's own key."""
    regulator = dev_account(DEV_ROLE_INDEX["regulator"])
    officer = dev_account(DEV_ROLE_INDEX["compliance_officer"])
    compliance = market.compliance
    done(
        "the regulator publishes its disclosure key",
        lambda: compliance.publish_regulator_key(regulator, public_key_of(dev_disclosure_key())),
    )
    for name, identity in MEMBER_IDENTITIES.items():
        member = members[name]
        done(
            f"compliance officer records {name}'s identity ({identity.legal_name}), readable by the regulator "
            f"and {name} only",
            _identity_recorder(market, officer, member, identity),
        )


def _identity_recorder(
    market: Market, officer: LocalAccount, member: LocalAccount, identity: Identity
) -> Callable[[], TxReceipt]:
    key = account_public_key(bytes(member.key))
    return lambda: market.compliance.record_identity(officer, member.address, identity, key)


def member_accounts() -> dict[str, LocalAccount]:
    """The demo's members by name."""
    return {name: dev_account(FIRST_MEMBER_INDEX + i) for i, name in enumerate(MEMBER_NAMES)}


def _forwards(
    market: Market,
    members: dict[str, LocalAccount],
    done: Callable[[str, Callable[[], TxReceipt]], None],
    refused: Callable[[str, Callable[[], object]], None],
) -> None:
    """Alice buys a forward from Bob and it is settled to market; Carol defaults on another, and
    the default fund covers what her initial margin did not."""
    derivatives, oracle, cash, fund = market.derivatives, market.oracle, market.cash, market.fund
    alice, bob, carol = members["Alice"], members["Bob"], members["Carol"]
    keeper = dev_account(DEV_ROLE_INDEX["admin"])
    unit, tick = 10**cash.decimals, 10**oracle.decimals

    def post(price: int) -> TxReceipt:
        round_id = oracle.open_round()
        for index in DEV_REPORTER_INDICES:
            receipt = oracle.submit(dev_account(index), price)
            if oracle.open_round() != round_id:
                return receipt
        raise AssertionError("the oracle round did not finalise")

    for name in ("Alice", "Bob", "Carol"):
        done(f"{name} approves the derivative engine", _approver(cash, members[name], derivatives.address))
    for name, amount in (("Alice", 6_000), ("Bob", 6_000), ("Carol", 1_500)):
        done(
            f"{name} joins the default fund with {amount:,} (20% of its IM, at least 1,000)",
            _joiner(fund, members[name], amount * unit),
        )
    done("reporters post ACME at 100.00 (median of 3 of 5)", lambda: post(100 * tick))
    now = market.chain.now()
    forward = Terms(
        alice.address, bob.address, 1_000 * 10**18, 100 * tick, now + 30 * 86_400, 20_000 * unit, 20_000 * unit
    )
    trade: dict[str, int] = {}

    def propose() -> TxReceipt:
        trade["id"] = derivatives.propose(alice, forward)
        assert market.chain.last_receipt is not None
        return market.chain.last_receipt

    done("Alice proposes to buy 1,000 ACME forward from Bob at 100.00, IM 20,000 each", propose)
    done(
        "Bob confirms the same terms: both IMs move into the engine",
        lambda: derivatives.confirm(bob, trade["id"], forward),
    )
    done("ACME rises to 104.00", lambda: post(104 * tick))
    done("a keeper settles: Bob pays Alice 4,000 variation margin", lambda: derivatives.settle(keeper, trade["id"]))
    done("ACME falls to 97.00", lambda: post(97 * tick))
    done("a keeper settles: Alice pays Bob 7,000", lambda: derivatives.settle(keeper, trade["id"]))

    risky = Terms(
        alice.address, carol.address, 1_000 * 10**18, 97 * tick, now + 30 * 86_400, 5_000 * unit, 5_000 * unit
    )
    done("Carol sells Alice 1,000 ACME at 97.00, IM 5,000 each", lambda: _open(derivatives, alice, carol, risky, trade))
    done("Carol withdraws her approval: she will not pay", lambda: cash.approve(carol, derivatives.address, 0))
    done("ACME jumps to 105.00", lambda: post(105 * tick))
    done("settling Carol's trade opens a margin call for 8,000", lambda: derivatives.settle(keeper, trade["risky"]))
    advance_time(market.chain.w3, int(derivatives.contract.functions.curePeriod().call()) + 1)
    done("the cure period passes; ACME still 105.00", lambda: post(105 * tick))
    done(
        "a keeper declares Carol's default: her IM pays Alice 5,000, the fund 3,000 "
        "(Carol's 1,500, then Alice's and Bob's 750 each)",
        lambda: derivatives.declare_default(keeper, trade["risky"]),
    )
    advance_time(market.chain.w3, fund.state().replenishment_window + 1)
    done(
        "Carol does not replenish within a day: a keeper flags her",
        lambda: fund.flag_missed_replenishment(keeper, carol.address),
    )
    again = Terms(carol.address, bob.address, 10 * 10**18, 105 * tick, now + 60 * 86_400, 1_000 * unit, 1_000 * unit)
    refused("Carol, flagged, cannot open a new trade", lambda: _open(derivatives, carol, bob, again, trade))


def _open(
    derivatives: Derivatives, buyer: LocalAccount, seller: LocalAccount, terms: Terms, ids: dict[str, int]
) -> TxReceipt:
    ids["risky"] = derivatives.propose(buyer, terms)
    return derivatives.confirm(seller, ids["risky"], terms)


def _joiner(fund: DefaultFund, member: LocalAccount, amount: int) -> Callable[[], TxReceipt]:
    return lambda: fund.join(member, amount)


def _approver(cash: Cash, owner: LocalAccount, spender: str) -> Callable[[], TxReceipt]:
    return lambda: cash.approve(owner, spender, 2**256 - 1)


def _securities(
    market: Market,
    members: dict[str, LocalAccount],
    issuer: LocalAccount,
    done: Callable[[str, Callable[[], TxReceipt]], None],
) -> tuple[int, int]:
    """A bond issued and sold DvP; a netting round of payments and a DvP; its gross and net value."""
    chain, cash, settlement, netting = market.chain, market.cash, market.settlement, market.netting
    alice, bob, carol = members["Alice"], members["Bob"], members["Carol"]
    keeper = dev_account(DEV_ROLE_INDEX["admin"])
    security = market.deployment.security
    unit = 10**cash.decimals

    def last() -> TxReceipt:
        assert chain.last_receipt is not None
        return chain.last_receipt

    done(
        "the issuer issues 1,000 ACME30 bonds to Bob",
        lambda: chain.transact(security.functions.issue(bob.address, 1_000), issuer),
    )
    done(
        "Bob approves the settlement contract for his bonds",
        lambda: chain.transact(security.functions.approve(settlement.address, 2**256 - 1), bob),
    )
    for name in ("Alice", "Carol"):
        done(
            f"{name} approves the settlement contract for her cash", _approver(cash, members[name], settlement.address)
        )
    sale = settlement.dvp(bob.address, security.address, 100, alice.address, cash.address, 10_000 * unit)
    signed = settlement.signed(sale, bob, alice)

    def settle_sale() -> TxReceipt:
        outcome = settlement.settle(keeper, signed)
        assert outcome.settled, outcome.describe()
        return last()

    done("Bob sells Alice 100 bonds for 10,000: both sign, a keeper settles both legs at once", settle_sale)

    round_ids: list[int] = []

    def open_round() -> TxReceipt:
        round_ids.append(netting.open_round(alice))
        return last()

    done("Alice opens a netting round", open_round)
    payments = [(alice, bob, 4_000), (bob, carol, 5_000), (carol, alice, 3_000)]
    batch = [
        netting.signed_by_both(
            netting.obligation(round_ids[0], payer.address, payee.address, amount * unit), payer, payee
        )
        for payer, payee, amount in payments
    ]
    done(
        "payments agreed by both sides join it: Alice owes Bob 4,000, Bob Carol 5,000, Carol Alice 3,000",
        lambda: netting.register_batch(keeper, batch)[-1],
    )
    # An instruction in a round must stay valid until the round's funding deadline.
    deadline = netting.round(round_ids[0]).deadline
    second = settlement.dvp(
        bob.address, security.address, 50, carol.address, cash.address, 5_000 * unit, deadline=deadline
    )
    done(
        "Bob sells Carol 50 bonds for 5,000 through the round: only the cash leg is netted",
        lambda: (netting.enter_instruction(keeper, round_ids[0], settlement.signed(second, bob, carol)), last())[1],
    )
    done("Alice closes the round", lambda: netting.close(alice, round_ids[0]))
    done("a keeper submits the nets, which the contract verifies", lambda: netting.submit_nets(keeper, round_ids[0]))
    for name in ("Alice", "Carol"):
        done(f"{name} approves her net debit", _netting_approver(netting, members[name], 10_000 * unit))
    done(
        "a keeper settles the round: Alice pays 1,000 net, Carol 3,000, Bob receives 4,000; Carol gets her bonds",
        lambda: netting.settle(keeper, round_ids[0]),
    )
    compression = netting.compression(round_ids[0])
    return compression.gross, compression.net


def _netting_approver(netting: Netting, member: LocalAccount, amount: int) -> Callable[[], TxReceipt]:
    return lambda: netting.approve(member, amount)
