"""Fixtures of the settlement tests: a security token and a settlement contract on the session's
registry and cash, and a second cash token for PvP.

For the tests that ask for it (kept on the chain between them by :class:`SetupCache`), :func:`world` deploys
a ``SecurityToken`` (whole shares, 0 decimals) and an ``AtomicSettlement``, subscribes the token
to the registry, onboards the issuer (development account 19) and the settlement contract, and
gives the first :data:`FUNDED` members :data:`SHARES` shares and :data:`CASH` of the session's
cash, with both tokens approved to the settlement contract without limit. The :func:`eur` fixture
adds a second ``CashToken`` ("EUR") the same way, for PvP: the suite deploys one cash token, so
PvP tests deploy their own second one.

The keeper that sends settlements is the outsider (development account 15): it was never
onboarded, which is fine, because the settlement contract (onboarded) is the tokens' spender.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from dfmi_py.api.settlement import InstructionState
from dfmi_py.chain import Chain, dev_account
from dfmi_py.signing import Domain
from dfmi_py.signing.settlement import Instruction, sign_instruction
from tests.contracts.conftest import send_setup
from tests.helpers import MAX_UINT256, Roles, SetupCache, call_at, events, read_words

#: Development account of the security's issuer (free in the base scenario).
ISSUER_INDEX = 19
USD = 10**6
#: Members 0..FUNDED-1 hold shares and cash and have approved the settlement contract.
FUNDED = 4
SHARES = 10_000
CASH = 10_000_000 * USD
#: A typical trade: 100 shares for 12,345.67 USD.
QUANTITY = 100
PRICE = 12_345_670_000
#: Seconds a typical instruction stays valid.
TTL = 3600
#: The settlement contract's netting contract in these tests: none.
NO_NETTING = "0x" + "00" * 20

State = InstructionState


@dataclass
class World:
    """The settlement contract, its tokens, and the operations tests repeat."""

    chain: Chain
    roles: Roles
    registry: Contract
    usd: Contract
    security: Contract
    settlement: Contract
    issuer: LocalAccount

    @property
    def keeper(self) -> LocalAccount:
        """Sends settlements for others: the outsider, never onboarded."""
        return self.roles.outsider

    @property
    def seller(self) -> LocalAccount:
        """Member 0: party A of the typical DvP (delivers the security)."""
        return self.roles.members[0]

    @property
    def buyer(self) -> LocalAccount:
        """Member 1: party B of the typical DvP (pays the cash)."""
        return self.roles.members[1]

    # ------------------------------------------------------------------ time

    def now(self) -> int:
        """Timestamp of the latest block."""
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Move the chain's clock ``seconds`` forward and mine a block there."""
        self.chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    # ------------------------------------------------------------------ instructions

    def dvp(
        self,
        seller: LocalAccount | None = None,
        buyer: LocalAccount | None = None,
        *,
        quantity: int = QUANTITY,
        price: int = PRICE,
        nonce: int = 0,
        deadline: int | None = None,
    ) -> Instruction:
        """``seller`` delivers ``quantity`` shares to ``buyer`` against ``price`` USD."""
        seller = seller or self.seller
        buyer = buyer or self.buyer
        return Instruction(
            seller.address,
            self.security.address,
            quantity,
            buyer.address,
            self.usd.address,
            price,
            self.now() + TTL if deadline is None else deadline,
            nonce,
        )

    def domain(self, *, chain_id: int | None = None, verifying_contract: str | None = None) -> Domain:
        """The settlement contract's EIP-712 domain, or a forged one."""
        return Domain(
            "AtomicSettlement",
            "1",
            self.chain.chain_id if chain_id is None else chain_id,
            verifying_contract or self.settlement.address,
        )

    def sign(self, signer: LocalAccount, instruction: Instruction, domain: Domain | None = None) -> bytes:
        """``signer``'s packed EIP-712 signature of ``instruction``."""
        return sign_instruction(signer, domain or self.domain(), instruction).packed()

    def signatures(self, instruction: Instruction) -> tuple[bytes, bytes]:
        """Both parties' signatures (the parties must be among the development accounts used here)."""
        return (
            self.sign(self._account(instruction.party_a), instruction),
            self.sign(self._account(instruction.party_b), instruction),
        )

    def _account(self, address: str) -> LocalAccount:
        for account in (*self.roles.members, *self.roles.newcomers, self.roles.outsider, self.issuer):
            if account.address == address:
                return account
        raise AssertionError(f"no test key for {address}")

    # ------------------------------------------------------------------ settlement

    def settle(
        self,
        instruction: Instruction,
        signature_a: bytes | None = None,
        signature_b: bytes | None = None,
        sender: LocalAccount | None = None,
    ) -> TxReceipt:
        """Settle ``instruction`` with both parties' signatures (by default), sent by the keeper."""
        if signature_a is None or signature_b is None:
            own_a, own_b = self.signatures(instruction)
            signature_a = own_a if signature_a is None else signature_a
            signature_b = own_b if signature_b is None else signature_b
        call = self.settlement.functions.settle(instruction.as_tuple(), signature_a, signature_b)
        return self.chain.transact(call, sender or self.keeper)

    def settle_batch(
        self, items: Sequence[tuple[Instruction, bytes, bytes]], sender: LocalAccount | None = None
    ) -> TxReceipt:
        """Send ``settleBatch`` with ``(instruction, signatureA, signatureB)`` items."""
        batch = [(ins.as_tuple(), sig_a, sig_b) for ins, sig_a, sig_b in items]
        return self.chain.transact(self.settlement.functions.settleBatch(batch), sender or self.keeper)

    def signed(self, instruction: Instruction) -> tuple[Instruction, bytes, bytes]:
        """A batch item with both parties' signatures."""
        return (instruction, *self.signatures(instruction))

    def propose(self, instruction: Instruction, proposer: LocalAccount) -> TxReceipt:
        """``proposer`` records its consent on-chain."""
        return self.chain.transact(self.settlement.functions.propose(instruction.as_tuple()), proposer)

    def affirm(self, instruction: Instruction, affirmer: LocalAccount) -> TxReceipt:
        """``affirmer`` records its consent and tries to settle."""
        return self.chain.transact(self.settlement.functions.affirm(instruction.as_tuple()), affirmer)

    def cancel(self, instruction: Instruction, party: LocalAccount) -> TxReceipt:
        """``party`` cancels ``instruction``."""
        return self.chain.transact(self.settlement.functions.cancel(instruction.as_tuple()), party)

    def simulate(self, call: ContractFunction, sender: LocalAccount, at: int) -> bytes:
        """Run ``call`` on the latest state as if the block's timestamp were ``at`` (exact boundaries)."""
        return call_at(self.chain, call, sender.address, at)

    # ------------------------------------------------------------------ reads

    def state(self, instruction: Instruction) -> State:
        """The instruction's state."""
        return State(self.settlement.functions.stateOf(instruction.as_tuple()).call())

    def id_of(self, instruction: Instruction) -> bytes:
        """The instruction's id, as the contract computes it."""
        return bytes(self.settlement.functions.hashInstruction(instruction.as_tuple()).call())

    def books(self, tokens: Sequence[Contract], accounts: Sequence[LocalAccount | str]) -> dict[str, int]:
        """Every balance of ``accounts`` and of the settlement contract, and each token's supply."""
        holders = [a if isinstance(a, str) else a.address for a in accounts] + [self.settlement.address]
        calls: list[tuple[Contract, str, tuple[Any, ...]]] = []
        keys = []
        for token in tokens:
            symbol = token.functions.symbol().call()
            calls.append((token, "totalSupply", ()))
            keys.append(f"{symbol}:supply")
            for holder in holders:
                calls.append((token, "balanceOf", (holder,)))
                keys.append(f"{symbol}:{holder}")
        return dict(zip(keys, read_words(self.chain, calls), strict=True))

    def balance(self, token: Contract, account: LocalAccount | str) -> int:
        """``account``'s balance of ``token``."""
        return int(token.functions.balanceOf(account if isinstance(account, str) else account.address).call())

    def outcomes(self, receipt: TxReceipt) -> list[tuple[bytes, bool, bytes]]:
        """``(id, settled, reason)`` per instruction the transaction tried, in log order."""
        found = [(log, True) for log in self._logs("InstructionSettled", receipt)]
        found += [(log, False) for log in self._logs("SettlementFailed", receipt)]
        found.sort(key=lambda pair: pair[0]["logIndex"])
        return [(bytes(log["args"]["id"]), ok, b"" if ok else bytes(log["args"]["reason"])) for log, ok in found]

    def _logs(self, name: str, receipt: TxReceipt) -> list[Any]:
        logs = self.settlement.events[name]().process_receipt(receipt, errors=DISCARD)
        return [log for log in logs if log["address"] == self.settlement.address]

    def decode(self, reason: bytes) -> tuple[str, dict[str, Any]]:
        """A failure reason decoded by the project's custom errors."""
        decoded = self.chain.decode_error_data("0x" + reason.hex())
        assert decoded is not None, f"undecodable reason 0x{reason.hex()}"
        return decoded

    def transfers(self, token: Contract, receipt: TxReceipt) -> list[tuple[str, str, int]]:
        """``(from, to, value)`` of every ``Transfer`` of ``token`` in ``receipt``."""
        return [(e["from"], e["to"], e["value"]) for e in events(token, "Transfer", receipt)]


def deploy(chain: Chain, roles: Roles, name: str, args: Sequence[Any]) -> Contract:
    """Deploy ``name`` with ``args`` from the admin (fixed gas, no estimate)."""
    artifact = chain.artifacts[name]
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    (receipt,) = send_setup(chain, [(factory.constructor(*args), roles.admin)])
    return chain.contract(name, str(receipt["contractAddress"]))


def funded_accounts(roles: Roles) -> tuple[LocalAccount, ...]:
    """The members that hold shares and cash."""
    return roles.members[:FUNDED]


@pytest.fixture
def issuer() -> LocalAccount:
    """The security's issuer."""
    return dev_account(ISSUER_INDEX)


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    setup_cache: SetupCache,
    chain: Chain,
    roles: Roles,
    registry: Contract,
    cash: Contract,
    issuer: LocalAccount,
) -> World:
    """A fresh security token and settlement contract; the first members funded and approved (set
    up once and kept for the next test that asks for it: :class:`SetupCache`)."""
    return setup_cache.setup(request, lambda: _set_up_world(chain, roles, registry, cash, issuer))


def _set_up_world(chain: Chain, roles: Roles, registry: Contract, cash: Contract, issuer: LocalAccount) -> World:
    security = deploy(
        chain, roles, "SecurityToken", ["ACME 5% 2030", "ACME30", 0, registry.address, roles.admin.address]
    )
    settlement = deploy(chain, roles, "AtomicSettlement", [NO_NETTING])
    issuer_role = security.functions.ISSUER_ROLE().call()
    pauser_role = security.functions.PAUSER_ROLE().call()
    calls: list[tuple[Any, LocalAccount]] = [
        (registry.functions.addSubscriber(security.address), roles.admin),
        (security.functions.grantRole(issuer_role, issuer.address), roles.admin),
        (security.functions.grantRole(pauser_role, roles.pauser.address), roles.admin),
        (registry.functions.onboard(issuer.address), roles.officer),
        (registry.functions.onboard(settlement.address), roles.officer),
    ]
    # Accounts onboarded before the token subscribed: copy their status into its mirror.
    calls += [(security.functions.syncCompliance(m.address), roles.admin) for m in roles.members]
    for member in funded_accounts(roles):
        calls += [
            (security.functions.issue(member.address, SHARES), issuer),
            (cash.functions.mint(member.address, CASH), roles.minter),
            (security.functions.approve(settlement.address, MAX_UINT256), member),
            (cash.functions.approve(settlement.address, MAX_UINT256), member),
        ]
    send_setup(chain, calls)
    return World(chain, roles, registry, cash, security, settlement, issuer)


@pytest.fixture
def eur(
    request: pytest.FixtureRequest,
    setup_cache: SetupCache,
    chain: Chain,
    roles: Roles,
    registry: Contract,
    world: World,
) -> Contract:
    """A second cash token ("EUR") for PvP: funded members hold :data:`CASH` of it, approved (kept
    between tests as :func:`world`)."""
    return setup_cache.setup(request, lambda: _set_up_eur(chain, roles, registry, world))


def _set_up_eur(chain: Chain, roles: Roles, registry: Contract, world: World) -> Contract:
    token = deploy(
        chain, roles, "CashToken", ["Digital Settlement Euro", "DSE", 6, registry.address, roles.admin.address]
    )
    master_role = token.functions.MASTER_MINTER_ROLE().call()
    pauser_role = token.functions.PAUSER_ROLE().call()
    calls: list[tuple[Any, LocalAccount]] = [
        (registry.functions.addSubscriber(token.address), roles.admin),
        (token.functions.grantRole(master_role, roles.master_minter.address), roles.admin),
        (token.functions.grantRole(pauser_role, roles.pauser.address), roles.admin),
        (token.functions.syncCompliance(roles.minter.address), roles.admin),
        (token.functions.syncCompliance(world.settlement.address), roles.admin),
        (token.functions.configureMinter(roles.minter.address, 10 * FUNDED * CASH), roles.master_minter),
    ]
    calls += [(token.functions.syncCompliance(m.address), roles.admin) for m in roles.members]
    for member in funded_accounts(roles):
        calls += [
            (token.functions.mint(member.address, CASH), roles.minter),
            (token.functions.approve(world.settlement.address, MAX_UINT256), member),
        ]
    send_setup(chain, calls)
    return token


@pytest.fixture
def books(world: World) -> Callable[..., dict[str, int]]:
    """``books(*extra_tokens)``: balances of every funded member, the newcomers and the contract."""

    def _books(*extra: Contract) -> dict[str, int]:
        accounts = [*world.roles.members, *world.roles.newcomers, world.roles.outsider]
        return world.books([world.security, world.usd, *extra], accounts)

    return _books
