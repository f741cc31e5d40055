"""Decoded custom errors: the message a person reads, the raw arguments programs compare, and the
registry of Solidity enums behind the names."""

from __future__ import annotations

import re
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from web3 import Web3

from dfmi_py.api.enums import SOLIDITY_ENUMS, solidity_enum
from dfmi_py.api.netting import RoundState as NettingRoundState
from dfmi_py.api.oracle import RoundState as OracleRoundState
from dfmi_py.build import compile_contracts
from dfmi_py.chain import Chain, dev_account
from dfmi_py.errors import ContractRevertError, NotOnboardedError
from dfmi_py.paths import CONTRACTS_DIR
from tests.helpers import one_line_error

ACCOUNT = "0x" + "11" * 20
#: 2026-11-30T06:55:41Z
T = 1_796_021_741


@pytest.fixture(scope="module")
def decoder() -> Chain:
    """A chain object used only for its artifacts (no node is contacted)."""
    return Chain(Web3(), compile_contracts())


def revert_data(signature: str, *values: Any) -> str:
    """``0x<selector><args>`` as a contract would revert with ``signature``."""
    types = signature[signature.index("(") + 1 : -1].split(",") if not signature.endswith("()") else []
    return "0x" + (keccak(text=signature)[:4] + abi_encode(types, list(values))).hex()


# ---------------------------------------------------------------------- the message


def test_enum_arguments_are_shown_by_name_and_kept_raw(decoder: Chain) -> None:
    decoded = decoder.decode_error(revert_data("NettingInvalidState(uint256,uint8,uint8)", 3, 3, 1))
    assert decoded is not None
    assert decoded.text == "NettingInvalidState(roundId=3, expected=VERIFIED, actual=COLLECTING)"
    assert decoded.args == {"roundId": 3, "expected": 3, "actual": 1}
    assert decoder.decode_error_data(revert_data("NettingInvalidState(uint256,uint8,uint8)", 3, 3, 1)) == (
        "NettingInvalidState",
        {"roundId": 3, "expected": 3, "actual": 1},
    )


def test_role_hashes_are_shown_by_name(decoder: Chain) -> None:
    data = revert_data("AccessControlUnauthorizedAccount(address,bytes32)", ACCOUNT, keccak(text="MINTER_ROLE"))
    decoded = decoder.decode_error(data)
    assert decoded is not None
    assert decoded.text == f"AccessControlUnauthorizedAccount(account={Web3.to_checksum_address(ACCOUNT)}, " \
        "neededRole=MINTER_ROLE)"  # fmt: skip
    assert decoded.args["neededRole"] == "0x" + keccak(text="MINTER_ROLE").hex()


def test_times_are_iso_durations_readable_and_amounts_separated(decoder: Chain) -> None:
    stale = decoder.decode_error(
        revert_data("DerivativeStalePrice(uint80,uint256,uint256,uint256)", 5, T, 3_600, T + 9_000)
    )
    assert stale is not None
    assert stale.text == (
        "DerivativeStalePrice(roundId=5, updatedAt=2026-11-30T06:55:41Z, maxAge=1 h, nowTime=2026-11-30T09:25:41Z)"
    )
    margin = decoder.decode_error(
        revert_data("DerivativeInsufficientMargin(address,uint256,uint256)", ACCOUNT, 1_234_567, 12)
    )
    assert margin is not None
    assert margin.text.endswith("available=1,234,567, amount=12)")
    assert margin.args["available"] == 1_234_567


def test_revert_data_carried_by_an_error_is_decoded_in_turn(decoder: Chain) -> None:
    refused = bytes.fromhex(revert_data("HostileSecurityRefused(address,address,uint256)", ACCOUNT, ACCOUNT, 1_000)[2:])
    data = revert_data(
        "NettingDeliveriesFailed(uint256,uint256[],bytes32[],bytes[])",
        1,
        [0, 1],
        [b"\x01" * 32, b"\x02" * 32],
        [refused, b"\xde\xad"],
    )
    decoded = decoder.decode_error(data)
    assert decoded is not None
    shown = Web3.to_checksum_address(ACCOUNT)
    assert f"reasons=[HostileSecurityRefused(from={shown}, to={shown}, value=1,000), 0xdead])" in decoded.text
    assert decoded.args["reasons"] == (refused, b"\xde\xad")


def test_an_enum_value_out_of_range_is_said_so(decoder: Chain) -> None:
    decoded = decoder.decode_error(revert_data("FundInvalidAction(uint8)", 9))
    assert decoded is not None
    assert decoded.text == "FundInvalidAction(kind=ActionKind(9))"


def test_an_unknown_selector_decodes_to_nothing(decoder: Chain) -> None:
    assert decoder.decode_error("0xdeadbeef") is None
    assert decoder.decode_error_data("0xdeadbeef") is None


def test_the_exception_message_is_the_readable_one_with_its_hint() -> None:
    error = NotOnboardedError(
        "ComplianceAccountNotActive",
        {"account": ACCOUNT, "status": 2},
        "transfer",
        shown=f"ComplianceAccountNotActive(account={ACCOUNT}, status=FROZEN)",
    )
    assert str(error) == (
        f"transfer: reverted with ComplianceAccountNotActive(account={ACCOUNT}, status=FROZEN); "
        f"{ACCOUNT} is frozen; only the compliance officer can unfreeze it"
    )
    assert error.args_by_name == {"account": ACCOUNT, "status": 2}
    plain = ContractRevertError("E", {"a": 1})
    assert (str(plain), plain.shown) == ("reverted with E(a=1)", "E(a=1)")


# ---------------------------------------------------------------------- the enum registry

_ENUM = re.compile(r"^enum (\w+) \{([^}]*)\}", re.MULTILINE)


def _solidity_enums() -> dict[tuple[str, str], list[str]]:
    found = {}
    for path in sorted((CONTRACTS_DIR / "interfaces").glob("*.sol")):
        for name, body in _ENUM.findall(path.read_text()):
            found[(path.stem, name)] = [m.strip() for m in body.split(",") if m.strip()]
    return found


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def test_every_interface_enum_has_its_python_mirror_member_for_member() -> None:
    enums = _solidity_enums()
    assert set(enums) == set(SOLIDITY_ENUMS), "the registry and the interfaces list different enums"
    for key, members in enums.items():
        mirror = SOLIDITY_ENUMS[key]
        assert [(m.name, m.value) for m in mirror] == [(_upper_snake(n), i) for i, n in enumerate(members)], key


def test_a_name_two_interfaces_declare_resolves_by_the_interface_of_the_error() -> None:
    assert solidity_enum("enum RoundState", {"INetting"}) is NettingRoundState
    assert solidity_enum("enum RoundState", {"IPriceOracle"}) is OracleRoundState
    assert solidity_enum("enum RoundState") is None
    assert solidity_enum("enum HostileSecurity.Mode") is None


# ---------------------------------------------------------------------- on the chain


def test_a_refused_transaction_raises_the_readable_error_with_raw_arguments(run, deployment) -> None:
    minter_role = "0x" + keccak(text="MINTER_ROLE").hex()
    outsider = dev_account(7)
    line = one_line_error(run("cash", "mint", outsider.address, "1", "--dev-account", "7"))
    assert line == (
        f"Error: mint: reverted with AccessControlUnauthorizedAccount(account={outsider.address}, "
        "neededRole=MINTER_ROLE)"
    )
    chain = deployment.chain
    with pytest.raises(ContractRevertError) as info:
        chain.transact(deployment.cash.functions.mint(outsider.address, 1), outsider)
    assert info.value.args_by_name == {"account": outsider.address, "neededRole": minter_role}
    assert "neededRole=MINTER_ROLE" in str(info.value)
