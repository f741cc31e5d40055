"""Every bad input on the command line: one line that says what was wrong and what to do, and
nothing lost.

Each row of :data:`CASES` is a command a new user might type, with the environment and the files
it finds, and the message it must get (a regex searched in the one line). Every case checks:
the command exits non-zero, and not with the last-resort code (every case has its own message);
its output (stdout and stderr together) is exactly one non-blank line starting ``Error: ``, with
no traceback; the chain is unchanged (same head block and hash: nothing was mined); and every file
in the case's folder and among the manifests is unchanged.

Usage errors (click's: an unknown option, a missing or malformed argument) exit 2 and end with the
command's help; the toolkit's own errors exit 1; the services' configuration errors exit 78 (see
the README's CLI notes).

The placeholders in a case's arguments: ``{tmp}`` the case's folder (also its working directory),
``{settled}`` / ``{open}`` the settled and the collecting netting round, ``{frozen}`` a frozen
member, ``{port}`` the session node's port, ``{not_a_node}`` a web server that is not a node.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from dfmi_py.chain import Chain
from dfmi_py.cli.common import UNEXPECTED_EXIT_CODE, apply_each, pulled_from_wallet
from dfmi_py.cli.main import cli
from dfmi_py.errors import ContractRevertError, InputError, TransactionError
from tests.badinput.conftest import World

ALICE = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"  # development account 7, a member with cash
BOB = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"  # 8, a member with cash
OUTSIDER = "0xcd3B766CCDd6AE721141F452C550Ca635964ce71"  # 15, never onboarded
BAD_CHECKSUM = "0x14dc79964da2C08b23698B3D3cc7Ca32193d9955"  # ALICE with one letter's case changed
ZERO_ADDRESS = "0x" + "0" * 40
NO_CONTRACT = "0x000000000000000000000000000000000000dEaD"
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

#: Keys a user might put in the signer's variable by mistake.
KEYS = {
    "EMPTY_KEY": "",
    "ZERO_KEY": "0x" + "00" * 32,
    "ORDER_KEY": hex(CURVE_ORDER),
    "HUGE_KEY": "0x" + "ff" * 32,
    "NOT_HEX_KEY": "0x" + "zz" * 32,
    "SHORT_KEY": "0x1234",
    "LONG_KEY": "0x" + "11" * 33,
}

SIGN7 = ("--dev-account", "7")
OFFICER = ("--dev-account", "1")
TRANSFER = ("cash", "transfer", BOB)
NOT_BOTH_DIR = "{tmp}/missing-folder/out.json"

#: Files cases find in their folder: name -> content (a callable gets the world).
FileContent = str | Callable[[World], str]

MALFORMED_JSON = '{"instruction": {"partyA": '
MALFORMED_TOML = "[market\nname = 'x'\n"
FEEDER_EXAMPLE = (Path(__file__).parents[2] / "examples" / "feeder.toml").read_text()


def _manifest_of_another_chain(world: World) -> str:
    (manifest,) = world.deployments_dir.glob("*.json")
    data = json.loads(manifest.read_text())
    data["chain_id"] = 1
    return json.dumps(data)


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        id: The test's name.
        args: The command's arguments, after the global options.
        expect: A regex the one error line must contain.
        env: Environment variables for the command (``None`` unsets one).
        files: Files created in the case's folder first.
        connect: Put ``--rpc-url`` and ``--deployments-dir`` of the session chain first.
        pre: Global options placed before ``args`` instead (with ``connect`` false).
    """

    id: str
    args: tuple[str, ...]
    expect: str
    env: dict[str, str | None] = field(default_factory=dict)
    files: dict[str, FileContent] = field(default_factory=dict)
    connect: bool = True
    pre: tuple[str, ...] = ()


def case(id_: str, *args: str, expect: str, **kw: object) -> Case:
    return Case(id_, args, expect, **kw)  # type: ignore[arg-type]


NEGATIVE = r"a negative number \(-\d…\) where amounts, prices, ids and durations are positive; see 'dfmi "
USAGE_HINT = r"; see 'dfmi [a-z -]+--help'$"

CASES: list[Case] = [
    # ------------------------------------------------------------------ the command line itself
    case("unknown-command", "frobnicate", expect=r"No such command 'frobnicate'; see 'dfmi --help'$"),
    case("unknown-subcommand", "cash", "frobnicate", expect=r"No such command 'frobnicate'; see 'dfmi cash --help'$"),
    case(
        "misspelt-option",
        *TRANSFER,
        "5",
        "--dev-acount",
        "7",
        expect=r"No such option: --dev-acount \(did you mean --dev-account\?\); see 'dfmi cash transfer --help'$",
    ),
    case(
        "global-option-after-command",
        "status",
        "--rpc-url",
        "http://127.0.0.1:8545",
        expect=r"--rpc-url is an option of dfmi itself: give it before the command \(dfmi --rpc-url … status\)",
    ),
    case("unknown-global-option", "--bogus", "status", expect=r"No such option: --bogus.*; see 'dfmi --help'$"),
    case("extra-argument", "status", "now", expect=r"Got unexpected extra argument \(now\); see 'dfmi status --help'$"),
    # ------------------------------------------------------------------ node
    case(
        "node-port-taken",
        "node",
        "--port",
        "{port}",
        expect=r"port \d+ on 127\.0\.0\.1 is in use \(a JSON-RPC node of chain id 31337 answers there\); "
        r"choose another port",
    ),
    case("node-port-zero", "node", "--port", "0", expect=r"Invalid value for '--port': 0 is not in the range"),
    case("node-port-too-high", "node", "--port", "70000", expect=r"'--port': 70000 is not in the range 1<=x<=65535"),
    case("node-no-accounts", "node", "--accounts", "0", expect=r"'--accounts': 0 is not in the range 1<=x<=1000"),
    case(
        "node-negative-block-time",
        "node",
        "--block-time",
        "-1",
        expect=r"'--block-time': -1\.0 is not in the range x>0",
    ),
    case(
        "node-chain-id-not-a-number",
        "node",
        "--chain-id",
        "mainnet",
        expect=r"'--chain-id': 'mainnet' is not a whole number; see 'dfmi node --help'$",
    ),
    # ------------------------------------------------------------------ RPC URLs and manifests
    case(
        "rpc-unreachable",
        "status",
        connect=False,
        pre=("--rpc-url", "http://127.0.0.1:1"),
        expect=r"no Ethereum JSON-RPC node answers at http://127\.0\.0\.1:1 .*check the URL",
    ),
    case(
        "rpc-not-http",
        "status",
        connect=False,
        pre=("--rpc-url", "ws://127.0.0.1:8545"),
        expect=r"RPC URL must start with http:// or https://",
    ),
    case(
        "rpc-not-a-node",
        "status",
        connect=False,
        pre=("--rpc-url", "{not_a_node}"),
        expect=r"no Ethereum JSON-RPC node answers at http://127\.0\.0\.1:\d+",
    ),
    case(
        "rpc-missing",
        "cash",
        "balance",
        ALICE,
        connect=False,
        env={"DFMI_RPC_URL": None},
        expect=r"no chain given: pass --rpc-url URL or set DFMI_RPC_URL",
    ),
    case(
        "manifest-missing",
        "status",
        connect=False,
        pre=("--rpc-url", "{rpc}", "--deployments-dir", "{tmp}"),
        expect=r"no deployment manifest for chain 31337 .*: run `dfmi deploy` against this chain",
    ),
    case(
        "manifest-of-another-chain",
        "status",
        connect=False,
        pre=("--rpc-url", "{rpc}", "--deployments-dir", "{tmp}/manifests"),
        files={"manifests/MANIFEST": _manifest_of_another_chain},
        expect=r"the manifest .* records chain 1 with genesis 0x[0-9a-f]+, but this chain is 31337",
    ),
    case(
        "deployments-dir-is-a-file",
        "status",
        connect=False,
        pre=("--rpc-url", "{rpc}", "--deployments-dir", "{tmp}/file"),
        files={"file": "x"},
        expect=r"Invalid value for '--deployments-dir': Directory '.*file' is a file",
    ),
    # ------------------------------------------------------------------ deploy, demo, status, advance
    case(
        "deploy-config-missing",
        "deploy",
        "--config",
        "{tmp}/market.toml",
        "--dev-account",
        "0",
        expect=r"Invalid value for '--config': File '.*market\.toml' does not exist",
    ),
    case(
        "deploy-config-malformed",
        "deploy",
        "--config",
        "{tmp}/market.toml",
        "--dev-account",
        "0",
        files={"market.toml": MALFORMED_TOML},
        expect=r"market\.toml: not valid TOML: Expected ']' at the end of a table",
    ),
    case(
        "deploy-config-unknown-key",
        "deploy",
        "--config",
        "{tmp}/market.toml",
        "--dev-account",
        "0",
        files={"market.toml": "colour = 'blue'\n"},
        expect=r"market\.toml: unknown key 'colour'$",
    ),
    case("deploy-config-directory", "deploy", "--config", "{tmp}", expect=r"'--config': File '.*' is a directory"),
    case(
        "deploy-roles-malformed",
        "deploy",
        "--roles",
        "{tmp}/roles.json",
        "--dev-account",
        "0",
        files={"roles.json": "{"},
        expect=r"roles\.json: not a roles file \(the file: Invalid JSON: EOF while parsing",
    ),
    case(
        "deploy-roles-bad-address",
        "deploy",
        "--roles",
        "{tmp}/roles.json",
        "--dev-account",
        "0",
        files={"roles.json": json.dumps({"admin": "0x1234"})},
        expect=r"roles\.json: not a roles file \(admin: Value error, '0x1234' is not an Ethereum address; ",
    ),
    case(
        "deploy-key-unset",
        "deploy",
        env={"DFMI_PRIVATE_KEY": None},
        expect=r"\$DFMI_PRIVATE_KEY is not set: put the signer's private key .* --dev-account N",
    ),
    case(
        "deploy-negative-dev-account",
        "deploy",
        "--dev-account",
        "-3",
        expect=r"'--dev-account': -3 is not in the range 0<=x<=2147483647",
    ),
    case(
        "demo-unreachable",
        "demo",
        connect=False,
        pre=("--rpc-url", "http://127.0.0.1:1"),
        expect=r"no Ethereum JSON-RPC node answers",
    ),
    case("advance-negative", "advance", "-5", expect=NEGATIVE + "advance --help'$"),
    case("advance-zero", "advance", "0", expect=r"a duration must be positive, got '0'"),
    case("advance-not-a-duration", "advance", "1x", expect=r"'1x' is not a duration \(e\.g\. 3600, 90s"),
    case("advance-empty", "advance", "", expect=r"'' is not a duration"),
    # ------------------------------------------------------------------ accounts
    case("accounts-not-hex", "accounts", "0xzz", expect=r"'0xzz' is not an Ethereum address"),
    case(
        "accounts-wrong-checksum",
        "accounts",
        BAD_CHECKSUM,
        expect=r"has a wrong EIP-55 checksum \(a typo\?\): did you mean 0x14dC79964da2C08b23698B3D3cc7Ca32193d9955\?",
    ),
    case("accounts-ens-name", "accounts", "alice.eth", expect=r"'alice\.eth' is not an Ethereum address"),
    # ------------------------------------------------------------------ compliance
    case(
        "compliance-not-officer",
        "compliance",
        "onboard",
        OUTSIDER,
        *SIGN7,
        expect=r"nothing was sent: it would fail: onboard 0xcd3B.*AccessControlUnauthorizedAccount\("
        r"account=0x14dC79964da2C08b23698B3D3cc7Ca32193d9955, neededRole=COMPLIANCE_ROLE\)",
    ),
    case(
        "compliance-one-of-two-fails",
        "compliance",
        "freeze",
        ALICE,
        OUTSIDER,
        *OFFICER,
        expect=r"nothing was sent: 1 of 2 would fail: freeze 0xcd3B.*ComplianceInvalidStatus\(.*actual=NONE\)",
    ),
    case(
        "compliance-given-twice",
        "compliance",
        "freeze",
        ALICE,
        ALICE,
        *OFFICER,
        expect=r"0x14dC79964da2C08b23698B3D3cc7Ca32193d9955 is given twice: give each once \(nothing was sent\)",
    ),
    case(
        "compliance-second-address-malformed",
        "compliance",
        "freeze",
        ALICE,
        "0xbad",
        *OFFICER,
        expect=r"'0xbad' is not an Ethereum address",
    ),
    case(
        "compliance-unfreeze-active",
        "compliance",
        "unfreeze",
        ALICE,
        *OFFICER,
        expect=r"ComplianceInvalidStatus\(account=0x14dC.*, actual=ACTIVE\)",
    ),
    case("compliance-onboard-frozen", "compliance", "onboard", "{frozen}", *OFFICER, expect=r"actual=FROZEN"),
    case("compliance-status-missing", "compliance", "status", expect=r"Missing argument 'ACCOUNTS\.\.\.'"),
    case("compliance-status-wrong-checksum", "compliance", "status", BAD_CHECKSUM, expect=r"wrong EIP-55 checksum"),
    case(
        "regulator-key-exists",
        "compliance",
        "regulator-key",
        "new",
        "{tmp}/reg.key",
        files={"reg.key": "x"},
        expect=r"reg\.key exists: a key file is never overwritten",
    ),
    case(
        "regulator-key-unwritable",
        "compliance",
        "regulator-key",
        "new",
        "{tmp}/missing-folder/reg.key",
        expect=r"cannot write the key file .*reg\.key: No such file or directory",
    ),
    case(
        "regulator-key-not-hex",
        "compliance",
        "regulator-key",
        "publish",
        "--public-key",
        "zz",
        "--dev-account",
        "2",
        expect=r"--public-key 'zz' is not hex",
    ),
    case(
        "regulator-key-none-given",
        "compliance",
        "regulator-key",
        "publish",
        "--dev-account",
        "2",
        expect=r"give the disclosure key once: --public-key HEX, --key-file FILE or --disclosure-key-env VAR",
    ),
    case(
        "regulator-key-file-zero",
        "compliance",
        "regulator-key",
        "publish",
        "--key-file",
        "{tmp}/reg.key",
        "--dev-account",
        "2",
        files={"reg.key": "0x" + "00" * 32},
        expect=r"reg\.key does not hold a valid private key: it is zero \(secp256k1 keys lie in 1\.\.n-1\)",
    ),
    case(
        "regulator-key-file-missing",
        "compliance",
        "regulator-key",
        "publish",
        "--key-file",
        "{tmp}/reg.key",
        "--dev-account",
        "2",
        expect=r"cannot read the key file .*reg\.key: No such file or directory",
    ),
    case(
        "regulator-key-env-beyond-order",
        "compliance",
        "regulator-key",
        "publish",
        "--disclosure-key-env",
        "ORDER_KEY",
        "--dev-account",
        "2",
        expect=r"\$ORDER_KEY .*not below the curve's order",
    ),
    case(
        "identity-file-missing",
        "compliance",
        "identity",
        "record",
        ALICE,
        "--file",
        "{tmp}/id.json",
        *OFFICER,
        expect=r"cannot read the identity file .*id\.json: No such file or directory",
    ),
    case(
        "identity-file-malformed",
        "compliance",
        "identity",
        "record",
        ALICE,
        "--file",
        "{tmp}/id.json",
        *OFFICER,
        files={"id.json": "{"},
        expect=r"id\.json: an identity record must be a JSON object",
    ),
    case(
        "identity-viewer-key-not-hex",
        "compliance",
        "identity",
        "show",
        "--viewer-key-env",
        "NOT_HEX_KEY",
        expect=r"\$NOT_HEX_KEY does not hold a private key: it is not hex",
    ),
    case(
        "identity-proof-unwritable",
        "compliance",
        "identity",
        "proof",
        "--out",
        "{tmp}/missing-folder/p.json",
        *SIGN7,
        expect=r"cannot write .*p\.json: No such file or directory",
    ),
    # ------------------------------------------------------------------ keys
    case(
        "key-unset",
        *TRANSFER,
        "5",
        env={"DFMI_PRIVATE_KEY": None},
        expect=r"\$DFMI_PRIVATE_KEY is not set: put the signer's private key \(64 hex digits\) in it, name another "
        r"variable with --key-env, or on a devnet sign with --dev-account N",
    ),
    case("key-env-unset", *TRANSFER, "5", "--key-env", "NO_SUCH_VARIABLE", expect=r"\$NO_SUCH_VARIABLE is not set"),
    case(
        "key-empty",
        *TRANSFER,
        "5",
        "--key-env",
        "EMPTY_KEY",
        expect=r"\$EMPTY_KEY is not set to a key \(it is empty\): put the signer's",
    ),
    case(
        "key-zero",
        *TRANSFER,
        "5",
        "--key-env",
        "ZERO_KEY",
        expect=r"\$ZERO_KEY does not hold a valid private key: it is zero \(secp256k1 keys lie in 1\.\.n-1\)",
    ),
    case("key-curve-order", *TRANSFER, "5", "--key-env", "ORDER_KEY", expect=r"it is not below the curve's order"),
    case("key-all-ones", *TRANSFER, "5", "--key-env", "HUGE_KEY", expect=r"it is not below the curve's order"),
    case(
        "key-not-hex",
        *TRANSFER,
        "5",
        "--key-env",
        "NOT_HEX_KEY",
        expect=r"\$NOT_HEX_KEY does not hold a private key: it is not hex \(expected 64 hex digits\)",
    ),
    case(
        "key-short",
        *TRANSFER,
        "5",
        "--key-env",
        "SHORT_KEY",
        expect=r"\$SHORT_KEY does not hold a private key: 4 hex digits where a key has 64",
    ),
    case("key-long", *TRANSFER, "5", "--key-env", "LONG_KEY", expect=r"66 hex digits where a key has 64"),
    case(
        "dev-account-negative",
        *TRANSFER,
        "5",
        "--dev-account",
        "-1",
        expect=r"Invalid value for '--dev-account': -1 is not in the range 0<=x<=2147483647; "
        r"see 'dfmi cash transfer --help'$",
    ),
    case(
        "dev-account-not-a-number",
        *TRANSFER,
        "5",
        "--dev-account",
        "alice",
        expect=r"'--dev-account': 'alice' is not a whole number",
    ),
    # ------------------------------------------------------------------ cash: addresses
    case(
        "cash-to-wrong-checksum",
        "cash",
        "transfer",
        BAD_CHECKSUM,
        "5",
        *SIGN7,
        expect=r"'0x14dc79964da2C08b23698B3D3cc7Ca32193d9955' has a wrong EIP-55 checksum",
    ),
    case("cash-to-short", "cash", "transfer", "0x1234", "5", *SIGN7, expect=r"'0x1234' is not an Ethereum address"),
    case("cash-to-not-hex", "cash", "transfer", "0x" + "g" * 40, "5", *SIGN7, expect=r"is not an Ethereum address"),
    case("cash-to-ens", "cash", "transfer", "bob.eth", "5", *SIGN7, expect=r"'bob\.eth' is not an Ethereum address"),
    case(
        "cash-to-zero-address",
        "cash",
        "transfer",
        ZERO_ADDRESS,
        "5",
        *SIGN7,
        expect=r"TO is the zero address: tokens sent there are lost; give the recipient's address",
    ),
    case(
        "cash-to-outsider",
        "cash",
        "transfer",
        OUTSIDER,
        "5",
        *SIGN7,
        expect=r"ComplianceAccountNotActive\(account=0xcd3B.*status=NONE\); .* is not onboarded; ask the compliance "
        r"officer",
    ),
    case(
        "cash-to-frozen",
        "cash",
        "transfer",
        "{frozen}",
        "5",
        *SIGN7,
        expect=r"status=FROZEN\); .* is frozen; only the compliance officer can unfreeze it",
    ),
    case("cash-from-outsider", *TRANSFER, "5", "--dev-account", "15", expect=r"ComplianceAccountNotActive"),
    # ------------------------------------------------------------------ cash: amounts
    case("cash-amount-negative", *TRANSFER, "-5", *SIGN7, expect=NEGATIVE + "cash transfer --help'$"),
    case("cash-amount-negative-fraction", *TRANSFER, "-0.5", *SIGN7, expect=NEGATIVE),
    case("cash-amount-zero", *TRANSFER, "0", *SIGN7, expect=r"AMOUNT is zero: give an amount above zero"),
    case(
        "cash-amount-exponent",
        *TRANSFER,
        "1e3",
        *SIGN7,
        expect=r"AMOUNT '1e3' is not an amount: write plain digits with an optional decimal point",
    ),
    case("cash-amount-nan", *TRANSFER, "NaN", *SIGN7, expect=r"AMOUNT 'NaN' is not an amount"),
    case("cash-amount-infinity", *TRANSFER, "inf", *SIGN7, expect=r"AMOUNT 'inf' is not an amount"),
    case("cash-amount-empty", *TRANSFER, "", *SIGN7, expect=r"AMOUNT is empty: give a number such as 12\.50"),
    case("cash-amount-separator", *TRANSFER, "1,000", *SIGN7, expect=r"AMOUNT '1,000' is not an amount"),
    case(
        "cash-amount-too-precise",
        *TRANSFER,
        "1.0000001",
        *SIGN7,
        expect=r"AMOUNT '1\.0000001' has more than 6 decimal places \(the token's precision\)",
    ),
    case(
        "cash-amount-beyond-uint256",
        *TRANSFER,
        "1" + "0" * 80,
        *SIGN7,
        expect=r"is too large: it does not fit a uint256 in token units",
    ),
    case(
        "cash-amount-beyond-balance",
        *TRANSFER,
        "1000000",
        *SIGN7,
        expect=r"ERC20InsufficientBalance\(.*\); fund the account first",
    ),
    case("cash-mint-not-minter", "cash", "mint", ALICE, "5", *SIGN7, expect=r"neededRole=MINTER_ROLE"),
    case("cash-mint-zero", "cash", "mint", ALICE, "0", "--dev-account", "4", expect=r"AMOUNT is zero"),
    case("cash-burn-not-burner", "cash", "burn", "5", *SIGN7, expect=r"AccessControlUnauthorizedAccount"),
    case(
        "cash-configure-minter-not-master",
        "cash",
        "configure-minter",
        ALICE,
        "5",
        *SIGN7,
        expect=r"AccessControlUnauthorizedAccount",
    ),
    case(
        "cash-configure-minter-negative", "cash", "configure-minter", ALICE, "-5", "--dev-account", "3", expect=NEGATIVE
    ),
    case("cash-pause-not-pauser", "cash", "pause", *SIGN7, expect=r"AccessControlUnauthorizedAccount"),
    case(
        "cash-approve-unknown-spender",
        "cash",
        "approve",
        "bank",
        "5",
        *SIGN7,
        expect=r"unknown spender 'bank': give an address or one of engine, engine:NAME",
    ),
    case(
        "cash-approve-unknown-engine",
        "cash",
        "approve",
        "engine:GOLD",
        "5",
        *SIGN7,
        expect=r"no market 'GOLD': this deployment has ACME",
    ),
    case(
        "cash-approve-amount-and-max",
        "cash",
        "approve",
        "fund",
        "5",
        "--max",
        *SIGN7,
        expect=r"give an AMOUNT \(0 revokes\) or --max for an unlimited allowance, not both",
    ),
    case("cash-approve-neither", "cash", "approve", "fund", *SIGN7, expect=r"give an AMOUNT \(0 revokes\) or --max"),
    case("cash-approve-negative", "cash", "approve", "fund", "-1", *SIGN7, expect=NEGATIVE),
    case("cash-allowance-bad-owner", "cash", "allowance", "0xzz", "fund", expect=r"'0xzz' is not an Ethereum address"),
    case("cash-balance-missing", "cash", "balance", expect=r"Missing argument 'ACCOUNTS\.\.\.'"),
    case("cash-sync-twice", "cash", "sync", ALICE, ALICE, *SIGN7, expect=r"is given twice: give each once"),
    # ------------------------------------------------------------------ security
    case("security-issue-not-issuer", "security", "issue", ALICE, "5", *SIGN7, expect=r"neededRole=ISSUER_ROLE"),
    case("security-issue-negative", "security", "issue", ALICE, "-5", "--dev-account", "19", expect=NEGATIVE),
    case("security-transfer-exponent", "security", "transfer", BOB, "1e3", *SIGN7, expect=r"'1e3' is not an amount"),
    case("security-redeem-zero", "security", "redeem", "0", "--dev-account", "19", expect=r"AMOUNT is zero"),
    case("security-balance-bad", "security", "balance", "0x12", expect=r"'0x12' is not an Ethereum address"),
    case(
        "security-approve-both",
        "security",
        "approve",
        "settlement",
        "5",
        "--max",
        *SIGN7,
        expect=r"give an AMOUNT \(0 revokes\) or --max for an unlimited allowance, not both",
    ),
    # ------------------------------------------------------------------ dvp
    case("dvp-new-wrong-checksum", "dvp", "new", BAD_CHECKSUM, "10", BOB, "100", expect=r"wrong EIP-55 checksum"),
    case("dvp-new-negative-quantity", "dvp", "new", ALICE, "-10", BOB, "100", expect=NEGATIVE),
    case(
        "dvp-new-zero-price", "dvp", "new", ALICE, "10", BOB, "0", expect=r"AMOUNT is zero: give an amount above zero"
    ),
    case(
        "dvp-new-token-without-code",
        "dvp",
        "new",
        ALICE,
        "10",
        BOB,
        "100",
        "--security",
        NO_CONTRACT,
        expect=r"no contract at 0x000000000000000000000000000000000000dEaD on this chain: give the token's address",
    ),
    case(
        "dvp-status-missing-file",
        "dvp",
        "status",
        "{tmp}/trade.json",
        expect=r"Invalid value for 'FILES\.\.\.': File '.*trade\.json' does not exist",
    ),
    case("dvp-status-directory", "dvp", "status", "{tmp}", expect=r"is a directory"),
    case(
        "dvp-status-malformed",
        "dvp",
        "status",
        "{tmp}/trade.json",
        files={"trade.json": MALFORMED_JSON},
        expect=r"trade\.json: not an instruction file \(JSONDecodeError",
    ),
    case(
        "dvp-sign-not-json",
        "dvp",
        "sign",
        "{tmp}/trade.json",
        *SIGN7,
        files={"trade.json": "hello"},
        expect=r"trade\.json: not an instruction file",
    ),
    case(
        "dvp-settle-incomplete",
        "dvp",
        "settle",
        "{tmp}/trade.json",
        *SIGN7,
        files={"trade.json": "{}"},
        expect=r"trade\.json: not an instruction file \(KeyError",
    ),
    case("dvp-history-bad-party", "dvp", "history", "--party", "0xzz", expect=r"'0xzz' is not an Ethereum address"),
    case(
        "dvp-history-negative-block",
        "dvp",
        "history",
        "--from-block",
        "-1",
        expect=r"'--from-block': -1 is not in the range x>=0",
    ),
    # ------------------------------------------------------------------ fund
    case("fund-join-negative", "fund", "join", "-5", *SIGN7, expect=NEGATIVE + "fund join --help'$"),
    case("fund-join-zero", "fund", "join", "0", *SIGN7, expect=r"AMOUNT is zero"),
    case("fund-join-outsider", "fund", "join", "5", "--dev-account", "15", expect=r"ComplianceAccountNotActive"),
    case(
        "fund-contribute-not-member",
        "fund",
        "contribute",
        "5",
        *SIGN7,
        expect=r"contribute the default fund: reverted with FundNotMember\(account=" + ALICE + r"\)",
    ),
    # Checked before the approval these commands send first: nothing is approved for an action refused.
    case(
        "fund-join-below-the-floor",
        "fund",
        "join",
        "5",
        *SIGN7,
        expect=r"join the default fund: reverted with FundBelowRequirement\(member=0x14dC.*, balance=5,000,000, "
        r"requirement=1,000,000,000\)",
    ),
    case(
        "net-fund-settled-round",
        "net",
        "fund",
        "{settled}",
        "5",
        *SIGN7,
        expect=r"fund round 1: reverted with NettingInvalidState\(roundId=1, expected=CLOSED, actual=SETTLED\)",
    ),
    case(
        "fund-propose-unknown-action",
        "fund",
        "propose",
        "nosuch",
        expect=r"Invalid value for 'NAME': 'nosuch' is not one of 'deregister-engine', ",
    ),
    case(
        "fund-approve-missing-file",
        "fund",
        "approve",
        "{tmp}/action.json",
        *SIGN7,
        expect=r"'PATH': File '.*action\.json' does not exist",
    ),
    case(
        "fund-approve-malformed",
        "fund",
        "approve",
        "{tmp}/action.json",
        *SIGN7,
        files={"action.json": MALFORMED_JSON},
        expect=r"action\.json: not an action file \(JSONDecodeError",
    ),
    case(
        "fund-execute-malformed",
        "fund",
        "execute",
        "{tmp}/action.json",
        *SIGN7,
        files={"action.json": "[]"},
        expect=r"action\.json: not an action file \(TypeError",
    ),
    case("fund-flag-bad-member", "fund", "flag", "0xzz", *SIGN7, expect=r"'0xzz' is not an Ethereum address"),
    # ------------------------------------------------------------------ net
    case(
        "net-approve-settled-round",
        "net",
        "approve",
        "{settled}",
        *SIGN7,
        expect=r"round 1 is SETTLED: it moves nothing any more, so nothing to approve \(an allowance now would be "
        r"left for a later round to spend\)",
    ),
    case(
        "net-approve-unknown-round",
        "net",
        "approve",
        "99",
        *SIGN7,
        expect=r"there is no round 99 \(rounds so far: 2\): nothing to approve",
    ),
    case("net-approve-negative-round", "net", "approve", "-1", *SIGN7, expect=NEGATIVE + "net approve --help'$"),
    case("net-approve-round-zero", "net", "approve", "0", *SIGN7, expect=r"'ROUND_ID': 0 is not in the range x>=1"),
    case("net-approve-no-debit", "net", "approve", "{open}", *SIGN7, expect=r"has no net debit in round 2"),
    case("net-fund-negative", "net", "fund", "{open}", "-5", *SIGN7, expect=NEGATIVE),
    case("net-fund-exponent", "net", "fund", "{open}", "1e3", *SIGN7, expect=r"'1e3' is not an amount"),
    case("net-withdraw-nothing-free", "net", "withdraw", "{open}", *SIGN7, expect=r"has no free funding in round 2"),
    case("net-new-same-parties", "net", "new", "{open}", ALICE, ALICE, "5", expect=r"0x14dC.* cannot owe itself"),
    case("net-new-zero", "net", "new", "{open}", ALICE, BOB, "0", expect=r"AMOUNT is zero"),
    case(
        "net-new-unwritable",
        "net",
        "new",
        "{open}",
        ALICE,
        BOB,
        "5",
        "-o",
        NOT_BOTH_DIR,
        expect=r"cannot write .*out\.json: No such file or directory",
    ),
    case(
        "net-compute-missing-columns",
        "net",
        "compute",
        "{tmp}/o.csv",
        files={"o.csv": "from,to,value\na,b,1\n"},
        expect=r"o\.csv: needs columns payer,payee,amount",
    ),
    case(
        "net-compute-negative-row",
        "net",
        "compute",
        "{tmp}/o.csv",
        files={"o.csv": f"payer,payee,amount\n{ALICE},{BOB},-5\n"},
        expect=r"o\.csv line 2: amount must be a non-negative number, got '-5'",
    ),
    case(
        "net-register-malformed",
        "net",
        "register",
        "{tmp}/o.json",
        *SIGN7,
        files={"o.json": MALFORMED_JSON},
        expect=r"o\.json: not an obligation file \(JSONDecodeError",
    ),
    case(
        "net-enter-malformed",
        "net",
        "enter",
        "{open}",
        "{tmp}/t.json",
        *SIGN7,
        files={"t.json": "{}"},
        expect=r"t\.json: not an instruction file",
    ),
    case(
        "net-close-unknown-round",
        "net",
        "close",
        "99",
        *SIGN7,
        expect=r"close round 99: reverted with NettingUnknownRound\(roundId=99\)",
    ),
    case(
        "net-settle-settled-round",
        "net",
        "settle",
        "{settled}",
        *SIGN7,
        expect=r"NettingInvalidState\(roundId=1, expected=VERIFIED, actual=SETTLED\)",
    ),
    case(
        "net-show-unknown-round",
        "net",
        "show",
        "99",
        expect=r"read round 99: reverted with NettingUnknownRound\(roundId=99\)",
    ),
    case("net-exclude-bad-member", "net", "exclude", "{open}", "0xzz", *SIGN7, expect=r"'0xzz' is not an Ethereum"),
    # ------------------------------------------------------------------ books and report
    case("books-unknown-view", "books", "nosuchview", expect=r"unknown view 'nosuchview': one of positions, exposure"),
    case(
        "books-unknown-market",
        "books",
        "positions",
        "--market",
        "GOLD",
        expect=r"no market 'GOLD': this deployment has ACME",
    ),
    case(
        "books-csv-unwritable",
        "books",
        "positions",
        "--csv",
        NOT_BOTH_DIR,
        expect=r"cannot write .*out\.json: its folder .* does not exist",
    ),
    case("books-csv-directory", "books", "positions", "--csv", "{tmp}", expect=r"is a directory"),
    case(
        "books-viewer-key-zero",
        "books",
        "positions",
        "--viewer-key-env",
        "ZERO_KEY",
        expect=r"\$ZERO_KEY does not hold a valid private key: it is zero",
    ),
    case("report-format-missing", "report", "tr", expect=r"Missing option '--format'\. Choose from: csv, json"),
    case("report-format-unknown", "report", "tr", "--format", "xml", expect=r"'xml' is not one of 'csv', 'json'"),
    case(
        "report-date-invalid",
        "report",
        "tr",
        "--format",
        "csv",
        "--from",
        "2026-13-01",
        expect=r"--from 2026-13-01: not a date \(YYYY-MM-DD, UTC\) or a block number",
    ),
    case(
        "report-block-beyond-head",
        "report",
        "tr",
        "--format",
        "csv",
        "--from",
        "99999999",
        expect=r"block 99999999 is beyond the chain's head, block \d+",
    ),
    case(
        "report-reversed-window",
        "report",
        "tr",
        "--format",
        "csv",
        "--from",
        "10",
        "--to",
        "5",
        expect=r"--from block 10 is after --to block 5",
    ),
    case(
        "report-out-unwritable",
        "report",
        "tr",
        "--format",
        "csv",
        "--out",
        NOT_BOTH_DIR,
        expect=r"cannot write .*out\.json: there is no folder",
    ),
    case(
        "report-viewer-key-unset",
        "report",
        "tr",
        "--format",
        "csv",
        "--viewer-key-env",
        "NO_SUCH_VARIABLE",
        expect=r"\$NO_SUCH_VARIABLE is not set",
    ),
    # ------------------------------------------------------------------ trade
    case("trade-show-unknown", "trade", "show", "999", expect=r"no trade 999 on ACME: trades run from 1 to 0"),
    case("trade-show-negative", "trade", "show", "-1", expect=NEGATIVE + "trade show --help'$"),
    case("trade-show-zero", "trade", "show", "0", expect=r"0 is not in the range x>=1"),
    case(
        "trade-settle-unknown", "trade", "settle", "999", *SIGN7, expect=r"no trade 999 on ACME: trades run from 1 to 0"
    ),
    case("trade-settle-nothing", "trade", "settle", *SIGN7, expect=r"give the trade ids to settle, or --all-due"),
    case(
        "trade-cancel-unknown",
        "trade",
        "cancel",
        "999",
        *SIGN7,
        expect=r"no trade 999 on ACME: trades run from 1 to 0",
    ),
    case(
        "trade-confirm-unknown",
        "trade",
        "confirm",
        "999",
        *SIGN7,
        expect=r"no trade 999 on ACME: trades run from 1 to 0",
    ),
    case("trade-history-unknown", "trade", "history", "999", expect=r"no trade 999 on ACME: trades run from 1 to 0"),
    case("trade-margin-bad-account", "trade", "margin", "0xzz", expect=r"'0xzz' is not an Ethereum address"),
    case(
        "trade-unknown-market",
        "trade",
        "list",
        "--market",
        "GOLD",
        expect=r"no market 'GOLD': this deployment has ACME",
    ),
    case("trade-deposit-negative", "trade", "deposit", "-5", *SIGN7, expect=NEGATIVE),
    case("trade-deposit-zero", "trade", "deposit", "0", *SIGN7, expect=r"AMOUNT is zero"),
    case(
        "trade-withdraw-beyond-margin",
        "trade",
        "withdraw",
        "5",
        *SIGN7,
        expect=r"DerivativeInsufficientMargin\(party=0x14dC.*, available=0, amount=5,000,000\)",
    ),
    case(
        "trade-propose-negative-quantity",
        "trade",
        "propose",
        "--side",
        "buy",
        "--counterparty",
        BOB,
        "--quantity",
        "-5",
        "--price",
        "100",
        "--maturity",
        "+30d",
        "--im",
        "10",
        *SIGN7,
        expect=r"--quantity '-5' is negative",
    ),
    case(
        "trade-propose-exponent-price",
        "trade",
        "propose",
        "--side",
        "buy",
        "--counterparty",
        BOB,
        "--quantity",
        "5",
        "--price",
        "1e3",
        "--maturity",
        "+30d",
        "--im",
        "10",
        *SIGN7,
        expect=r"--price '1e3' is not an amount",
    ),
    case(
        "trade-propose-past-maturity",
        "trade",
        "propose",
        "--side",
        "buy",
        "--counterparty",
        BOB,
        "--quantity",
        "5",
        "--price",
        "100",
        "--maturity",
        "2001-01-01",
        "--im",
        "10",
        *SIGN7,
        expect=r"maturity 2001-01-01.* is not after the chain's time",
    ),
    case(
        "trade-propose-wrong-checksum",
        "trade",
        "propose",
        "--side",
        "buy",
        "--counterparty",
        BAD_CHECKSUM,
        "--quantity",
        "5",
        "--price",
        "100",
        "--maturity",
        "+30d",
        "--im",
        "10",
        *SIGN7,
        expect=r"wrong EIP-55 checksum",
    ),
    case(
        "trade-propose-no-im",
        "trade",
        "propose",
        "--side",
        "buy",
        "--counterparty",
        BOB,
        "--quantity",
        "5",
        "--price",
        "100",
        "--maturity",
        "+30d",
        *SIGN7,
        expect=r"no initial margin for the buyer: give --im AMOUNT \(both\) or --buyer-im AMOUNT",
    ),
    case(
        "trade-amendment-unknown",
        "trade",
        "amendment",
        "999",
        "--quantity",
        "1",
        expect=r"no trade 999 on ACME: trades run from 1 to 0",
    ),
    case(
        "trade-sign-malformed",
        "trade",
        "sign",
        "{tmp}/a.json",
        *SIGN7,
        files={"a.json": MALFORMED_JSON},
        expect=r"a\.json: not an amendment or termination file \(JSONDecodeError",
    ),
    case(
        "trade-default-unknown",
        "trade",
        "default",
        "999",
        *SIGN7,
        expect=r"no trade 999 on ACME: trades run from 1 to 0",
    ),
    # ------------------------------------------------------------------ oracle
    case("oracle-submit-negative", "oracle", "submit", "-100", *SIGN7, expect=NEGATIVE + "oracle submit --help'$"),
    case("oracle-submit-zero", "oracle", "submit", "0", *SIGN7, expect=r"a price must be positive, got 0"),
    case("oracle-submit-not-a-number", "oracle", "submit", "abc", *SIGN7, expect=r"PRICE 'abc' is not an amount"),
    case(
        "oracle-submit-not-reporter",
        "oracle",
        "submit",
        "100",
        *SIGN7,
        expect=r"OracleNotReporter\(account=0x14dC79964da2C08b23698B3D3cc7Ca32193d9955\)",
    ),
    case("oracle-rounds-zero", "oracle", "rounds", "--last", "0", expect=r"'--last': 0 is not in the range x>=1"),
    case(
        "oracle-show-change-unknown",
        "oracle",
        "show-change",
        "999",
        expect=r"'999' is not a change id \(32 bytes of hex, as `propose-change` prints it\)",
    ),
    case(
        "oracle-unknown-market",
        "oracle",
        "status",
        "--market",
        "GOLD",
        expect=r"no market 'GOLD': this deployment has ACME",
    ),
    case(
        "oracle-latest-no-data",
        "oracle",
        "latest",
        expect=r"no price yet: no round of ACME / USD has finalised \(open round 1 has 0 of 3 reports\)",
    ),
    case(
        "oracle-propose-change-bad-reporter",
        "oracle",
        "propose-change",
        "--reporters",
        "0xzz",
        *SIGN7,
        expect=r"'0xzz' is not an Ethereum address",
    ),
    # ------------------------------------------------------------------ risk
    case(
        "risk-im-unknown-model",
        "risk",
        "im",
        "--model",
        "nosuch",
        expect=r"'nosuch' is not one of 'historical', 'schedule'; see 'dfmi risk im --help'$",
    ),
    case(
        "risk-im-negative-quantity",
        "risk",
        "im",
        "--quantity",
        "-5",
        "--price",
        "100",
        expect=r"--quantity '-5' is negative: amounts are positive",
    ),
    case(
        "risk-im-unknown-trade", "risk", "im", "--trade", "999", expect=r"no trade 999 was proposed on the engine at 0x"
    ),
    case("risk-backtest-bad-mpor", "risk", "backtest", "--mpor", "soon", expect=r"'soon' is not a duration"),
    case(
        "risk-fund-negative-floor",
        "risk",
        "fund",
        "--floor",
        "-5",
        expect=r"--floor '-5' is negative: amounts are positive",
    ),
    case(
        "risk-fund-bad-shock",
        "risk",
        "fund",
        "--shock",
        "abc",
        expect=r"--shock 'abc': give MARKET=BPS, e.g. EURUSD=-2000",
    ),
    case(
        "risk-regimes-bad-regime",
        "risk",
        "regimes",
        "--regime",
        "weekly",
        expect=r"--regime 'weekly': give NAME=EVERY\[,LAG\[,CLOSEOUT\]\]",
    ),
    # ------------------------------------------------------------------ feed, keeper, simulate
    case(
        "feed-config-missing",
        "feed",
        "--config",
        "{tmp}/feed.toml",
        expect=r"cannot read the configuration .*feed\.toml: No such file or directory",
    ),
    case(
        "feed-config-malformed",
        "feed",
        "--config",
        "{tmp}/feed.toml",
        files={"feed.toml": MALFORMED_TOML},
        expect=r"feed\.toml is not valid TOML: Expected ']'",
    ),
    case("feed-config-option-missing", "feed", expect=r"Missing option '--config'"),
    case(
        "keeper-config-unknown-key",
        "keeper",
        "--config",
        "{tmp}/keeper.toml",
        files={"keeper.toml": "colour = 'blue'\n"},
        expect=r"keeper\.toml: colour: Extra inputs are not permitted",
    ),
    case(
        "keeper-key-zero",
        "keeper",
        "--config",
        "{tmp}/keeper.toml",
        "--key-env",
        "ZERO_KEY",
        files={"keeper.toml": "poll_interval = 1.0\n"},
        expect=r"\$ZERO_KEY does not hold a valid private key: it is zero",
    ),
    case(
        "feed-key-not-hex",
        "feed",
        "--config",
        "{tmp}/feed.toml",
        "--key-env",
        "NOT_HEX_KEY",
        files={"feed.toml": FEEDER_EXAMPLE},
        expect=r"\$NOT_HEX_KEY does not hold a private key: it is not hex",
    ),
    case(
        "sync-by-an-unfunded-account",
        "cash",
        "sync",
        ALICE,
        "--dev-account",
        "30",
        expect=r"sync compliance: 0x[0-9a-fA-F]{40} has not enough ether to pay for the gas: it holds 0 wei",
    ),
    case(
        "open-by-an-unfunded-account",
        "net",
        "open",
        "--dev-account",
        "30",
        expect=r"open a round: reverted with ComplianceAccountNotActive\(account=0x1BcB",
    ),
    case(
        "dev-account-beyond-devnet",
        "compliance",
        "onboard",
        OUTSIDER,
        "--dev-account",
        "99999999999",
        expect=r"'--dev-account': 99999999999 is not in the range 0<=x<=2147483647",
    ),
    case(
        "dvp-history-beyond-head",
        "dvp",
        "history",
        "--from-block",
        "99999999",
        expect=r"--from-block 99999999 is beyond the chain's head, block \d+",
    ),
    case(
        "advance-overflow",
        "advance",
        "99999999999999999999999999",
        expect=r"99,999,999,999,999,999,999,999,999 s from the chain's time is past 9999-12-31T23:59:59Z",
    ),
    case(
        "trade-maturity-now",
        "trade",
        "propose",
        "--side",
        "buy",
        "--counterparty",
        BOB,
        "--quantity",
        "5",
        "--price",
        "100",
        "--maturity",
        "+0s",
        "--im",
        "10",
        *SIGN7,
        expect=r"a duration must be positive, got '0s'",
    ),
    case(
        "trade-counterparty-self",
        "trade",
        "propose",
        "--side",
        "buy",
        "--counterparty",
        ALICE,
        "--quantity",
        "5",
        "--price",
        "100",
        "--maturity",
        "+30d",
        "--im",
        "10",
        *SIGN7,
        expect=r"buyer and seller must be two accounts, both are 0x14dC",
    ),
    case(
        "trade-price-huge",
        "trade",
        "propose",
        "--side",
        "buy",
        "--counterparty",
        BOB,
        "--quantity",
        "5",
        "--price",
        "1" + "0" * 70,
        "--maturity",
        "+30d",
        "--im",
        "10",
        *SIGN7,
        expect=r"--price '10+' is too large: it does not fit a uint256",
    ),
    case("trade-list-bad-party", "trade", "list", "--party", "0xzz", expect=r"'0xzz' is not an Ethereum address"),
    case(
        "trade-amendment-expires-zero",
        "trade",
        "amendment",
        "1",
        "--quantity",
        "1",
        "--expires-in",
        "0",
        expect=r"no trade 1 on ACME: trades run from 1 to 0",
    ),
    case(
        "dvp-new-deadline-zero",
        "dvp",
        "new",
        ALICE,
        "10",
        BOB,
        "100",
        "--deadline-in",
        "0",
        expect=r"'--deadline-in': 0 is not in the range x>=1",
    ),
    case(
        "dvp-new-same-party",
        "dvp",
        "new",
        ALICE,
        "10",
        ALICE,
        "100",
        expect=r"0x14dC79964da2C08b23698B3D3cc7Ca32193d9955 cannot settle with itself",
    ),
    case(
        "dvp-pvp-zero-address",
        "dvp",
        "pvp",
        ALICE,
        "10",
        ZERO_ADDRESS,
        BOB,
        "5",
        ZERO_ADDRESS,
        expect=r"no contract at 0x0000000000000000000000000000000000000000 on this chain",
    ),
    case(
        "simulate-unreachable",
        "simulate",
        "--rpc-url",
        "http://127.0.0.1:1",
        "--no-report",
        expect=r"no Ethereum JSON-RPC node answers at http://127\.0\.0\.1:1",
    ),
    case(
        "books-chunk-zero",
        "books",
        "positions",
        "--chunk-blocks",
        "0",
        expect=r"'--chunk-blocks': 0 is not in the range x>=1",
    ),
    case(
        "oracle-submit-round-past",
        "oracle",
        "submit",
        "100",
        "--round",
        "99",
        "--dev-account",
        "16",
        expect=r"submit round 99: reverted with OracleWrongRound\(expected=1, given=99\)",
    ),
    case(
        "oracle-submit-huge",
        "oracle",
        "submit",
        "1" + "0" * 70,
        "--dev-account",
        "16",
        expect=r"PRICE '10+' is too large: it does not fit a uint256",
    ),
    case(
        "fund-propose-bad-values",
        "fund",
        "propose",
        "threshold",
        "lots",
        expect=r"bps must be a whole number, got 'lots'",
    ),
    case(
        "fund-propose-withdraw-bad-member",
        "fund",
        "propose",
        "withdraw",
        "0xzz",
        "5",
        expect=r"'0xzz' is not an Ethereum address",
    ),
    case(
        "fund-propose-missing-values",
        "fund",
        "propose",
        "withdraw",
        expect=r"withdraw takes 2 value\(s\): ADDRESS AMOUNT",
    ),
    case(
        "risk-im-confidence",
        "risk",
        "im",
        "--quantity",
        "5",
        "--price",
        "100",
        "--confidence",
        "2",
        expect=r"confidence must be strictly between 0 and 1, got 2\.0",
    ),
    case(
        "compliance-identity-record-proof-other",
        "compliance",
        "identity",
        "record",
        ALICE,
        "--file",
        "{tmp}/id.json",
        "--public-key",
        "0x02" + "11" * 32,
        *OFFICER,
        files={"id.json": json.dumps({"legal_name": "A", "lei": "x", "jurisdiction": "GB"})},
        expect=r"id\.json: LEI 'x' is not 18 letters or digits followed by 2 check digits",
    ),
    case(
        "maturity-overflow",
        "trade",
        "propose",
        "--side",
        "buy",
        "--counterparty",
        BOB,
        "--quantity",
        "5",
        "--price",
        "100",
        "--maturity",
        "+99999999999999d",
        "--im",
        "10",
        *SIGN7,
        expect=r"maturity \d+ does not fit the engine's 40 bits",
    ),
    case(
        "maturity-feb-30",
        "trade",
        "propose",
        "--side",
        "buy",
        "--counterparty",
        BOB,
        "--quantity",
        "5",
        "--price",
        "100",
        "--maturity",
        "2027-02-30",
        "--im",
        "10",
        *SIGN7,
        expect=r"'2027-02-30' is not a time: give ISO 8601 \(2030-06-30T12:00:00Z\) or a duration from now",
    ),
    case(
        "report-to-beyond-head",
        "report",
        "tr",
        "--format",
        "csv",
        "--to",
        "99999999",
        expect=r"block 99999999 is beyond the chain's head, block \d+",
    ),
    case(
        "risk-mpor-huge",
        "risk",
        "im",
        "--quantity",
        "5",
        "--price",
        "100",
        "--mpor",
        "99999999999999d",
        expect=r"no scenarios: the history is shorter than the horizon",
    ),
    case("trade-history-negative", "trade", "history", "-3", expect=r"a negative number \(-3…\)"),
    case(
        "advance-year-10000",
        "advance",
        "3000000d",
        expect=r"259,200,000,000 s from the chain's time is past 9999-12-31T23:59:59Z",
    ),
    case("compliance-status-empty-string", "compliance", "status", "", expect=r"'' is not an Ethereum address"),
    case(
        "cash-mint-to-unicode",
        "cash",
        "mint",
        "0x14dC79964da2C08b23698B3D3cc7Ca32193d995\uff15",  # a full-width 5
        "5",
        "--dev-account",
        "4",
        expect=r"'0x14dC79964da2C08b23698B3D3cc7Ca32193d995\uff15' is not an Ethereum address",
    ),
    case("keeper-config-directory", "keeper", "--config", "{tmp}", expect=r"'--config': File '.*' is a directory"),
    case(
        "simulate-too-few-members",
        "simulate",
        "--members",
        "0",
        expect=r"members\.count: input should be greater than or equal to 2 \(got 0\)",
    ),
    case(
        "simulate-config-malformed",
        "simulate",
        "--config",
        "{tmp}/sim.toml",
        files={"sim.toml": MALFORMED_TOML},
        expect=r"sim\.toml: not valid TOML",
    ),
    case(
        "simulate-bad-shock",
        "simulate",
        "--shock",
        "crash",
        expect=r"--shock: 'crash' is not \[MARKET=\]BPS, e.g. -2500 or XAU=-2500",
    ),
    case(
        "simulate-out-is-a-file",
        "simulate",
        "--out",
        "{tmp}/report",
        files={"report": "x"},
        expect=r"'--out': Directory '.*report' is a file",
    ),
]


def _tree(*folders: Path) -> dict[str, str]:
    """The SHA-256 of every file under ``folders``, by path."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _head(chain: Chain) -> tuple[int, bytes]:
    block = chain.w3.eth.get_block("latest")
    return int(block["number"]), bytes(block["hash"])


def test_the_table_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 110
    assert len({c.id for c in CASES}) == len(CASES)
    groups = {c.args[0] for c in CASES}
    for group in (
        "node",
        "deploy",
        "status",
        "demo",
        "advance",
        "accounts",
        "compliance",
        "cash",
        "dvp",
        "fund",
        "net",
        "books",
        "trade",
        "oracle",
        "security",
        "risk",
        "feed",
        "keeper",
        "simulate",
        "report",
    ):
        assert group in groups, f"no case for dfmi {group}"


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_a_bad_input_gets_one_line_and_changes_nothing(
    bad: Case,
    world: World,
    chain: Chain,
    not_a_node: str,
    markets_reused: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, content in bad.files.items():
        path = tmp_path / name
        if name.endswith("MANIFEST"):
            (manifest,) = world.deployments_dir.glob("*.json")
            path = path.with_name(manifest.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content(world) if callable(content) else content)
    values = {
        "tmp": str(tmp_path),
        "settled": str(world.settled_round),
        "open": str(world.open_round),
        "frozen": world.frozen,
        "port": world.rpc_url.rsplit(":", 1)[1],
        "not_a_node": not_a_node,
        "rpc": world.rpc_url,
    }
    connect = ("--rpc-url", world.rpc_url, "--deployments-dir", str(world.deployments_dir)) if bad.connect else ()
    args = [a.format(**values) for a in (*connect, *bad.pre, *bad.args)]
    env: dict[str, str | None] = {"DFMI_RPC_URL": None, "DFMI_DEPLOYMENTS_DIR": None, "DFMI_PRIVATE_KEY": None}
    env |= KEYS | bad.env
    files_before = _tree(tmp_path, world.deployments_dir)
    head_before = _head(chain)

    result = CliRunner().invoke(cli, args, env=env)  # output: stdout and stderr mixed, as on a terminal

    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code not in (0, UNEXPECTED_EXIT_CODE), result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), lines[0]
    assert "rerun with -vv" not in lines[0]
    assert re.search(bad.expect, lines[0]), f"{lines[0]!r} does not match {bad.expect!r}"
    assert _head(chain) == head_before, "a block was mined"
    assert _tree(tmp_path, world.deployments_dir) == files_before, "files changed"
    assert os.getcwd() == str(tmp_path)


# ---------------------------------------------------------------------- several accounts, one command


class _Chain:
    """A chain whose preflight refuses the calls named in ``refuse``."""

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse

    def preflight(self, call: str, sender: str, action: str = "") -> int:
        if call in self.refuse:
            raise ContractRevertError("ComplianceInvalidStatus", {"account": call}, action)
        return 21_000


def _items(labels: list[str], sent: list[str], fail_on: str = "") -> list[tuple[str, Any, Callable[[], str]]]:
    def send(label: str) -> Callable[[], str]:
        def run() -> str:
            if label == fail_on:
                raise TransactionError(f"{label}: the transaction failed on the chain")
            sent.append(label)
            return label

        return run

    return [(label, label, send(label)) for label in labels]


def test_a_command_over_several_accounts_sends_nothing_if_one_would_fail() -> None:
    sent: list[str] = []
    with pytest.raises(InputError, match=r"^nothing was sent: 1 of 3 would fail: freeze B: reverted with "):
        list(apply_each(_Chain({"B"}), "0xofficer", "freeze", _items(["A", "B", "C"], sent)))  # type: ignore[arg-type]
    assert sent == []


def test_a_failure_once_sent_names_what_was_applied_and_what_was_not_sent() -> None:
    sent: list[str] = []
    applied = apply_each(_Chain(set()), "0xofficer", "freeze", _items(["A", "B", "C"], sent, fail_on="B"))  # type: ignore[arg-type]
    assert next(applied) == ("A", "A")
    with pytest.raises(TransactionError) as failed:
        next(applied)
    assert str(failed.value) == "B: the transaction failed on the chain; applied before it: A; not sent: C"
    assert sent == ["A"]


# ---------------------------------------------------------------------- an approval, then the action


class _Cash:
    def __init__(self) -> None:
        self.allowances = [0]

    def allowance(self, owner: str, spender: str) -> int:
        return self.allowances[-1]

    def approve(self, owner: Any, spender: str, amount: int) -> None:
        self.allowances.append(amount)

    def format(self, units: int) -> str:
        return f"{units} DSD"


class _Market:
    def __init__(self) -> None:
        self.cash = _Cash()
        self.chain = self

    def preflight(self, call: str, sender: str, action: str = "") -> int:
        raise ContractRevertError("ERC20InsufficientAllowance", {"spender": "0xfund"}, action)


def test_an_action_that_fails_after_its_approval_sets_the_approval_back() -> None:
    market = _Market()
    owner = type("Owner", (), {"address": "0xmember"})()

    def send(approve: bool) -> None:
        assert approve, "refused for the allowance alone: the approval is sent"
        market.cash.approve(owner, "0xfund", 500)
        raise TransactionError("join the default fund: the transaction failed on the chain")

    with pytest.raises(TransactionError) as failed:
        pulled_from_wallet(market, owner, ("0xfund", "fund"), "join", send, "join")  # type: ignore[arg-type]
    assert market.cash.allowances == [0, 500, 0]
    assert str(failed.value).endswith("; the approval it sent was set back to 0 DSD")


# ---------------------------------------------------------------------- the last resort


def test_an_unforeseen_error_is_one_line_exit_70_and_its_traceback_is_logged_at_debug(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise KeyError("surprise")

    monkeypatch.setitem(cli.commands, "broken", click.Command("broken", callback=broken))
    with caplog.at_level(logging.DEBUG, logger="dfmi_py.cli.common"):
        result = CliRunner().invoke(cli, ["-vv", "broken"])
    assert result.exit_code == UNEXPECTED_EXIT_CODE
    assert result.output == (
        "Error: unexpected KeyError: 'surprise' (a defect: rerun with -vv for the traceback and report it)\n"
    )
    (record,) = [r for r in caplog.records if r.name == "dfmi_py.cli.common"]
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError
