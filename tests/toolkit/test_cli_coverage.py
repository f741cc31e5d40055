"""Every state-changing function of the engine, the oracle, the security and the cash token has a
``dfmi`` command that sends it, reachable from ``dfmi --help`` and its group's ``--help``.

The table below maps each function to its command; a function that is in neither the table nor
the exclusions (a new one, say) fails the test, and so does a command the CLI lacks.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dfmi_py.build import compile_contracts
from dfmi_py.cli.main import cli

#: (contract, function) -> the command that sends it.
COMMANDS: dict[tuple[str, str], tuple[str, str]] = {
    ("DerivativeEngine", "propose"): ("trade", "propose"),
    ("DerivativeEngine", "confirm"): ("trade", "confirm"),
    ("DerivativeEngine", "cancel"): ("trade", "cancel"),
    ("DerivativeEngine", "depositMargin"): ("trade", "deposit"),
    ("DerivativeEngine", "withdrawMargin"): ("trade", "withdraw"),
    ("DerivativeEngine", "settle"): ("trade", "settle"),
    ("DerivativeEngine", "settleMany"): ("trade", "settle"),
    ("DerivativeEngine", "cure"): ("trade", "cure"),
    ("DerivativeEngine", "declareDefault"): ("trade", "default"),
    ("DerivativeEngine", "mature"): ("trade", "mature"),
    ("DerivativeEngine", "retryFundClaim"): ("trade", "retry-fund-claim"),
    ("DerivativeEngine", "amend"): ("trade", "amend"),
    ("DerivativeEngine", "terminate"): ("trade", "terminate"),
    ("DerivativeEngine", "setConfig"): ("trade", "config"),
    ("PriceOracle", "submit"): ("oracle", "submit"),
    ("PriceOracle", "propose"): ("oracle", "propose-change"),
    ("PriceOracle", "approve"): ("oracle", "approve-change"),
    ("SecurityToken", "issue"): ("security", "issue"),
    ("SecurityToken", "redeem"): ("security", "redeem"),
    ("SecurityToken", "transfer"): ("security", "transfer"),
    ("SecurityToken", "approve"): ("security", "approve"),
    ("SecurityToken", "pause"): ("security", "pause"),
    ("SecurityToken", "unpause"): ("security", "pause"),
    ("SecurityToken", "syncCompliance"): ("security", "sync"),
    ("CashToken", "approve"): ("cash", "approve"),
    ("CashToken", "mint"): ("cash", "mint"),
    ("CashToken", "burn"): ("cash", "burn"),
    ("CashToken", "transfer"): ("cash", "transfer"),
    ("CashToken", "configureMinter"): ("cash", "configure-minter"),
    ("CashToken", "removeMinter"): ("cash", "remove-minter"),
    ("CashToken", "pause"): ("cash", "pause"),
    ("CashToken", "unpause"): ("cash", "pause"),
    ("CashToken", "syncCompliance"): ("cash", "sync"),
}

_ROLES = "role administration by the admin (a multisig in production); `dfmi deploy --roles` assigns the roles"
_PULL = "a spender's pull: the engine, fund, settlement and netting contracts pull what `approve` allows"
_PERMIT = "an allowance signed off-chain for the spender to submit; a person grants one with `approve`"
_PUSH = "called by the compliance registry only, to push a status change (ComplianceMirrorUnauthorized otherwise)"

_ROLE_FUNCTIONS = ("grantRole", "revokeRole", "renounceRole")

#: (contract, function) -> why no command sends it.
EXCLUDED: dict[tuple[str, str], str] = {
    ("DerivativeEngine", "settleInBatch"): "called by the engine itself inside settleMany (DerivativeOnlyEngine)",
    **{(c, f): _ROLES for c in ("DerivativeEngine", "SecurityToken", "CashToken") for f in _ROLE_FUNCTIONS},
    **{(token, "transferFrom"): _PULL for token in ("SecurityToken", "CashToken")},
    **{(token, "permit"): _PERMIT for token in ("SecurityToken", "CashToken")},
    **{(token, "complianceStatusChanged"): _PUSH for token in ("SecurityToken", "CashToken")},
}  # fmt: skip

CONTRACTS = ("DerivativeEngine", "PriceOracle", "SecurityToken", "CashToken")


def _state_changing(contract: str) -> set[str]:
    abi = compile_contracts()[contract].abi
    return {f["name"] for f in abi if f["type"] == "function" and f["stateMutability"] not in ("view", "pure")}


@pytest.mark.parametrize("contract", CONTRACTS)
def test_every_state_changing_function_has_a_command_or_a_reason(contract):
    functions = _state_changing(contract)
    covered = {f for c, f in COMMANDS if c == contract}
    excluded = {f for c, f in EXCLUDED if c == contract}
    assert not covered & excluded
    assert functions - covered - excluded == set(), "functions with no command and no reason"
    assert (covered | excluded) - functions == set(), "table entries for functions the contract lacks"


def test_every_command_of_the_table_is_listed_in_its_groups_help():
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0, top.output
    groups = {group for group, _ in COMMANDS.values()}
    for group in sorted(groups):
        assert f"  {group} " in top.output, f"dfmi --help does not list {group}"
        listing = runner.invoke(cli, [group, "--help"])
        assert listing.exit_code == 0, listing.output
        commands = [line.split()[0] for line in listing.output.split("Commands:")[1].splitlines() if line.strip()]
        for wanted in sorted({name for g, name in COMMANDS.values() if g == group}):
            assert wanted in commands, f"dfmi {group} --help does not list {wanted}"
            help_text = runner.invoke(cli, [group, wanted, "--help"])
            assert help_text.exit_code == 0, help_text.output
