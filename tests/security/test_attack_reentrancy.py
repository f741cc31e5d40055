"""Reentrancy through a malicious token, in every function that moves tokens.

:data:`MOVES` lists, contract by contract, every state-changing function that moves a token, and
the test that attacks it; :data:`MOVES_NOTHING` every other state-changing function, with why it
moves none. :func:`test_every_state_changing_function_of_the_abis_is_classified` holds both lists
to the compiled ABIs, so a new function cannot go unattacked.

Each attack here runs the function twice from the same state: honestly, then with the token
armed to call back into the contract while it moves (the callback replays the same call, the
classic way to be paid twice). Both runs must leave exactly the same balances (wallets, margin
accounts, fund balances, the contracts' own holdings and totals), and every callback must have
been refused, by the reentrancy guard or, for the fund's unguarded ``execute``, by the spent
nonce. The cash and security tokens make no call out of a movement at all (traced), so nothing
can re-enter through them, nor through a receiver: an ERC-20 movement calls no hook.

The other way in is a contract party's ERC-1271 check, which the contracts make while they
verify its consent: :class:`ReentrantSigner` calls back from it (into the fund's unguarded
``execute`` with another validly approved action, into the settlement contract with another
signed instruction). The check is a static call, so the callback reverts (seen in the trace)
and the outer call does exactly what it does with an honest party.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from dfmi_py.api.settlement import InstructionState
from dfmi_py.chain import Chain
from dfmi_py.netting import Obligation
from dfmi_py.signing.fund import ActionKind, Approval
from dfmi_py.signing.settlement import Instruction
from tests.contracts.conftest import (
    CURE_PERIOD,
    PRICE,
    State,
    amendment_tuple,
    deploy_quickly,
    send_setup,
    termination_tuple,
)
from tests.helpers import MAX_UINT256, Roles, events, expect_revert
from tests.security.attack_world import USD, RogueClearing, RogueMarket, run_twice

GUARD = "ReentrancyGuardReentrantCall"
EXISTING_ENGINE = "tests.contracts.test_derivative_security"
EXISTING_DVP = "tests.settlement.test_dvp_security"
EXISTING_NETTING = "tests.netting.test_netting_dvp"

#: Every function that moves a token, by contract: the test that attacks it ("module::test", or
#: a scenario of this module).
MOVES: dict[str, dict[str, str]] = {
    "DerivativeEngine": {
        "confirm": f"{EXISTING_ENGINE}::test_a_token_calling_back_while_confirm_pulls_the_im_reverts_the_confirmation",
        "depositMargin": "depositMargin",
        "withdrawMargin": f"{EXISTING_ENGINE}::test_a_token_cannot_withdraw_its_margin_twice_by_calling_back",
        "settle": f"{EXISTING_ENGINE}::test_a_swallowed_callback_changes_nothing_and_the_settlement_pays_once",
        "settleMany": "settleMany",
        "settleInBatch": "settleMany",  # the engine's own frame inside settleMany (DerivativeOnlyEngine)
        "cure": "cure",
        "declareDefault": "declareDefault",
        "mature": "mature",
        "amend": "amend",
        "terminate": "terminate",
        "retryFundClaim": "retryFundClaim",
    },
    "DefaultFund": {
        "join": "join",
        "contribute": "contribute",
        "claim": "claim",
        "execute": "execute:withdraw",
    },
    "AtomicSettlement": {
        "settle": f"{EXISTING_DVP}::test_a_token_cannot_reenter_to_settle_twice",
        "settleBatch": "settleBatch",
        "affirm": "affirm",
        "executeSelf": f"{EXISTING_DVP}::test_a_token_cannot_run_an_instruction_frame",
        "deliverNetted": "netting:dvp",
    },
    "NettingEngine": {
        "settle": "netting:cash",
        "settleSelf": f"{EXISTING_NETTING}::test_a_security_that_calls_back_during_its_delivery_cannot_reenter",
        "fund": "netting:fund",
        "withdrawFunding": "netting:withdrawFunding",
    },
    "CashToken": {name: "tokens" for name in ("transfer", "transferFrom", "mint", "burn")},
    "SecurityToken": {name: "tokens" for name in ("transfer", "transferFrom", "issue", "redeem")},
}

_ROLES = ("grantRole", "revokeRole", "renounceRole")
_TOKEN_CONTROL = ("approve", "permit", "pause", "unpause", "complianceStatusChanged", "syncCompliance", *_ROLES)

#: Every other state-changing function, by contract, and why no token moves in it.
MOVES_NOTHING: dict[str, dict[str, str]] = {
    "DerivativeEngine": {
        "propose": "records terms; IM moves at confirm",
        "cancel": "a proposal holds no cash",
        "setConfig": "settings only",
        **{name: "roles only" for name in _ROLES},
    },
    "DefaultFund": {
        "flagMissedReplenishment": "a flag",
        "onTradeOpened": "an engine's report of open IM",
        "onTradeClosed": "an engine's report of closed IM",
    },
    "AtomicSettlement": {
        "propose": "on-chain consent",
        "cancel": "spends a nonce",
        "lockForNetting": "locks a nonce (calls no token: ERC-1271 checks are static calls)",
        "releaseFromNetting": "unlocks a nonce",
    },
    "NettingEngine": {
        "openRound": "a round",
        "register": "an obligation",
        "registerBatch": "obligations",
        "enterInstruction": "locks an instruction in the settlement contract, which calls no token",
        "close": "a stage",
        "submitNets": "a verification",
        "exclude": "removes obligations and releases instructions (no token)",
        "releaseInstructions": "releases instructions (no token)",
        "removeFailed": "releases instructions (no token)",
    },
    "PriceOracle": {
        "submit": "a report",
        "propose": "a change",
        "approve": "a vote",
    },
    "ComplianceRegistry": {
        **{
            name: "account statuses pushed to the tokens' mirrors"
            for name in ("onboard", "onboardBatch", "freeze", "unfreeze", "offboard")
        },
        "addSubscriber": "a subscriber",
        "removeSubscriber": "a subscriber",
        "publishRegulatorKey": "a key",
        "recordIdentity": "an envelope's hash",
        **{name: "roles only" for name in _ROLES},
    },
    "CashToken": {
        **{name: "allowances, pause, statuses or roles" for name in _TOKEN_CONTROL},
        "configureMinter": "a minter's allowance",
        "removeMinter": "a minter's allowance",
    },
    "SecurityToken": {name: "allowances, pause, statuses or roles" for name in _TOKEN_CONTROL},
}


def test_every_state_changing_function_of_the_abis_is_classified(chain: Chain) -> None:
    for name in MOVES.keys() | MOVES_NOTHING.keys():
        abi = chain.artifacts[name].abi
        changing = {f["name"] for f in abi if f["type"] == "function" and f["stateMutability"] not in ("view", "pure")}
        moves, still = MOVES.get(name, {}), MOVES_NOTHING.get(name, {})
        assert not moves.keys() & still.keys(), f"{name}: classified twice: {moves.keys() & still.keys()}"
        classified = moves.keys() | still.keys()
        assert changing == classified, f"{name}: unclassified {changing - classified}, gone {classified - changing}"
        payable = [f.get("name", f["type"]) for f in abi if f.get("stateMutability") == "payable"]
        assert payable == [], f"{name} takes ether: {payable}"


def test_every_attack_of_the_table_exists() -> None:
    for contract, table in MOVES.items():
        for function, where in table.items():
            if "::" in where:
                module, test = where.split("::")
                assert callable(getattr(importlib.import_module(module), test, None)), f"{contract}.{function}: {where}"
            else:
                assert where in SCENARIOS or where == "tokens", f"{contract}.{function}: no scenario {where!r}"


# ====================================================================== the attacks


@dataclass
class Attack:
    """``send`` is the honest call; while it runs, ``token`` calls ``target`` with ``reentry``."""

    send: Callable[[], TxReceipt]
    token: Contract
    target: str
    reentry: ContractFunction
    refused_with: str = GUARD


# ---------------------------------------------------------------------- engine and fund


def _engine(rm: RogueMarket, reentry: ContractFunction, send: Callable[[], TxReceipt]) -> Attack:
    return Attack(send, rm.token, rm.engine.address, reentry)


def _open(rm: RogueMarket, **changes: Any) -> int:
    buyer, seller = rm.parties[:2]
    trade_id, _ = rm.market.open(buyer, seller, **changes)
    return trade_id


def _margin_called(rm: RogueMarket, drop: int) -> int:
    """A live trade whose buyer could not pay a fall of ``drop`` (its allowance revoked)."""
    trade_id = _open(rm)
    rm.market.revoke(rm.parties[0])
    rm.market.push_price(PRICE - drop)
    rm.market.settle(trade_id)
    assert rm.market.state(trade_id) == State.MARGIN_CALL
    return trade_id


def _defaultable(rm: RogueMarket) -> int:
    """A margin call past its cure period whose loss (7,000) exceeds the buyer's IM (5,000)."""
    trade_id = _margin_called(rm, 700 * 10**8)
    rm.market.advance(CURE_PERIOD + 1)
    rm.market.push_price(PRICE - 700 * 10**8)
    return trade_id


def deposit_margin(rm: RogueMarket) -> Attack:
    buyer = rm.parties[0]
    return _engine(rm, rm.engine.functions.depositMargin(1_000 * USD), lambda: rm.market.deposit(buyer, 1_000 * USD))


def settle_many(rm: RogueMarket) -> Attack:
    trade_id = _open(rm)
    rm.market.push_price(PRICE - 100 * 10**8)
    call = rm.engine.functions.settleMany([trade_id])
    return _engine(rm, call, lambda: rm.chain.transact(call, rm.roles.outsider))


def cure(rm: RogueMarket) -> Attack:
    trade_id = _margin_called(rm, 100 * 10**8)
    buyer = rm.parties[0]
    rm.chain.transact(rm.token.functions.approve(rm.engine.address, MAX_UINT256), buyer)
    call = rm.engine.functions.cure(trade_id)
    return _engine(rm, call, lambda: rm.chain.transact(call, buyer))


def declare_default(rm: RogueMarket) -> Attack:
    trade_id = _defaultable(rm)
    call = rm.engine.functions.declareDefault(trade_id)
    return _engine(rm, call, lambda: rm.chain.transact(call, rm.roles.outsider))


def claim(rm: RogueMarket) -> Attack:
    """The fund pays the engine its share of a close-out; the token calls the fund back."""
    attack = declare_default(rm)
    return Attack(attack.send, rm.token, rm.fund.address, rm.fund.contract.functions.contribute(1))


def mature(rm: RogueMarket) -> Attack:
    trade_id = _open(rm, maturity=rm.market.now() + 600)
    rm.market.advance(700)
    round_id = rm.market.push_price(PRICE - 100 * 10**8)
    call = rm.engine.functions.mature(trade_id, round_id)
    return _engine(rm, call, lambda: rm.chain.transact(call, rm.roles.outsider))


def amend(rm: RogueMarket) -> Attack:
    trade_id = _open(rm)
    buyer, seller = rm.parties[:2]
    t = rm.market.trade(trade_id)
    amendment = {
        "tradeId": trade_id,
        "quantity": t["quantity"],
        "maturity": t["maturity"],
        "buyerIm": t["buyerIm"] + 1_000 * USD,
        "sellerIm": t["sellerIm"],
        "payment": 2_000 * USD,
        "nonce": 0,
        "deadline": rm.market.now() + 3_600,
    }
    signatures = (rm.market.sign_amendment(buyer, amendment), rm.market.sign_amendment(seller, amendment))
    call = rm.engine.functions.amend(amendment_tuple(amendment), *signatures)
    return _engine(rm, call, lambda: rm.chain.transact(call, rm.roles.outsider))


def terminate(rm: RogueMarket) -> Attack:
    trade_id = _open(rm)
    buyer, seller = rm.parties[:2]
    termination = {"tradeId": trade_id, "payment": 1_500 * USD, "nonce": 0, "deadline": rm.market.now() + 3_600}
    signatures = (rm.market.sign_termination(buyer, termination), rm.market.sign_termination(seller, termination))
    call = rm.engine.functions.terminate(termination_tuple(termination), *signatures)
    return _engine(rm, call, lambda: rm.chain.transact(call, rm.roles.outsider))


def retry_fund_claim(rm: RogueMarket) -> Attack:
    """The fund's first payment fails (the token refuses it), leaving the claim pending."""
    trade_id = _defaultable(rm)
    rm.armed.arm(rm.token, rm.fund.address, rm.fund.contract.functions.contribute(1), bubble=True)
    receipt = rm.chain.transact(rm.engine.functions.declareDefault(trade_id), rm.roles.outsider)
    assert [e["tradeId"] for e in events(rm.engine, "FundClaimFailed", receipt)] == [trade_id]
    rm.chain.transact(rm.token.functions.disarm(), rm.roles.admin)
    call = rm.engine.functions.retryFundClaim(trade_id)
    return _engine(rm, call, lambda: rm.chain.transact(call, rm.roles.outsider))


def join(rm: RogueMarket) -> Attack:
    newcomer = rm.parties[3]
    call = rm.fund.contract.functions.join(5_000 * USD)
    return Attack(lambda: rm.chain.transact(call, newcomer), rm.token, rm.fund.address, call)


def contribute(rm: RogueMarket) -> Attack:
    call = rm.fund.contract.functions.contribute(5_000 * USD)
    return Attack(lambda: rm.chain.transact(call, rm.parties[0]), rm.token, rm.fund.address, call)


def _execute(rm: RogueMarket, kind: ActionKind, *values: Any) -> Attack:
    """``kind`` approved by members 0 and 1; the callback executes it again."""
    action = rm.fund.action(kind, *values)
    approvals = sorted((rm.fund.sign(m, action) for m in rm.parties[:2]), key=lambda a: int(a.signer, 16))
    call = rm.fund.contract.functions.execute(action.as_tuple(), [a.as_tuple() for a in approvals])
    return Attack(
        lambda: rm.chain.transact(call, rm.roles.outsider), rm.token, rm.fund.address, call, "FundInvalidNonce"
    )


def execute_withdraw(rm: RogueMarket) -> Attack:
    return _execute(rm, ActionKind.WITHDRAW, rm.parties[0].address, 3_000 * USD)


def execute_release_surplus(rm: RogueMarket) -> Attack:
    rm.chain.transact(rm.token.functions.mint(rm.fund.address, 777 * USD), rm.roles.admin)
    return _execute(rm, ActionKind.RELEASE_SURPLUS, rm.parties[2].address)


# ---------------------------------------------------------------------- settlement and netting


def _instruction(rc: RogueClearing, nonce: int = 0, deadline: int | None = None) -> Instruction:
    seller, buyer = rc.parties[:2]
    return rc.settlement.dvp(
        seller.address,
        rc.security.address,
        10,
        buyer.address,
        rc.cash.address,
        100 * USD,
        deadline=deadline or int(rc.chain.w3.eth.get_block("latest")["timestamp"]) + 3 * 3600,
        nonce=nonce,
    )


def settle_batch(rc: RogueClearing) -> Attack:
    item = rc.settlement.signed(_instruction(rc), *rc.parties[:2])
    call = rc.settlement.contract.functions.settleBatch([item.as_tuple()])
    return Attack(lambda: rc.chain.transact(call, rc.roles.outsider), rc.security, rc.settlement.address, call)


def affirm(rc: RogueClearing) -> Attack:
    instruction = _instruction(rc)
    rc.settlement.propose(rc.parties[0], instruction)
    call = rc.settlement.contract.functions.affirm(instruction.as_tuple())
    return Attack(lambda: rc.chain.transact(call, rc.parties[1]), rc.security, rc.settlement.address, call)


def _verified_round(rc: RogueClearing, *, dvp: bool) -> tuple[int, list[Any]]:
    """A round with two signed obligations (and a DvP instruction), closed and verified."""
    netting = rc.netting
    a, b, c = rc.parties
    start = rc.chain.w3.eth.block_number
    round_id = netting.open_round(a)
    edges = [(a, b, 300 * USD), (b, c, 40 * USD), (c, a, 25 * USD)]
    obligations = [
        Obligation(round_id, p.address, q.address, x, i.to_bytes(32, "big")) for i, (p, q, x) in enumerate(edges)
    ]
    netting.register_batch(
        rc.roles.outsider, [netting.signed_by_both(o, p, q) for o, (p, q, _) in zip(obligations, edges, strict=True)]
    )
    instructions: list[Any] = []
    if dvp:
        round_end = netting.round(round_id).deadline
        instruction = _instruction(rc, deadline=round_end + 3600)
        netting.enter_instruction(rc.roles.outsider, round_id, rc.settlement.signed(instruction, a, b))
        instructions.append(instruction.as_tuple())
    netting.close(a, round_id)
    netting.submit_nets(rc.roles.outsider, round_id, from_block=start)
    return round_id, instructions


def netting_cash(rc: RogueClearing) -> Attack:
    round_id, _ = _verified_round(rc, dvp=False)
    call = rc.netting.contract.functions.settle(round_id, [])
    return Attack(lambda: rc.chain.transact(call, rc.roles.outsider), rc.cash, rc.netting.address, call)


def netting_dvp(rc: RogueClearing) -> Attack:
    """The delivery leg moves inside the settlement contract; the token calls the round back."""
    round_id, instructions = _verified_round(rc, dvp=True)
    call = rc.netting.contract.functions.settle(round_id, instructions)
    return Attack(lambda: rc.chain.transact(call, rc.roles.outsider), rc.security, rc.netting.address, call)


def netting_fund(rc: RogueClearing) -> Attack:
    round_id = rc.netting.open_round(rc.parties[0])
    call = rc.netting.contract.functions.fund(round_id, 500 * USD)
    return Attack(lambda: rc.chain.transact(call, rc.parties[1]), rc.cash, rc.netting.address, call)


def netting_withdraw(rc: RogueClearing) -> Attack:
    round_id = rc.netting.open_round(rc.parties[0])
    rc.chain.transact(rc.netting.contract.functions.fund(round_id, 500 * USD), rc.parties[1])
    call = rc.netting.contract.functions.withdrawFunding(round_id, 500 * USD)
    return Attack(lambda: rc.chain.transact(call, rc.parties[1]), rc.cash, rc.netting.address, call)


#: The attacks of this module: on the rogue market (engine and fund) or the rogue clearing.
SCENARIOS: dict[str, Callable[[Any], Attack]] = {
    "depositMargin": deposit_margin,
    "settleMany": settle_many,
    "cure": cure,
    "declareDefault": declare_default,
    "claim": claim,
    "mature": mature,
    "amend": amend,
    "terminate": terminate,
    "retryFundClaim": retry_fund_claim,
    "join": join,
    "contribute": contribute,
    "execute:withdraw": execute_withdraw,
    "execute:releaseSurplus": execute_release_surplus,
    "settleBatch": settle_batch,
    "affirm": affirm,
    "netting:cash": netting_cash,
    "netting:dvp": netting_dvp,
    "netting:fund": netting_fund,
    "netting:withdrawFunding": netting_withdraw,
}
CLEARING_SCENARIOS = ["settleBatch", "affirm", "netting:cash", "netting:dvp", "netting:fund", "netting:withdrawFunding"]
MARKET_SCENARIOS = [name for name in SCENARIOS if name not in CLEARING_SCENARIOS]


def _attack(world: RogueMarket | RogueClearing, attack: Attack) -> None:
    armed = world.armed

    def arm() -> None:
        armed.arm(attack.token, attack.target, attack.reentry)

    receipt, honest, after = run_twice(world.chain, world.books, attack.send, arm)
    callbacks = armed.callbacks(attack.token, receipt)
    assert callbacks, "the token never called back: the attack did not run"
    assert [(target, ok, armed.error_of(data)) for target, ok, data in callbacks] == [
        (attack.target, False, attack.refused_with)
    ] * len(callbacks)
    assert after == honest, {k: (honest[k], after[k]) for k in honest if honest[k] != after[k]}


@pytest.mark.parametrize("scenario", MARKET_SCENARIOS)
def test_a_token_calling_back_into_the_engine_or_the_fund_is_refused_and_pays_nothing_twice(
    rogue_market: RogueMarket, scenario: str
) -> None:
    _attack(rogue_market, SCENARIOS[scenario](rogue_market))


@pytest.mark.parametrize("scenario", CLEARING_SCENARIOS)
def test_a_token_calling_back_into_settlement_or_netting_is_refused_and_moves_nothing_twice(
    rogue_clearing: RogueClearing, scenario: str
) -> None:
    _attack(rogue_clearing, SCENARIOS[scenario](rogue_clearing))


def test_a_failed_fund_payment_stays_claimable_and_is_paid_once(rogue_market: RogueMarket) -> None:
    """After the refused first payment, the retry pays the survivor exactly once; a second retry
    finds nothing pending."""
    attack = retry_fund_claim(rogue_market)
    trade_id = int(attack.reentry.args[0])
    seller = rogue_market.parties[1]
    before = rogue_market.market.margin(seller)
    receipt = attack.send()
    [paid] = events(rogue_market.engine, "FundClaimPaid", receipt)
    assert paid["paid"] == 2_000 * USD
    assert rogue_market.market.margin(seller) - before == 2_000 * USD
    with expect_revert("DerivativeNoPendingFundClaim", tradeId=trade_id):
        rogue_market.chain.transact(rogue_market.engine.functions.retryFundClaim(trade_id), rogue_market.roles.outsider)


# ====================================================================== the tokens call nobody


def _calls_out(chain: Chain, receipt: TxReceipt) -> list[Any]:
    trace = chain.w3.provider.make_request(
        "debug_traceTransaction",
        [receipt["transactionHash"].to_0x_hex(), {"tracer": "callTracer"}],  # type: ignore[list-item]
    )
    assert "result" in trace, trace
    return list(trace["result"].get("calls", []))


def test_the_cash_and_security_tokens_make_no_call_while_they_move_so_nothing_reenters(
    security: Contract, chain: Chain, roles: Roles, registry: Contract, cash: Contract, issuer: LocalAccount
) -> None:
    """A movement to, from or by a contract (here a settlement contract, onboarded for the purpose)
    calls no code: the compliance statuses are the token's own copy."""
    a, b = roles.members[:2]
    spender = deploy_quickly(chain, "AtomicSettlement", ["0x" + "00" * 20], roles.admin)
    chain.transact(registry.functions.onboard(spender.address), roles.officer)
    moves: list[tuple[ContractFunction, LocalAccount]] = [
        (cash.functions.mint(a.address, 1_000), roles.minter),
        (cash.functions.mint(roles.burner.address, 10), roles.minter),
        (cash.functions.burn(10), roles.burner),
        (cash.functions.transfer(spender.address, 100), a),
        (cash.functions.approve(b.address, 100), a),
        (cash.functions.transferFrom(a.address, b.address, 100), b),
        (security.functions.issue(issuer.address, 1_000), issuer),
        (security.functions.transfer(spender.address, 10), a),
        (security.functions.approve(b.address, 50), a),
        (security.functions.transferFrom(a.address, b.address, 50), b),
        (security.functions.redeem(500), issuer),
    ]
    for call, sender in moves:
        receipt = chain.transact(call, sender)
        assert _calls_out(chain, receipt) == [], f"{call.fn_name} called out"


# ====================================================================== a contract party calls back


def _calls(chain: Chain, receipt: TxReceipt) -> list[dict[str, Any]]:
    """Every call frame of the transaction, depth first (debug_traceTransaction's callTracer)."""
    trace = chain.w3.provider.make_request(
        "debug_traceTransaction",
        [receipt["transactionHash"].to_0x_hex(), {"tracer": "callTracer"}],  # type: ignore[list-item]
    )
    assert "result" in trace, trace
    frames, stack = [], [trace["result"]]
    while stack:
        frame = stack.pop()
        frames.append(frame)
        stack.extend(reversed(frame.get("calls", [])))
    return frames


def _callbacks_from(
    chain: Chain, receipt: TxReceipt, signer: Contract, target: str, data: bytes
) -> list[dict[str, Any]]:
    """The frames in which ``signer`` called ``target`` with ``data``."""
    return [
        f
        for f in _calls(chain, receipt)
        if f["from"].lower() == signer.address.lower()
        and f["to"].lower() == target.lower()
        and bytes.fromhex(f["input"][2:]) == data
    ]


def _encoded(call: ContractFunction) -> bytes:
    return bytes.fromhex(call._encode_transaction_data()[2:])


def test_a_fund_member_whose_signature_check_calls_back_cannot_run_another_action(
    fund_world: Any, chain: Chain, roles: Roles, registry: Contract, cash: Contract
) -> None:
    """``execute`` has no reentrancy guard: it relies on ERC-1271 checks being static calls. A
    member contract's check tries to execute the next action (validly approved by two members)
    from inside the current one; the attempt reverts in the static context, the current action
    executes as it would have, and the next stays unexecuted."""
    world = fund_world
    a, b = world.members[:2]
    signer = deploy_quickly(chain, "ReentrantSigner", [], roles.admin)
    chain.transact(registry.functions.onboard(signer.address), roles.officer)
    chain.transact(cash.functions.mint(signer.address, 5_000 * USD), roles.minter)
    for call in (cash.functions.approve(world.fund.address, MAX_UINT256), world.contract.functions.join(5_000 * USD)):
        chain.transact(signer.functions.execute(call.address, _encoded(call)), roles.admin)
    world.join_all([5_000 * USD, 5_000 * USD])
    current = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 7_200)
    current_approvals = [world.fund.sign(a, current), Approval(signer.address, b"")]
    following = world.action(ActionKind.WITHDRAW, a.address, 1_000 * USD, nonce=current.nonce + 1)
    reentry = world.contract.functions.execute(
        following.as_tuple(),
        [x.as_tuple() for x in sorted(world.approvals(following, [a, b]), key=lambda x: int(x.signer, 16))],
    )

    def books() -> dict[str, int]:
        wallets = {m.address: cash.functions.balanceOf(m.address).call() for m in (a, b)}
        return wallets | {
            "nonce": world.contract.functions.nonce().call(),
            "window": world.fund.state().replenishment_window,
        }

    receipt, honest, after = run_twice(
        chain,
        books,
        lambda: world.fund.execute(roles.outsider, current, current_approvals),
        lambda: send_setup(chain, [(signer.functions.arm(world.fund.address, _encoded(reentry)), roles.admin)]),
    )
    attempts = _callbacks_from(chain, receipt, signer, world.fund.address, _encoded(reentry))
    assert attempts, "the signer never called back: the attack did not run"
    assert all("error" in f for f in attempts), attempts
    assert after == honest
    assert after["nonce"] == current.nonce + 1
    assert after["window"] == 7_200


def test_a_dvp_party_whose_signature_check_calls_back_cannot_settle_another_instruction(
    rogue_clearing: RogueClearing, chain: Chain, roles: Roles
) -> None:
    rc = rogue_clearing
    buyer, other = rc.parties[1:3]
    signer = deploy_quickly(chain, "ReentrantSigner", [], roles.admin)
    send_setup(
        chain,
        [
            (rc.security.functions.mint(signer.address, 1_000), roles.admin),
            (
                signer.functions.execute(
                    rc.security.address, _encoded(rc.security.functions.approve(rc.settlement.address, MAX_UINT256))
                ),
                roles.admin,
            ),
        ],
    )
    mine = _instruction(rc).but(party_a=signer.address)
    theirs = rc.settlement.signed(_instruction(rc, nonce=5).but(party_a=other.address), other, buyer)
    settle = rc.settlement.contract.functions.settle
    reentry = settle(theirs.instruction.as_tuple(), theirs.signature_a, theirs.signature_b)
    # Any non-empty bytes: the signer's consent is its ERC-1271 answer.
    call = settle(mine.as_tuple(), b"\x00" * 65, rc.settlement.sign(buyer, mine))
    receipt, honest, after = run_twice(
        chain,
        lambda: rc.books() | {"signer": rc.security.functions.balanceOf(signer.address).call()},
        lambda: chain.transact(call, roles.outsider),
        lambda: send_setup(chain, [(signer.functions.arm(rc.settlement.address, _encoded(reentry)), roles.admin)]),
    )
    attempts = _callbacks_from(chain, receipt, signer, rc.settlement.address, _encoded(reentry))
    assert attempts, "the signer never called back: the attack did not run"
    assert all("error" in f for f in attempts), attempts
    assert after == honest
    assert rc.settlement.state_of(theirs.instruction) == InstructionState.PENDING
