"""The Python settlement API and ``dfmi dvp``, against the session's deployed suite.

The suite deploys the security token (issuer: development account 19) and the settlement
contract; here the issuer and (the deployment being made without the officer's key) the
settlement contract are onboarded, and members 0-3 get shares and cash with both approved.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result
from eth_account.signers.local import LocalAccount

from dfmi_py.api.cash import Cash
from dfmi_py.api.settlement import InstructionState, Settlement
from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.roles import DEV_ROLE_INDEX
from dfmi_py.deploy.suite import Deployment
from dfmi_py.errors import ContractRevertError, InputError
from dfmi_py.signing.settlement import instruction_id
from tests.helpers import MAX_UINT256, CliRun, Roles, cli_runner, one_line_error

SHARES = 1_000
CASH = 1_000_000 * 10**6


@pytest.fixture
def api(chain: Chain, deployment: Deployment, roles: Roles) -> Settlement:
    """The suite's settlement contract, with members 0-3 holding shares and cash, both approved."""
    registry, security, cash = deployment.registry, deployment.security, deployment.cash
    issuer = dev_account(DEV_ROLE_INDEX["issuer"])
    for account in (issuer.address, deployment.settlement.address):
        if registry.functions.statusOf(account).call() == 0:
            chain.transact(registry.functions.onboard(account), roles.officer)
    for member in roles.members[:4]:
        chain.transact(security.functions.issue(member.address, SHARES), issuer)
        chain.transact(cash.functions.mint(member.address, CASH), roles.minter)
        chain.transact(security.functions.approve(deployment.settlement.address, MAX_UINT256), member)
        Cash(chain, cash).approve(member, deployment.settlement.address, MAX_UINT256)
    return Settlement(chain, deployment.settlement)


def _trade(api: Settlement, deployment: Deployment, seller: LocalAccount, buyer: LocalAccount, **kw: int):
    return api.dvp(
        seller.address, deployment.security.address, kw.get("quantity", 10), buyer.address,
        deployment.cash.address, kw.get("price", 1_000 * 10**6), nonce=kw.get("nonce"),
    )  # fmt: skip


def test_build_sign_and_settle_a_dvp(api: Settlement, deployment: Deployment, roles: Roles) -> None:
    seller, buyer = roles.members[0], roles.members[1]
    instruction = _trade(api, deployment, seller, buyer)
    assert instruction.nonce == 0
    assert (
        api.instruction_id(instruction)
        == "0x" + bytes(api.contract.functions.hashInstruction(instruction.as_tuple()).call()).hex()
    )
    outcome = api.settle(roles.outsider, api.signed(instruction, seller, buyer))
    assert outcome.settled
    assert outcome.id == api.instruction_id(instruction)
    assert api.state_of(instruction) == InstructionState.SETTLED
    assert deployment.security.functions.balanceOf(buyer.address).call() == SHARES + 10
    assert api.next_nonce(buyer.address, seller.address) == 1  # the pair's space, either order


def test_a_batch_reports_each_outcome_with_the_decoded_error(
    api: Settlement, deployment: Deployment, roles: Roles
) -> None:
    m = roles.members
    good = _trade(api, deployment, m[0], m[1], nonce=0)
    too_big = _trade(api, deployment, m[2], m[3], quantity=SHARES + 1, nonce=0)
    outcomes = api.settle_batch(roles.outsider, [api.signed(good, m[0], m[1]), api.signed(too_big, m[2], m[3])])
    assert [o.settled for o in outcomes] == [True, False]
    assert outcomes[1].error == "ERC20InsufficientBalance"
    assert outcomes[1].error_args == {"sender": m[2].address, "balance": SHARES, "needed": SHARES + 1}
    assert outcomes[1].describe().startswith("failed: ERC20InsufficientBalance(")
    assert api.state_of(too_big) == InstructionState.PENDING


def test_propose_affirm_and_history_as_a_dataframe(api: Settlement, deployment: Deployment, roles: Roles) -> None:
    seller, buyer = roles.members[0], roles.members[1]
    instruction = _trade(api, deployment, seller, buyer)
    api.propose(seller, instruction)
    assert api.proposals_for(buyer.address) == [instruction]
    assert api.approvals_of(instruction) == (True, False)
    assert api.affirm(buyer, instruction).settled
    signed = _trade(api, deployment, buyer, seller, nonce=1)
    api.settle(seller, api.signed(signed, buyer))  # the seller sends it: its own consent

    frame = pd.DataFrame(api.history_records(party=seller.address))
    assert list(frame["kind"]) == ["proposed", "affirmed", "settled", "settled"]
    assert list(frame["id"]) == [api.instruction_id(instruction)] * 3 + [api.instruction_id(signed)]
    assert list(frame["amount_a"]) == [10, 10, 10, 10]
    assert frame.iloc[3]["party_a"] == buyer.address
    assert [e.kind for e in api.history(instruction=signed)] == ["settled"]


def test_bad_input_is_refused_before_anything_is_sent(api: Settlement, deployment: Deployment, roles: Roles) -> None:
    seller, buyer = roles.members[0], roles.members[1]
    with pytest.raises(InputError, match="above zero"):
        _trade(api, deployment, seller, buyer, quantity=0)
    with pytest.raises(InputError, match="with itself"):
        _trade(api, deployment, seller, seller)
    instruction = _trade(api, deployment, seller, buyer)
    with pytest.raises(InputError, match="not a party"):
        api.sign(roles.members[2], instruction)
    with pytest.raises(InputError, match="at least one"):
        api.settle_batch(roles.outsider, [])


def test_a_refused_settlement_raises_the_contracts_error(api: Settlement, deployment: Deployment, roles: Roles) -> None:
    seller, buyer = roles.members[0], roles.members[1]
    instruction = _trade(api, deployment, seller, buyer)
    with pytest.raises(ContractRevertError) as info:
        api.settle(roles.outsider, api.signed(instruction, seller))
    assert info.value.error == "SettlementUnauthorized"
    assert info.value.args_by_name["party"] == buyer.address
    assert api.state_of(instruction) == InstructionState.PENDING


def test_the_off_chain_id_binds_the_domain(api: Settlement, deployment: Deployment, roles: Roles) -> None:
    instruction = _trade(api, deployment, roles.members[0], roles.members[1])
    assert instruction_id(api.domain, instruction).hex() == api.instruction_id(instruction)[2:]
    assert api.domain.verifying_contract == deployment.settlement.address
    assert api.domain.chain_id == api.chain.chain_id


# ---------------------------------------------------------------------- CLI


@pytest.fixture
def run(node, deployment) -> CliRun:
    """Invoke ``dfmi --rpc-url <session node> --deployments-dir <its manifests> ARGS``."""
    return cli_runner(node.rpc_url, deployment.manifest_file.parent)


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_new_sign_settle_status_and_history(api: Settlement, deployment: Deployment, run, tmp_path: Path) -> None:
    seller, buyer = dev_account(7), dev_account(8)
    trade = tmp_path / "trade.json"
    _ok(run("dvp", "new", seller.address, "25", buyer.address, "2500.50", "-o", str(trade)))
    data = json.loads(trade.read_text())
    assert data["instruction"]["amountA"] == 25
    assert data["instruction"]["amountB"] == 2_500_500_000
    assert "PENDING" in _ok(run("dvp", "status", str(trade)))
    _ok(run("dvp", "sign", str(trade), "--dev-account", "7"))
    _ok(run("dvp", "sign", str(trade), "--dev-account", "8"))
    assert "settled" in _ok(run("dvp", "settle", str(trade), "--dev-account", "15"))
    assert "SETTLED" in _ok(run("dvp", "status", str(trade)))
    assert deployment.security.functions.balanceOf(buyer.address).call() == SHARES + 25
    history = _ok(run("dvp", "history", "--party", seller.address))
    assert "settled" in history


def test_cli_batch_with_a_failure_reports_it_and_exits_non_zero(api: Settlement, run, tmp_path: Path) -> None:
    files = []
    for i, (seller, quantity) in enumerate(((7, "5"), (9, str(SHARES + 1)))):
        path = tmp_path / f"t{i}.json"
        _ok(
            run(
                "dvp",
                "new",
                dev_account(seller).address,
                quantity,
                dev_account(seller + 1).address,
                "1",
                "-o",
                str(path),
            )
        )
        _ok(run("dvp", "sign", str(path), "--dev-account", str(seller)))
        _ok(run("dvp", "sign", str(path), "--dev-account", str(seller + 1)))
        files.append(str(path))
    result = run("dvp", "settle", *files, "--dev-account", "15")
    assert result.exit_code == 1
    assert "t0.json 0x" in result.output
    assert ": settled" in result.output
    assert "failed: ERC20InsufficientBalance(" in result.output
    assert "Error: 1 of 2 instructions did not settle" in result.output


def test_cli_errors_are_one_line(api: Settlement, run, tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert "not an instruction file" in one_line_error(run("dvp", "status", str(junk)))
    seller, buyer = dev_account(7), dev_account(8)
    trade = tmp_path / "trade.json"
    _ok(run("dvp", "new", seller.address, "1", buyer.address, "1", "-o", str(trade)))
    _ok(run("dvp", "sign", str(trade), "--dev-account", "7"))
    line = one_line_error(run("dvp", "settle", str(trade), "--dev-account", "15"))
    assert "SettlementUnauthorized" in line
    assert "above zero" in one_line_error(run("dvp", "new", seller.address, "0", buyer.address, "1"))
    assert "not a party" in one_line_error(run("dvp", "sign", str(trade), "--dev-account", "12"))
