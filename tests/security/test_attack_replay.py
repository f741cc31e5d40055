"""Signature replay: across chains, contracts, objects (trades, actions, instructions,
obligations, rounds) and nonces, for every EIP-712 message the contracts verify.

:data:`REPLAYS` lists, for every signed message, the test that replays it along each of the four
lines; :func:`test_every_signed_message_of_the_abis_is_in_the_table` holds the table to the
compiled ABIs (every ``*_TYPEHASH`` constant, and every token with ``permit``). What existing
tests already prove is referenced, not repeated; this module attacks the rest. Every replay
fails with the contract's own error and moves nothing; a permit the toolkit is asked to submit
twice is reported as already used, not as a wrong signer.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from dfmi_py.api.token import CompliantToken
from dfmi_py.chain import Chain
from dfmi_py.errors import DfmiError
from dfmi_py.netting import Obligation
from dfmi_py.netting.obligation import sign_obligation
from dfmi_py.signing import Domain
from dfmi_py.signing.fund import ActionKind, sign_action
from tests.contracts.conftest import (
    IM,
    QUANTITY,
    Market,
    amendment_tuple,
    deploy_quickly,
    send_setup,
    termination_tuple,
)
from tests.fund.conftest import FundWorld, deploy_fund
from tests.helpers import MAX_UINT256, PermitDomain, Roles, expect_revert, latest_timestamp, leaves_unchanged
from tests.netting.conftest import NO_SETTLEMENT, NettingWorld

ENGINE = "tests.contracts.test_derivative_security"
DVP = "tests.settlement.test_dvp_security"
CASH = "tests.contracts.test_cash_token"
FUND = "tests.fund.test_fund_governance"
HERE = "tests.security.test_attack_replay"

#: Every signed message (contract, typed-data struct) and the test replaying it along each line.
REPLAYS: dict[tuple[str, str], dict[str, str]] = {
    ("DerivativeEngine", "Amendment"): {
        "chain": f"{HERE}::test_an_amendment_or_termination_signed_for_another_chain_does_not_verify",
        "contract": f"{ENGINE}::test_an_amendment_binds_one_trade_one_engine_and_one_nonce",
        "object": f"{ENGINE}::test_an_amendment_binds_one_trade_one_engine_and_one_nonce",
        "nonce": f"{ENGINE}::test_an_amendment_binds_one_trade_one_engine_and_one_nonce",
    },
    ("DerivativeEngine", "Termination"): {
        "chain": f"{HERE}::test_an_amendment_or_termination_signed_for_another_chain_does_not_verify",
        "contract": f"{ENGINE}::test_an_amendment_binds_one_trade_one_engine_and_one_nonce",
        "object": f"{HERE}::test_a_termination_binds_one_trade_and_one_nonce",
        "nonce": f"{HERE}::test_a_termination_binds_one_trade_and_one_nonce",
    },
    ("DefaultFund", "Action"): {
        "chain": f"{FUND}::test_execute_revertsOnSignaturesForAnotherDomain",
        "contract": f"{HERE}::test_fund_approvals_bind_one_fund_and_one_action",
        "object": f"{HERE}::test_fund_approvals_bind_one_fund_and_one_action",
        "nonce": f"{FUND}::test_execute_revertsOnReplay",
    },
    ("AtomicSettlement", "Instruction"): {
        "chain": f"{DVP}::test_signatures_for_another_chain_do_not_verify",
        "contract": f"{DVP}::test_signatures_for_another_settlement_contract_do_not_verify",
        "object": f"{DVP}::test_signatures_of_one_instruction_do_not_settle_another",
        "nonce": f"{DVP}::test_the_pair_shares_one_nonce_space_in_both_directions",
    },
    ("NettingEngine", "Obligation"): {
        line: f"{HERE}::test_an_obligation_binds_one_chain_one_netting_contract_one_round_and_registers_once"
        for line in ("chain", "contract", "object", "nonce")
    },
    ("CashToken", "Permit"): {
        "chain": f"{CASH}::test_permit_revertsIfTheSignatureDoesNotMatch",
        "contract": f"{HERE}::test_a_permit_binds_one_token_one_chain_and_one_nonce",
        "object": f"{CASH}::test_permit_revertsIfTheSignatureDoesNotMatch",
        "nonce": f"{CASH}::test_permit_revertsIfReplayed",
    },
    ("SecurityToken", "Permit"): {
        line: f"{HERE}::test_a_permit_binds_one_token_one_chain_and_one_nonce"
        for line in ("chain", "contract", "object", "nonce")
    },
}
LINES = {"chain", "contract", "object", "nonce"}
CONTRACTS = ("DerivativeEngine", "DefaultFund", "AtomicSettlement", "NettingEngine", "CashToken", "SecurityToken")
CONTRACTS += ("PriceOracle", "ComplianceRegistry")


def test_every_signed_message_of_the_abis_is_in_the_table(chain: Chain) -> None:
    signed = set()
    for name in CONTRACTS:
        abi = chain.artifacts[name].abi
        functions = {f["name"] for f in abi if f["type"] == "function"}
        signed |= {(name, f.removesuffix("_TYPEHASH").title()) for f in functions if f.endswith("_TYPEHASH")}
        if "permit" in functions:
            signed.add((name, "Permit"))
    assert signed == REPLAYS.keys()
    for message, lines in REPLAYS.items():
        assert lines.keys() == LINES, message
        for where in lines.values():
            module, test = where.split("::")
            assert callable(getattr(importlib.import_module(module), test, None)), f"{message}: {where}"


# ====================================================================== engine


def test_an_amendment_or_termination_signed_for_another_chain_does_not_verify(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, terms = market.open(buyer, seller)
    other_chain = market.domain(chain_id=market.chain.chain_id + 1)
    deadline = market.now() + 3_600
    amendment = {
        "tradeId": trade_id,
        "quantity": 2 * QUANTITY,
        "maturity": terms.maturity,
        "buyerIm": IM,
        "sellerIm": IM,
        "payment": 0,
        "nonce": 0,
        "deadline": deadline,
    }
    termination = {"tradeId": trade_id, "payment": 0, "nonce": 0, "deadline": deadline}
    amend = market.engine.functions.amend(
        amendment_tuple(amendment), *(market.sign_amendment(p, amendment, other_chain) for p in (buyer, seller))
    )
    terminate = market.engine.functions.terminate(
        termination_tuple(termination), *(market.sign_termination(p, termination, other_chain) for p in (buyer, seller))
    )
    with leaves_unchanged(lambda: market.books([buyer, seller]) | market.trade(trade_id)):
        for call in (amend, terminate):
            with expect_revert("DerivativeInvalidSignature", tradeId=trade_id, signer=buyer):
                market.chain.transact(call, roles.outsider)


def test_a_termination_binds_one_trade_and_one_nonce(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, terms = market.open(buyer, seller)
    sibling, _ = market.open(buyer, seller)  # the same parties: their signatures verify on it but for the id
    deadline = market.now() + 3_600
    termination = {"tradeId": trade_id, "payment": 1_000 * 10**6, "nonce": 0, "deadline": deadline}
    signatures = (market.sign_termination(buyer, termination), market.sign_termination(seller, termination))
    on_sibling = termination_tuple(termination | {"tradeId": sibling})

    def books() -> dict[str, int]:
        return market.books([buyer, seller]) | {"sibling": market.trade(sibling)["state"]}

    with leaves_unchanged(books), expect_revert("DerivativeInvalidSignature", tradeId=sibling, signer=buyer):
        market.chain.transact(market.engine.functions.terminate(on_sibling, *signatures), roles.outsider)
    # An amendment both signed spends nonce 0 first: the termination signed at nonce 0 is void.
    amendment = {
        "tradeId": trade_id,
        "quantity": QUANTITY,
        "maturity": terms.maturity,
        "buyerIm": IM,
        "sellerIm": IM,
        "payment": 0,
        "nonce": 0,
        "deadline": deadline,
    }
    amendment_signatures = (market.sign_amendment(buyer, amendment), market.sign_amendment(seller, amendment))
    market.chain.transact(
        market.engine.functions.amend(amendment_tuple(amendment), *amendment_signatures), roles.outsider
    )
    terminate = market.engine.functions.terminate(termination_tuple(termination), *signatures)
    with leaves_unchanged(books), expect_revert("DerivativeInvalidNonce", tradeId=trade_id, expected=1, nonce=0):
        market.chain.transact(terminate, roles.outsider)
    # Signed again at nonce 1, it terminates once; the same signatures then find the trade ended.
    termination["nonce"] = 1
    signatures = (market.sign_termination(buyer, termination), market.sign_termination(seller, termination))
    terminate = market.engine.functions.terminate(termination_tuple(termination), *signatures)
    before = market.books([buyer, seller])
    market.chain.transact(terminate, roles.outsider)
    after = market.books([buyer, seller])
    assert after[f"margin:{seller.address}"] - before[f"margin:{seller.address}"] == 1_000 * 10**6 + IM
    with leaves_unchanged(books), expect_revert("DerivativeUnexpectedState", tradeId=trade_id):
        market.chain.transact(terminate, roles.outsider)


# ====================================================================== fund


def test_fund_approvals_bind_one_fund_and_one_action(
    fund_world: FundWorld, chain: Chain, roles: Roles, cash: Contract, registry: Contract
) -> None:
    """Two funds with the same members and the same nonce: approvals of one fund's action neither
    execute it on the other nor authorise another action on the same fund."""
    members = fund_world.join_all([5_000 * 10**6] * 3)
    twin = deploy_fund(chain, roles, cash, registry, [fund_world.engine.address])
    send_setup(chain, [(cash.functions.approve(twin.address, MAX_UINT256), m) for m in members])
    send_setup(chain, [(twin.contract.functions.join(5_000 * 10**6), m) for m in members])
    action = fund_world.action(ActionKind.WITHDRAW, members[0].address, 1_000 * 10**6)
    approvals = fund_world.approvals(action, members[:2])
    first = min(members[:2], key=lambda m: int(m.address, 16))

    def books() -> dict[str, Any]:
        funds = (fund_world.fund, twin)
        return {f"{f.address}:{m.address}": f.balance_of(m.address) for f in funds for m in members} | {
            "wallet": cash.functions.balanceOf(members[0].address).call(),
            "nonces": [f.contract.functions.nonce().call() for f in funds],
        }

    with leaves_unchanged(books):
        with expect_revert("FundInvalidSignature", signer=first):
            twin.execute(roles.outsider, action, approvals)
        for other in (
            fund_world.action(ActionKind.WITHDRAW, members[0].address, 1_000 * 10**6 + 1),
            fund_world.action(ActionKind.WITHDRAW, members[1].address, 1_000 * 10**6),
            fund_world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3_600),
        ):
            with expect_revert("FundInvalidSignature", signer=first):
                fund_world.fund.execute(roles.outsider, other, approvals)
    # Signed for the twin's own domain, the same action executes there.
    twin_approvals = [sign_action(m, twin.eip712_domain(), action) for m in members[:2]]
    twin.execute(roles.outsider, action, twin_approvals)
    assert twin.balance_of(members[0].address) == 4_000 * 10**6
    assert fund_world.fund.balance_of(members[0].address) == 5_000 * 10**6


# ====================================================================== netting


def test_an_obligation_binds_one_chain_one_netting_contract_one_round_and_registers_once(
    netting_world: NettingWorld, chain: Chain, roles: Roles, registry: Contract, cash: Contract
) -> None:
    world = netting_world
    payer, payee = world.members[:2]
    twin = deploy_quickly(chain, "NettingEngine", [registry.address, cash.address, NO_SETTLEMENT], roles.admin)
    first_round = world.open()
    second_round = world.open()
    chain.transact(twin.functions.openRound(world.now() + 600, world.now() + 1_200), payer)
    obligation = Obligation(first_round, payer.address, payee.address, 100 * 10**6, b"\x07" * 32)
    signed = world.signed(obligation)
    world.netting.register(roles.outsider, obligation, signed.payer_signature, signed.payee_signature)
    d = world.netting.domain
    forged = Domain(d.name, d.version, d.chain_id + 1, d.verifying_contract)

    def state() -> dict[str, Any]:
        rounds = {r: world.contract.functions.roundOf(r).call() for r in (first_round, second_round)}
        return rounds | {"twin": twin.functions.roundOf(1).call(), "wallets": world.balances([payer, payee])}

    attempts = [
        # Registered once: the same obligation again, by anyone.
        (world.contract, obligation, signed, "NettingObligationExists"),
        # The twin netting contract (its round 1 too).
        (twin, obligation, signed, "NettingUnauthorized"),
        # Another round, another amount, another reference.
        (world.contract, obligation.but(round_id=second_round), signed, "NettingUnauthorized"),
        (world.contract, obligation.but(amount=obligation.amount + 1), signed, "NettingUnauthorized"),
        (world.contract, obligation.but(ref=b"\x08" * 32), signed, "NettingUnauthorized"),
    ]
    with leaves_unchanged(state):
        for contract, replayed, sigs, error in attempts:
            call = contract.functions.register(replayed.as_tuple(), sigs.payer_signature, sigs.payee_signature)
            with expect_revert(error) as raised:
                chain.transact(call, roles.outsider)
            if error == "NettingUnauthorized":
                assert raised.value.args_by_name["party"] == payer.address
        fresh = obligation.but(ref=b"\x09" * 32)
        other_chain = [sign_obligation(p, forged, fresh).packed() for p in (payer, payee)]
        with expect_revert("NettingUnauthorized", id=world.netting.id_of(fresh), party=payer):
            world.netting.register(roles.outsider, fresh, *other_chain)


# ====================================================================== permits


def test_a_permit_binds_one_token_one_chain_and_one_nonce(
    security: Contract, chain: Chain, roles: Roles, cash: Contract
) -> None:
    owner, spender = roles.members[:2]
    deadline = latest_timestamp(chain) + 3_600
    cash_domain, security_domain = PermitDomain.of(cash), PermitDomain.of(security)

    def state() -> dict[str, int]:
        return {
            f"{t.address}:{fn}": getattr(t.functions, fn)(*args).call()
            for t in (cash, security)
            for fn, args in (("allowance", (owner.address, spender.address)), ("nonces", (owner.address,)))
        }

    def permit(token: Contract, signature: tuple[int, bytes, bytes], value: int = 600) -> Any:
        return token.functions.permit(owner.address, spender.address, value, deadline, *signature)

    for_cash = cash_domain.sign(owner, spender.address, 600, 0, deadline)
    other_chain = security_domain.sign(owner, spender.address, 600, 0, deadline, chain_id=security_domain.chain_id + 1)
    with leaves_unchanged(state):
        for call in (permit(security, for_cash), permit(security, other_chain)):
            with expect_revert("ERC2612InvalidSigner", owner=owner) as raised:
                chain.transact(call, spender)
            assert raised.value.args_by_name["signer"] != owner.address
    own = security_domain.sign(owner, spender.address, 600, 0, deadline)
    with leaves_unchanged(state), expect_revert("ERC2612InvalidSigner", owner=owner):
        chain.transact(permit(security, own, value=601), spender)  # another allowance than signed
    chain.transact(permit(security, own), spender)
    chain.transact(security.functions.approve(spender.address, 0), owner)
    with leaves_unchanged(state), expect_revert("ERC2612InvalidSigner", owner=owner):
        chain.transact(permit(security, own), spender)


@pytest.mark.parametrize("token_name", ["cash", "security"])
def test_the_toolkit_reports_a_replayed_permit_as_already_used(
    security: Contract, chain: Chain, roles: Roles, cash: Contract, token_name: str
) -> None:
    owner, spender = roles.members[:2]
    token = CompliantToken(chain, cash if token_name == "cash" else security)
    permit = token.sign_permit(owner, spender.address, 600)
    token.submit_permit(permit, spender)
    token.approve(owner, spender.address, 0)  # the allowance spent or withdrawn: a replay would restore it

    def state() -> dict[str, int]:
        return {"allowance": token.allowance(owner.address, spender.address), "nonce": token.nonce(owner.address)}

    with leaves_unchanged(state), pytest.raises(DfmiError) as raised:
        token.submit_permit(permit, roles.outsider)
    message = str(raised.value)
    assert "already used" in message, message
    assert "nonce 0" in message, message
    assert "InvalidSigner" not in message, message
