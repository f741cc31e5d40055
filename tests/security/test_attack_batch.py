"""One bad item in a batch does not make the others fail.

:data:`BATCHES` lists every function that processes several items for several parties, and the
tests that put bad items among good ones (held to the ABIs). Each bad item fails alone, with its
own reason, and moves nothing; every good item moves exactly what it would have moved alone.
This module adds the attacks the other tests leave out: a batch of trades holding every kind of
payer that cannot pay at once, and DvP batches holding a token that burns all the gas it is given
or reverts with a huge blob (an attempt to starve or bloat the batch).

Registering obligations (``NettingEngine.registerBatch``) is all or nothing by design: nothing
moves at registration, a refused batch changes nothing, and the toolkit sends what it can in
chunks (``tests/netting/test_netting_round.py::test_a_batch_registers_all_or_nothing``).
"""

from __future__ import annotations

import importlib
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.contract import Contract

from dfmi_py.chain import Chain
from tests.contracts.conftest import IM, PRICE, QUANTITY, Market, State, deploy_quickly, send_setup, vm_to_buyer
from tests.helpers import MAX_UINT256, Roles, events
from tests.settlement.conftest import State as InstructionState
from tests.settlement.conftest import World

ENGINE = "tests.contracts.test_derivative_security"
LIFECYCLE = "tests.contracts.test_derivative_lifecycle"
DVP_FAILURES = "tests.settlement.test_dvp_failures"
DVP_SECURITY = "tests.settlement.test_dvp_security"
NETTING = "tests.netting.test_netting_round"
FAILED = "tests.netting.test_netting_failed_delivery"
HERE = "tests.security.test_attack_batch"

#: Every function that processes a batch of items for several parties, and the tests putting bad
#: items among good ones.
BATCHES: dict[tuple[str, str], list[str]] = {
    ("DerivativeEngine", "settleMany"): [
        f"{HERE}::test_every_kind_of_payer_that_cannot_pay_margin_calls_only_its_own_trade",
        f"{LIFECYCLE}::test_settle_many_settles_the_due_trades_skips_the_others_and_counts",
        f"{ENGINE}::test_a_paused_token_skips_the_settlements_that_need_a_pull_and_decides_nothing",
    ],
    ("AtomicSettlement", "settleBatch"): [
        f"{HERE}::test_a_token_that_burns_its_gas_or_reverts_with_a_huge_blob_fails_its_instruction_only",
        f"{DVP_FAILURES}::test_a_batch_reports_the_failure_and_settles_the_rest",
        f"{DVP_FAILURES}::test_a_paused_security_fails_its_dvps_while_a_pvp_in_the_batch_settles",
        f"{DVP_SECURITY}::test_a_token_that_reverts_without_a_reason_fails_its_instruction_only",
        f"{DVP_SECURITY}::test_a_batch_settles_a_duplicated_instruction_once",
    ],
    ("NettingEngine", "settle"): [
        f"{NETTING}::test_paper_example_exclusion_of_p3",
        f"{NETTING}::test_resolve_excludes_blockers_in_order_and_resubmits",
        f"{FAILED}::test_a_token_that_refuses_at_settlement_cannot_hold_the_round_hostage",
        f"{FAILED}::test_a_token_that_burns_all_gas_costs_one_capped_attempt",
    ],
    ("NettingEngine", "registerBatch"): [f"{NETTING}::test_a_batch_registers_all_or_nothing"],
}


def test_every_batch_is_attacked_with_bad_items(chain: Chain) -> None:
    for (contract, function), tests in BATCHES.items():
        abi = {f["name"] for f in chain.artifacts[contract].abi if f["type"] == "function"}
        assert function in abi, f"{contract}.{function}"
        for where in tests:
            module, test = where.split("::")
            assert callable(getattr(importlib.import_module(module), test, None)), where


# ====================================================================== trades


def test_every_kind_of_payer_that_cannot_pay_margin_calls_only_its_own_trade(
    market: Market,
    chain: Chain,
    roles: Roles,
    registry: Contract,
    buyer: LocalAccount,
    seller: LocalAccount,
    third: LocalAccount,
) -> None:
    """Among good trades: a payer frozen, one that withdrew its allowance, one with an empty wallet,
    plus ids that are unknown or listed twice. The good trades pay exactly their VM once; each bad
    payer's trade alone goes into a margin call; nobody else's cash moves."""
    frozen, revoked, empty = roles.members[3:6]
    cash = market.cash
    setup: list[tuple[Any, LocalAccount]] = [
        (cash.functions.mint(a.address, 100_000 * 10**6), roles.minter) for a in (frozen, revoked)
    ]
    setup += [(cash.functions.mint(empty.address, IM), roles.minter)]
    setup += [(cash.functions.approve(market.engine.address, MAX_UINT256), a) for a in (frozen, revoked, empty)]
    send_setup(chain, setup)
    odd = 3 * QUANTITY + 7
    good_a, _ = market.open(buyer, seller)
    bad_frozen, _ = market.open(frozen, seller)
    bad_revoked, _ = market.open(revoked, third)
    bad_empty, _ = market.open(empty, third)
    good_b, _ = market.open(buyer, third, quantity=odd)
    chain.transact(registry.functions.freeze(frozen.address), roles.officer)
    market.revoke(revoked)
    assert market.balance(empty) == 0
    price = PRICE - 123 * 10**8
    round_id = market.push_price(price)
    everyone = [buyer, seller, third, frozen, revoked, empty]
    before = market.books(everyone)

    batch = [good_a, 99, bad_frozen, bad_revoked, good_a, bad_empty, good_b, 0, bad_frozen]
    receipt = chain.transact(market.engine.functions.settleMany(batch), roles.outsider)

    loss_a, loss_b = -vm_to_buyer(QUANTITY, PRICE, price), -vm_to_buyer(odd, PRICE, price)
    settled = {e["tradeId"]: e["paid"] for e in events(market.engine, "VariationMarginSettled", receipt)}
    assert settled == {good_a: loss_a, bad_frozen: 0, bad_revoked: 0, bad_empty: 0, good_b: loss_b}
    called = [(e["tradeId"], e["debtor"], e["amount"]) for e in events(market.engine, "MarginCalled", receipt)]
    assert called == [
        (bad_frozen, frozen.address, loss_a),
        (bad_revoked, revoked.address, loss_a),
        (bad_empty, empty.address, loss_a),
    ]
    assert events(market.engine, "SettlementSkipped", receipt) == []
    for trade_id in (good_a, bad_frozen, bad_revoked, bad_empty, good_b):
        assert market.trade(trade_id)["lastRound"] == round_id
    assert [market.state(t) for t in (good_a, good_b)] == [State.LIVE, State.LIVE]
    after = market.books(everyone)
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {
        f"wallet:{buyer.address}": -(loss_a + loss_b),
        f"margin:{seller.address}": loss_a,
        f"margin:{third.address}": loss_b,
        "engine_cash": loss_a + loss_b,
        "total_margin": loss_a + loss_b,
    }


# ====================================================================== DvP


def test_a_token_that_burns_its_gas_or_reverts_with_a_huge_blob_fails_its_instruction_only(
    dvp: World, chain: Chain, roles: Roles
) -> None:
    """Two hostile securities in one batch between two good DvPs: one burns every unit of gas it is
    given, the other reverts with 128 KiB. Each fails within its own gas allowance and with at most
    ``MAX_REASON_BYTES`` of reason; both good DvPs settle exactly."""
    world = dvp
    a, b, c, d = roles.members[:4]
    burner = deploy_quickly(chain, "HostileSecurity", [], roles.admin)
    blob = deploy_quickly(chain, "HostileSecurity", [], roles.admin)
    setup: list[tuple[Any, LocalAccount]] = []
    for token, mode, load in ((burner, 2, 0), (blob, 3, 128 * 1024)):
        setup += [
            (token.functions.mint(c.address, 1_000), roles.admin),
            (token.functions.approve(world.settlement.address, MAX_UINT256), c),
            (token.functions.setMode(mode, load), roles.admin),
        ]
    send_setup(chain, setup)
    good_1 = world.dvp(a, b, quantity=7, price=700 * 10**6)
    starving = world.dvp(c, d, nonce=1).but(token_a=burner.address, amount_a=5)
    bloating = world.dvp(c, d, nonce=2).but(token_a=blob.address, amount_a=5)
    good_2 = world.dvp(c, d, quantity=11, price=1_100 * 10**6, nonce=3)
    accounts = [a, b, c, d]

    def books() -> dict[str, int]:
        hostile = {
            f"{t.address}:{x.address}": t.functions.balanceOf(x.address).call()
            for t in (burner, blob)
            for x in accounts
        }
        return world.books([world.security, world.usd], accounts) | hostile

    before = books()
    receipt = world.settle_batch([world.signed(i) for i in (good_1, starving, bloating, good_2)])

    outcomes = world.outcomes(receipt)
    assert [(id_, ok) for id_, ok, _ in outcomes] == [
        (world.id_of(good_1), True),
        (world.id_of(starving), False),
        (world.id_of(bloating), False),
        (world.id_of(good_2), True),
    ]
    max_reason = world.settlement.functions.MAX_REASON_BYTES().call()
    assert outcomes[1][2] == b""  # out of gas: no reason
    assert len(outcomes[2][2]) == max_reason
    assert outcomes[2][2][:32] == keccak(b"HostileSecurity.blob")
    instruction_gas = world.settlement.functions.INSTRUCTION_GAS().call()
    assert receipt["gasUsed"] < 2 * instruction_gas + 600_000, "a hostile item took more than its own allowance"
    after = books()
    usd, acme = world.usd.functions.symbol().call(), world.security.functions.symbol().call()
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {
        f"{acme}:{a.address}": -7,
        f"{acme}:{b.address}": 7,
        f"{usd}:{a.address}": 700 * 10**6,
        f"{usd}:{b.address}": -700 * 10**6,
        f"{acme}:{c.address}": -11,
        f"{acme}:{d.address}": 11,
        f"{usd}:{c.address}": 1_100 * 10**6,
        f"{usd}:{d.address}": -1_100 * 10**6,
    }
    assert [world.state(i) for i in (starving, bloating)] == [InstructionState.PENDING] * 2
