"""A client that never saw the Python signs from the interfaces' NatSpec alone, and the contracts accept it.

Every contract that verifies EIP-712 signatures documents, in its interface, its domain (name,
version), the exact type strings, how ``bytes`` fields are hashed and the signature encoding. Each
test here writes the typed data as a literal from that NatSpec (no :mod:`dfmi_py.signing`), signs
it with eth_account as any wallet would (``eth_signTypedData_v4``: 65 bytes ``r || s || v``), and
shows the contract accepts it. Each also checks that the interface states the type string the
literal encodes and the domain ``eip712Domain()`` (EIP-5267) returns, so the documentation and the
contracts cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.contract import Contract

from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.roles import DEV_ROLE_INDEX
from dfmi_py.deploy.suite import Deployment
from dfmi_py.paths import CONTRACTS_DIR
from tests.contracts.conftest import FLOOR, IM, QUANTITY, TERM, Linked, Market, State
from tests.helpers import Roles, events

INTERFACES = CONTRACTS_DIR / "interfaces"
USD = 10**6

#: ``EIP712Domain`` as every domain here fills it: name, version, chain id, contract; no salt.
DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

# The types below are copied from the interfaces' NatSpec ("EIP-712" in each header).

AMENDMENT = [
    {"name": "tradeId", "type": "uint256"},
    {"name": "quantity", "type": "uint96"},
    {"name": "maturity", "type": "uint40"},
    {"name": "buyerIm", "type": "uint128"},
    {"name": "sellerIm", "type": "uint128"},
    {"name": "payment", "type": "int256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
TERMINATION = [
    {"name": "tradeId", "type": "uint256"},
    {"name": "payment", "type": "int256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
ACTION = [
    {"name": "kind", "type": "uint8"},
    {"name": "params", "type": "bytes"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
INSTRUCTION = [
    {"name": "partyA", "type": "address"},
    {"name": "tokenA", "type": "address"},
    {"name": "amountA", "type": "uint256"},
    {"name": "partyB", "type": "address"},
    {"name": "tokenB", "type": "address"},
    {"name": "amountB", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
]
OBLIGATION = [
    {"name": "roundId", "type": "uint256"},
    {"name": "payer", "type": "address"},
    {"name": "payee", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "ref", "type": "bytes32"},
]
PERMIT = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
#: ``ActionKind.SetReplenishmentWindow`` (IDefaultFund.sol): params ``abi.encode(uint256 seconds)``.
SET_REPLENISHMENT_WINDOW = 3


def type_string(primary: str, fields: list[dict[str, str]]) -> str:
    """EIP-712 ``encodeType`` of a type that references no other."""
    return f"{primary}(" + ",".join(f"{f['type']} {f['name']}" for f in fields) + ")"


def typed(
    contract: Contract, name: str, version: str, primary: str, fields: list[dict[str, str]], message: dict[str, Any]
) -> dict[str, Any]:
    """The full typed-data message a wallet signs with ``eth_signTypedData_v4``."""
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, primary: fields},
        "primaryType": primary,
        "domain": {
            "name": name,
            "version": version,
            "chainId": contract.w3.eth.chain_id,
            "verifyingContract": contract.address,
        },
        "message": message,
    }


def sign(account: LocalAccount, data: dict[str, Any]) -> bytes:
    """65 bytes ``r || s || v`` (``v`` 27 or 28), as a wallet returns them."""
    signature = bytes(Account.sign_message(encode_typed_data(full_message=data), account.key).signature)
    assert len(signature) == 65
    assert signature[64] in (27, 28)
    return signature


def digest(data: dict[str, Any]) -> bytes:
    """``keccak256("\\x19\\x01" || domainSeparator || hashStruct(message))``."""
    signable = encode_typed_data(full_message=data)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def assert_documented(interface: str, name: str | None, primary: str, fields: list[dict[str, str]]) -> None:
    """The interface's NatSpec states the domain name, version "1" and the exact type string."""
    text = (INTERFACES / interface).read_text()
    assert f"`{type_string(primary, fields)}`" in text, f"{interface} does not state the {primary} type string"
    if name is not None:
        assert f'name "{name}", version "1"' in text, f"{interface} does not state its domain"
    assert "{eip712Domain} (EIP-5267)" in text
    assert " is IERC5267" in text or ", IERC5267 {" in text, f"{interface} does not declare eip712Domain()"


def assert_domain(contract: Contract, name: str, version: str) -> None:
    """``eip712Domain()`` (EIP-5267) reports name, version, this chain and this contract, no salt."""
    fields, got_name, got_version, chain_id, verifying, salt, extensions = contract.functions.eip712Domain().call()
    assert (got_name, got_version, chain_id, verifying) == (name, version, contract.w3.eth.chain_id, contract.address)
    assert fields == b"\x0f", "name, version, chainId and verifyingContract are set; salt is not"
    assert (salt, extensions) == (b"\x00" * 32, [])


# ====================================================================== DerivativeEngine


@pytest.fixture
def live_trade(market: Market, buyer: LocalAccount, seller: LocalAccount) -> int:
    """A typical live trade between the buyer and the seller."""
    trade_id, _ = market.open(buyer, seller)
    return trade_id


def test_an_amendment_signed_from_the_natspec_changes_the_trade(
    chain: Chain, market: Market, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount, live_trade: int
) -> None:
    assert_documented("IDerivativeEngine.sol", "DerivativeEngine", "Amendment", AMENDMENT)
    assert_domain(market.engine, "DerivativeEngine", "1")
    now = market.now()
    amendment = {
        "tradeId": live_trade,
        "quantity": 2 * QUANTITY,
        "maturity": now + 2 * TERM,
        "buyerIm": IM,
        "sellerIm": IM,
        "payment": 0,
        "nonce": 0,
        "deadline": now + 600,
    }
    data = typed(market.engine, "DerivativeEngine", "1", "Amendment", AMENDMENT, amendment)
    as_struct = tuple(amendment[f["name"]] for f in AMENDMENT)

    receipt = chain.transact(market.engine.functions.amend(as_struct, sign(buyer, data), sign(seller, data)), third)

    assert [e["nonce"] for e in events(market.engine, "TradeAmended", receipt)] == [0]
    trade = market.trade(live_trade)
    assert (trade["quantity"], trade["maturity"], trade["nonce"]) == (2 * QUANTITY, now + 2 * TERM, 1)


def test_a_termination_signed_from_the_natspec_ends_the_trade(
    chain: Chain, market: Market, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount, live_trade: int
) -> None:
    assert_documented("IDerivativeEngine.sol", "DerivativeEngine", "Termination", TERMINATION)
    termination = {"tradeId": live_trade, "payment": -25 * USD, "nonce": 0, "deadline": market.now() + 600}
    data = typed(market.engine, "DerivativeEngine", "1", "Termination", TERMINATION, termination)
    buyer_margin = market.margin(buyer)

    receipt = chain.transact(
        market.engine.functions.terminate(
            tuple(termination[f["name"]] for f in TERMINATION), sign(buyer, data), sign(seller, data)
        ),
        third,
    )

    assert events(market.engine, "TradeTerminated", receipt) == [
        {"tradeId": live_trade, "nonce": 0, "payment": -25 * USD}
    ]
    assert market.state(live_trade) == State.TERMINATED
    # The seller paid the buyer 25 (a negative payment); the buyer's IM came back to its margin account.
    assert market.margin(buyer) == buyer_margin + IM + 25 * USD


# ====================================================================== DefaultFund


def test_an_action_approved_from_the_natspec_executes(linked: Linked, members: tuple[LocalAccount, ...]) -> None:
    assert_documented("IDefaultFund.sol", "DefaultFund", "Action", ACTION)
    fund = linked.contract
    assert_domain(fund, "DefaultFund", "1")
    first, second = members[:2]
    for member in (first, second):
        linked.join(member, FLOOR)
    params = abi_encode(["uint256"], [7_200])
    action = {
        "kind": SET_REPLENISHMENT_WINDOW,
        "params": params,
        "nonce": fund.functions.nonce().call(),
        "deadline": linked.market.now() + 600,
    }
    data = typed(fund, "DefaultFund", "1", "Action", ACTION, action)
    as_struct = (action["kind"], params, action["nonce"], action["deadline"])
    assert fund.functions.hashAction(as_struct).call() == digest(data)
    approvals = sorted(((m.address, sign(m, data)) for m in (first, second)), key=lambda a: int(a[0], 16))

    linked.market.chain.transact(fund.functions.execute(as_struct, approvals), linked.roles.outsider)

    assert fund.functions.replenishmentWindow().call() == 7_200
    assert fund.functions.nonce().call() == action["nonce"] + 1


# ====================================================================== AtomicSettlement and NettingEngine


@pytest.fixture
def parties(chain: Chain, deployment: Deployment, roles: Roles) -> tuple[LocalAccount, LocalAccount]:
    """A seller holding 100 shares of the suite's security and a buyer holding 10,000 cash, both
    having approved the settlement contract; the issuer and the settlement contract onboarded."""
    seller, buyer = roles.members[:2]
    registry, security, cash, settlement = (
        deployment.registry, deployment.security, deployment.cash, deployment.settlement,
    )  # fmt: skip
    issuer = dev_account(DEV_ROLE_INDEX["issuer"])
    for account in (issuer.address, settlement.address):
        if registry.functions.statusOf(account).call() == 0:
            chain.transact(registry.functions.onboard(account), roles.officer)
    chain.transact(security.functions.issue(seller.address, 100), issuer)
    chain.transact(cash.functions.mint(buyer.address, 10_000 * USD), roles.minter)
    chain.transact(security.functions.approve(settlement.address, 100), seller)
    chain.transact(cash.functions.approve(settlement.address, 10_000 * USD), buyer)
    return seller, buyer


def test_an_instruction_signed_from_the_natspec_settles(
    chain: Chain, deployment: Deployment, roles: Roles, parties: tuple[LocalAccount, LocalAccount]
) -> None:
    assert_documented("IAtomicSettlement.sol", "AtomicSettlement", "Instruction", INSTRUCTION)
    settlement, security, cash = deployment.settlement, deployment.security, deployment.cash
    assert_domain(settlement, "AtomicSettlement", "1")
    seller, buyer = parties
    instruction = {
        "partyA": seller.address,
        "tokenA": security.address,
        "amountA": 40,
        "partyB": buyer.address,
        "tokenB": cash.address,
        "amountB": 4_321 * USD,
        "deadline": int(chain.w3.eth.get_block("latest")["timestamp"]) + 600,
        "nonce": 0,
    }
    data = typed(settlement, "AtomicSettlement", "1", "Instruction", INSTRUCTION, instruction)
    as_struct = tuple(instruction[f["name"]] for f in INSTRUCTION)
    assert settlement.functions.hashInstruction(as_struct).call() == digest(data), "the id is the digest"

    chain.transact(settlement.functions.settle(as_struct, sign(seller, data), sign(buyer, data)), roles.members[2])

    assert [security.functions.balanceOf(p.address).call() for p in (seller, buyer)] == [60, 40]
    assert [cash.functions.balanceOf(p.address).call() for p in (seller, buyer)] == [4_321 * USD, 5_679 * USD]


def test_an_obligation_signed_from_the_natspec_is_registered(
    chain: Chain, deployment: Deployment, roles: Roles
) -> None:
    assert_documented("INetting.sol", "NettingEngine", "Obligation", OBLIGATION)
    netting = deployment.netting
    assert_domain(netting, "NettingEngine", "1")
    payer, payee, sender = roles.members[:3]
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    chain.transact(netting.functions.openRound(now + 600, now + 1_200), payer)
    round_id = netting.functions.roundCount().call()
    obligation = {
        "roundId": round_id,
        "payer": payer.address,
        "payee": payee.address,
        "amount": 40 * USD,
        "ref": b"invoice 2026-117".ljust(32, b"\x00"),
    }
    data = typed(netting, "NettingEngine", "1", "Obligation", OBLIGATION, obligation)
    as_struct = tuple(obligation[f["name"]] for f in OBLIGATION)
    obligation_id = netting.functions.hashObligation(as_struct).call()
    assert obligation_id == digest(data), "the id is the digest"

    chain.transact(netting.functions.register(as_struct, sign(payer, data), sign(payee, data)), sender)

    assert netting.functions.obligationStateOf(obligation_id).call() == 1  # ObligationState.Registered
    assert [netting.functions.positionOf(round_id, p.address).call()[0] for p in (payer, payee)] == [
        -40 * USD,
        40 * USD,
    ]


# ====================================================================== the tokens (EIP-2612)


@pytest.mark.parametrize("token_name", ["cash", "security"])
def test_a_permit_signed_from_the_natspec_sets_the_allowance(
    chain: Chain, deployment: Deployment, roles: Roles, token_name: str
) -> None:
    assert_documented("ICompliantToken.sol", None, "Permit", PERMIT)
    token = getattr(deployment, token_name)
    name = token.functions.name().call()
    assert_domain(token, name, "1")
    owner, spender, sender = roles.members[:3]
    permit = {
        "owner": owner.address,
        "spender": spender.address,
        "value": 1_234,
        "nonce": token.functions.nonces(owner.address).call(),
        "deadline": int(chain.w3.eth.get_block("latest")["timestamp"]) + 600,
    }
    data = typed(token, name, "1", "Permit", PERMIT, permit)
    assert token.functions.DOMAIN_SEPARATOR().call() == encode_typed_data(full_message=data).header
    signature = sign(owner, data)
    r, s, v = signature[:32], signature[32:64], signature[64]

    chain.transact(token.functions.permit(owner.address, spender.address, 1_234, permit["deadline"], v, r, s), sender)

    assert token.functions.allowance(owner.address, spender.address).call() == 1_234
    assert token.functions.nonces(owner.address).call() == permit["nonce"] + 1
