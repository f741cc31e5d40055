"""Every public entry point of the Python API, given a bad input: a :class:`DfmiError` subclass
with one line saying what was wrong, nothing mined and no file changed (see ``api_fixtures``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from web3.exceptions import ContractLogicError

from dfmi_py.api.derivatives import Terms
from dfmi_py.api.market import Market
from dfmi_py.api.oracle import Oracle
from dfmi_py.api.security import Security
from dfmi_py.api.token import CompliantToken, Permit
from dfmi_py.books.books import Books, connect
from dfmi_py.chain import Chain, client, dev_account
from dfmi_py.chain.client import checksum
from dfmi_py.deploy.config import load_config, parse_config
from dfmi_py.deploy.manifest import Manifest
from dfmi_py.deploy.roles import RoleConfig
from dfmi_py.deploy.suite import load_deployment, open_manifest
from dfmi_py.errors import (
    ChainConnectionError,
    ConfigError,
    ContractRevertError,
    InputError,
    ManifestError,
    NotOnboardedError,
    TransactionError,
)
from dfmi_py.signing.settlement import Instruction
from dfmi_py.units import format_units, from_units, parse_duration, to_units
from tests.badinput.api_fixtures import Case, World, check_case, market, world, wrong_checksum
from tests.helpers import Roles

__all__ = ["market", "world"]

#: An address nobody holds and where no contract is deployed.
EMPTY = "0x000000000000000000000000000000000000dEaD"
#: Where a case wants an address beyond the head.
FAR = 10**9
UINT_FIT = r"do not fit \w+\(.*uint256"
NOT_ADDRESS = r"is not an Ethereum address"
BAD_CHECKSUM = r"wrong EIP-55 checksum \(a typo\?\): did you mean 0x"
BEYOND_HEAD = r"from_block 1000000000 is beyond the chain's head, block \d+: give a block at or below it"


def _security(w: World) -> Security:
    return Security(w.chain, w.deployment.security)


def _terms(w: World, **changes: object) -> Terms:
    values: dict[str, object] = {
        "buyer": w.member.address,
        "seller": w.other.address,
        "quantity": 10**6,
        "contract_price": 100 * 10**8,
        "maturity": 2_000_000_000,
        "buyer_im": 10**6,
        "seller_im": 10**6,
    }
    values.update(changes)
    return Terms(**values)  # type: ignore[arg-type]


def _used_permit(w: World) -> Permit:
    """A permit signed and submitted once (mined)."""
    cash = w.market.cash
    permit = cash.sign_permit(w.member, w.other.address, 5, deadline=w.chain.now() + 3600)
    cash.submit_permit(permit, w.other)
    return permit


def _foreign_manifest(w: World) -> Path:
    """This chain's manifest file, rewritten to record another chain id."""
    data = json.loads(w.deployment.manifest_file.read_text())
    data["chain_id"] = 1
    path = w.tmp_path / "deployments" / w.deployment.manifest_file.name
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    return path


CASES = [
    # ---------------------------------------------------------------- units
    Case("units-not-a-number", lambda w: to_units("12,50", 6), InputError, r"'12,50' is not a number"),
    Case("units-negative", lambda w: to_units("-1", 6), InputError, r"non-negative number, got '-1'"),
    Case("units-too-precise", lambda w: to_units("1.0000001", 6), InputError, r"more than 6 decimal places"),
    Case("units-infinite", lambda w: to_units("Infinity", 6), InputError, r"non-negative number, got 'Infinity'"),
    Case("units-float", lambda w: to_units(0.1, 6), InputError, r"a float is inexact: give the amount as text"),
    Case("units-bool", lambda w: to_units(True, 6), InputError, r"must be a decimal text.*got True"),
    Case("units-none", lambda w: to_units(None, 6), InputError, r"must be a decimal text.*got None"),
    Case("units-bad-decimals", lambda w: to_units("1", -2), InputError, r"decimals must be .* 0 to 77, got -2"),
    Case("from-units-text", lambda w: from_units("12", 6), InputError, r"units must be a whole number.*got '12'"),
    Case("format-units-float", lambda w: format_units(1.5, 6), InputError, r"units must be a whole number.*1\.5"),
    Case("duration-none", lambda w: parse_duration(None), InputError, r"a duration must be text.*got None"),
    Case("duration-bad-unit", lambda w: parse_duration("12x"), InputError, r"'12x' is not a duration"),
    # ---------------------------------------------------------------- addresses
    Case("checksum-wrong", lambda w: checksum(wrong_checksum(w.member.address)), InputError, BAD_CHECKSUM),
    Case("checksum-none", lambda w: checksum(None), InputError, r"None is not an Ethereum address"),
    Case("checksum-short", lambda w: checksum("0x1234"), InputError, r"'0x1234' " + NOT_ADDRESS),
    # ---------------------------------------------------------------- cash (every token)
    Case(
        "signer-without-ether",
        lambda w: w.market.cash.sync_compliance(Account.from_key(b"\x01" * 32), w.other.address),
        TransactionError,
        r"0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1 has not enough ether to pay for the gas: it holds 0 wei"
        r".*send it ether first",
    ),
    Case(
        "instruction-built-directly-wrong-checksum",
        lambda w: Instruction(
            wrong_checksum(w.member.address),
            w.market.cash.address,
            1,
            w.other.address,
            w.market.cash.address,
            1,
            2**40,
            0,
        ),
        InputError,
        r"party_a: .* has a wrong EIP-55 checksum \(a typo\?\): did you mean",
    ),
    Case(
        "cash-transfer-wrong-checksum",
        lambda w: w.market.cash.transfer(w.member, wrong_checksum(w.other.address), 0),
        InputError,
        BAD_CHECKSUM,
    ),
    Case(
        "cash-transfer-to-none",
        lambda w: w.market.cash.transfer(w.member, None, 1),
        InputError,
        r"Cash\.transfer: to must be a text \(str; an address is 0x",
    ),
    Case(
        "cash-transfer-negative",
        lambda w: w.market.cash.transfer(w.member, w.other.address, -1),
        InputError,
        r"amount must be >= 0, got -1",
    ),
    Case(
        "cash-transfer-beyond-uint256",
        lambda w: w.market.cash.transfer(w.member, w.other.address, 2**256),
        InputError,
        r"amount does not fit in uint256",
    ),
    Case(
        "cash-transfer-float",
        lambda w: w.market.cash.transfer(w.member, w.other.address, 1.5),
        InputError,
        r"amount must be a whole number \(int\), got 1\.5 \(float\)",
    ),
    Case(
        "cash-transfer-bool",
        lambda w: w.market.cash.transfer(w.member, w.other.address, True),
        InputError,
        r"amount must be a whole number \(int\), got True \(bool\)",
    ),
    Case(
        "cash-transfer-text-amount",
        lambda w: w.market.cash.transfer(w.member, w.other.address, "100"),
        InputError,
        r"amount must be a whole number \(int\), got '100' \(str\)",
    ),
    Case(
        "cash-transfer-no-signer",
        lambda w: w.market.cash.transfer(None, w.other.address, 1),
        InputError,
        r"sender must be a signing account .*got None",
    ),
    Case(
        "cash-transfer-signer-as-address",
        lambda w: w.market.cash.transfer(w.member.address, w.other.address, 1),
        InputError,
        r"sender must be a signing account",
    ),
    Case(
        "cash-transfer-missing-argument",
        lambda w: w.market.cash.transfer(w.member, w.other.address),
        InputError,
        r"Cash\.transfer: missing a required argument: 'amount'",
    ),
    Case(
        "cash-transfer-more-than-held",
        lambda w: w.market.cash.transfer(w.member, w.other.address, 1),
        ContractRevertError,
        r"ERC20InsufficientBalance\(.*needed=1\); fund the account first",
    ),
    Case(
        "cash-transfer-to-outsider",
        lambda w: w.market.cash.transfer(w.member, w.roles.outsider.address, 0),
        NotOnboardedError,
        r"is not onboarded; ask the compliance officer",
    ),
    Case("cash-balance-short-address", lambda w: w.market.cash.balance_of("0x123"), InputError, NOT_ADDRESS),
    Case("cash-balance-none", lambda w: w.market.cash.balance_of(None), InputError, r"account must be a text"),
    Case(
        "cash-allowance-wrong-checksum",
        lambda w: w.market.cash.allowance(wrong_checksum(w.member.address), w.other.address),
        InputError,
        BAD_CHECKSUM,
    ),
    Case("cash-mint-zero", lambda w: w.market.cash.mint(w.roles.minter, w.member.address, 0), InputError, r"> 0"),
    Case(
        "cash-mint-not-minter",
        lambda w: w.market.cash.mint(w.roles.outsider, w.member.address, 1),
        ContractRevertError,
        r"mint: reverted with",
    ),
    Case("cash-burn-negative", lambda w: w.market.cash.burn(w.roles.burner, -5), InputError, r"> 0, got -5"),
    Case(
        "cash-configure-minter-bad-address",
        lambda w: w.market.cash.configure_minter(w.roles.master_minter, "0xabc", 1),
        InputError,
        NOT_ADDRESS,
    ),
    Case(
        "cash-approve-beyond-uint256",
        lambda w: w.market.cash.approve(w.member, w.other.address, 2**256),
        InputError,
        r"does not fit in uint256",
    ),
    Case(
        "cash-transfer-from-owner-none",
        lambda w: w.market.cash.transfer_from(w.other, None, w.other.address, 1),
        InputError,
        r"owner must be a text",
    ),
    Case(
        "cash-permit-negative-value",
        lambda w: w.market.cash.sign_permit(w.member, w.other.address, -1),
        InputError,
        r"value must be >= 0, got -1",
    ),
    Case(
        "cash-permit-replayed",
        lambda w, permit: w.market.cash.submit_permit(permit, w.other),
        InputError,
        r"permit: this permit of 0x\w+ \(nonce 0\) was already used: the owner's next nonce is 1",
        prepare=_used_permit,
    ),
    Case(
        "token-without-contract",
        lambda w: CompliantToken(w.chain, w.chain.contract("CashToken", EMPTY)).balance_of(w.member.address),
        InputError,
        r"CompliantToken\.balance_of: 0x000000000000000000000000000000000000dEaD holds no contract on this chain "
        r"\(eth_getCode is empty\)",
    ),
    Case(
        "token-without-contract-decimals",
        lambda w: CompliantToken(w.chain, w.chain.contract("CashToken", EMPTY)).decimals,
        InputError,
        r"CompliantToken\.decimals: 0x000000000000000000000000000000000000dEaD holds no contract on this chain",
    ),
    Case(
        "oracle-without-contract-decimals",
        lambda w: Oracle(w.chain, w.chain.contract("PriceOracle", EMPTY)).decimals,
        InputError,
        r"Oracle\.decimals: 0x000000000000000000000000000000000000dEaD holds no contract",
    ),
    Case(
        "chain-call-without-contract",
        lambda w: w.chain.call(w.chain.contract("CashToken", EMPTY).functions.decimals()),
        InputError,
        r"decimals: 0x000000000000000000000000000000000000dEaD holds no contract on chain 31337",
    ),
    Case(
        "chain-call-function-the-contract-lacks",
        lambda w: w.chain.call(w.chain.contract("PriceOracle", w.market.cash.address).functions.description()),
        TransactionError,
        r"^description: reverted without a reason \(out of gas\? a token that reverts silently\?\)$",
    ),
    # ---------------------------------------------------------------- compliance
    Case(
        "compliance-onboard-not-address",
        lambda w: w.market.compliance.onboard(w.roles.officer, "0xnotanaddress"),
        InputError,
        NOT_ADDRESS,
    ),
    Case(
        "compliance-onboard-batch-one-bad",
        lambda w: w.market.compliance.onboard(
            w.roles.officer, [w.roles.newcomers[0].address, wrong_checksum(w.roles.newcomers[1].address)]
        ),
        InputError,
        BAD_CHECKSUM,
    ),
    Case(
        "compliance-freeze-none",
        lambda w: w.market.compliance.freeze(w.roles.officer, None),
        InputError,
        r"Compliance\.freeze: account must be a text",
    ),
    Case(
        "compliance-freeze-not-officer",
        lambda w: w.market.compliance.freeze(w.roles.outsider, w.member.address),
        ContractRevertError,
        r"freeze: reverted with AccessControlUnauthorizedAccount",
    ),
    Case("compliance-status-bad", lambda w: w.market.compliance.status("member-1"), InputError, NOT_ADDRESS),
    Case(
        "compliance-unknown-role",
        lambda w: w.market.compliance.has_role("OWNER_ROLE", w.member.address),
        InputError,
        r"no role 'OWNER_ROLE' in the compliance registry: it has .*COMPLIANCE_ROLE",
    ),
    Case(
        "compliance-identity-of-unrecorded",
        lambda w: w.market.compliance.identity_of(w.member.address, b"short"),
        InputError,
        r"no identity is recorded for 0x",
    ),
    # ---------------------------------------------------------------- security
    Case(
        "security-issue-negative",
        lambda w: _security(w).issue(dev_account(19), w.member.address, -1),
        InputError,
        r"amount must be > 0, got -1",
    ),
    Case(
        "security-issue-to-none",
        lambda w: _security(w).issue(dev_account(19), None, 1),
        InputError,
        r"Security\.issue: to must be a text",
    ),
    Case("security-redeem-zero", lambda w: _security(w).redeem(dev_account(19), 0), InputError, r"> 0, got 0"),
    # ---------------------------------------------------------------- default fund
    Case("fund-join-negative", lambda w: w.market.fund.join(w.member, -5), InputError, r"amount"),
    Case(
        "fund-join-float",
        lambda w: w.market.fund.join(w.member, 1.5),
        InputError,
        r"DefaultFund\.join: amount must be a whole number \(int\), got 1\.5",
    ),
    Case("fund-contribute-zero", lambda w: w.market.fund.contribute(w.member, 0), InputError, r"amount"),
    Case("fund-balance-none", lambda w: w.market.fund.balance_of(None), InputError, r"member must be a text"),
    Case(
        "fund-flag-bad-address",
        lambda w: w.market.fund.flag_missed_replenishment(w.member, "0x12"),
        InputError,
        NOT_ADDRESS,
    ),
    Case("fund-members-beyond-head", lambda w: w.market.fund.members(from_block=FAR), InputError, BEYOND_HEAD),
    Case(
        "fund-draws-negative-block",
        lambda w: w.market.fund.draws(from_block=-1),
        InputError,
        r"from_block must be a block number >= 0",
    ),
    # ---------------------------------------------------------------- settlement (DvP / PvP)
    Case(
        "dvp-party-wrong-checksum",
        lambda w: w.market.settlement.dvp(
            wrong_checksum(w.member.address),
            w.deployment.security.address,
            1,
            w.other.address,
            w.market.cash.address,
            1,
        ),
        InputError,
        BAD_CHECKSUM,
    ),
    Case(
        "dvp-buyer-wrong-checksum-with-nonce",
        lambda w: w.market.settlement.dvp(
            w.member.address,
            w.deployment.security.address,
            1,
            wrong_checksum(w.other.address),
            w.market.cash.address,
            1,
            nonce=0,
            deadline=2_000_000_000,
        ),
        InputError,
        BAD_CHECKSUM,
    ),
    Case(
        "dvp-zero-amount",
        lambda w: w.market.settlement.dvp(
            w.member.address, w.deployment.security.address, 0, w.other.address, w.market.cash.address, 1
        ),
        InputError,
        r"both legs need an amount above zero",
    ),
    Case(
        "dvp-same-party",
        lambda w: w.market.settlement.dvp(
            w.member.address, w.deployment.security.address, 1, w.member.address, w.market.cash.address, 1
        ),
        InputError,
        r"cannot settle with itself",
    ),
    Case(
        "dvp-amount-beyond-uint256",
        lambda w: w.market.settlement.dvp(
            w.member.address, w.deployment.security.address, 2**256, w.other.address, w.market.cash.address, 1
        ),
        InputError,
        r"must be an integer in \[0, 2\*\*256\)",
    ),
    Case(
        "dvp-token-without-contract",
        lambda w: w.market.settlement.dvp(w.member.address, EMPTY, 1, w.other.address, w.market.cash.address, 1),
        InputError,
        r"token_a 0x000000000000000000000000000000000000dEaD holds no contract on chain \d+ \(eth_getCode is empty\)",
    ),
    Case(
        "settlement-next-nonce-none",
        lambda w: w.market.settlement.next_nonce(None, w.member.address),
        InputError,
        r"party_a must be a text",
    ),
    Case(
        "settlement-batch-empty",
        lambda w: w.market.settlement.settle_batch(w.member, []),
        InputError,
        r"a batch needs at least one instruction",
    ),
    Case(
        "settlement-proposals-beyond-head",
        lambda w: w.market.settlement.proposals_for(w.member.address, from_block=FAR),
        InputError,
        BEYOND_HEAD,
    ),
    # ---------------------------------------------------------------- netting
    Case("netting-state-negative", lambda w: w.market.netting.state(-1), InputError, UINT_FIT),
    Case(
        "netting-fund-negative",
        lambda w: w.market.netting.fund(w.member, 1, -1),
        InputError,
        r"amount must be > 0, got -1",
    ),
    Case(
        "netting-approve-beyond-uint256",
        lambda w: w.market.netting.approve(w.member, 2**256),
        InputError,
        r"amount does not fit in uint256",
    ),
    Case(
        "netting-position-none",
        lambda w: w.market.netting.position_of(0, None),
        InputError,
        r"Netting\.position_of: member must be a text",
    ),
    Case(
        "netting-obligations-beyond-head",
        lambda w: w.market.netting.obligations(0, from_block=FAR),
        InputError,
        BEYOND_HEAD,
    ),
    Case(
        "netting-round-float",
        lambda w: w.market.netting.round(1.0),
        InputError,
        r"round_id must be a whole number \(int\), got 1\.0 \(float\)",
    ),
    # ---------------------------------------------------------------- derivatives
    Case(
        "terms-zero-quantity",
        lambda w: _terms(w, quantity=0),
        InputError,
        r"quantity and contract price must be positive",
    ),
    Case(
        "terms-negative-im",
        lambda w: _terms(w, buyer_im=-1),
        InputError,
        r"buyer_im must be a non-negative integer, got -1",
    ),
    Case(
        "terms-float-price",
        lambda w: _terms(w, contract_price=1.5),
        InputError,
        r"contract_price must be a non-negative integer",
    ),
    Case(
        "terms-bad-buyer",
        lambda w: w.market.derivatives.propose(w.member, _terms(w, buyer="0xnope")),
        InputError,
        NOT_ADDRESS,
    ),
    Case(
        "derivatives-deposit-negative",
        lambda w: w.market.derivatives.deposit_margin(w.member, -1),
        InputError,
        r"amount must be > 0, got -1",
    ),
    Case(
        "derivatives-deposit-beyond-uint256",
        lambda w: w.market.derivatives.deposit_margin(w.member, 2**256),
        InputError,
        r"amount does not fit in uint256",
    ),
    Case(
        "derivatives-withdraw-no-signer",
        lambda w: w.market.derivatives.withdraw_margin(None, 1),
        InputError,
        r"party must be a signing account",
    ),
    Case(
        "derivatives-withdraw-beyond-uint256",
        lambda w: w.market.derivatives.withdraw_margin(w.member, 2**256),
        InputError,
        r"amount does not fit in uint256",
    ),
    Case("derivatives-trade-negative", lambda w: w.market.derivatives.trade(-1), InputError, UINT_FIT),
    Case("derivatives-margin-of-bad", lambda w: w.market.derivatives.margin_of("0xZZ"), InputError, NOT_ADDRESS),
    Case(
        "derivatives-events-beyond-head",
        lambda w: w.market.derivatives.events(from_block=FAR),
        InputError,
        BEYOND_HEAD,
    ),
    Case(
        "derivatives-margin-history-beyond-head",
        lambda w: w.market.derivatives.margin_history(from_block=FAR),
        InputError,
        BEYOND_HEAD,
    ),
    Case(
        "derivatives-set-config-negative",
        lambda w: w.market.derivatives.set_config(w.roles.admin, -1, 60),
        InputError,
        r"cure period must be a positive number of seconds, got -1",
    ),
    # ---------------------------------------------------------------- oracle
    Case("oracle-submit-zero", lambda w: w.market.oracle.submit(dev_account(16), 0), InputError, r"positive price"),
    Case(
        "oracle-submit-float",
        lambda w: w.market.oracle.submit(dev_account(16), 101.5),
        InputError,
        r"answer must be a whole number \(int\), got 101\.5",
    ),
    Case(
        "oracle-submit-too-large",
        lambda w: w.market.oracle.submit(dev_account(16), 2**200),
        InputError,
        r"below 2\*\*127",
    ),
    Case(
        "oracle-submit-not-reporter",
        lambda w: w.market.oracle.submit(w.member, 100 * 10**8),
        ContractRevertError,
        r"OracleNotReporter",
    ),
    Case("oracle-round-negative", lambda w: w.market.oracle.round(-1), InputError, r"round"),
    Case("oracle-history-beyond-head", lambda w: w.market.oracle.history(from_block=FAR), InputError, BEYOND_HEAD),
    Case("oracle-is-reporter-none", lambda w: w.market.oracle.is_reporter(None), InputError, r"account must be a text"),
    Case(
        "oracle-first-round-text",
        lambda w: w.market.oracle.first_round_at_or_after("yesterday"),
        InputError,
        r"timestamp must be a whole number",
    ),
    # ---------------------------------------------------------------- the market, risk
    Case("market-unknown", lambda w: w.market.underlying("NOPE"), InputError, r"no market 'NOPE': this deployment has"),
    Case("market-waterfalls-beyond-head", lambda w: w.market.waterfalls(from_block=FAR), InputError, BEYOND_HEAD),
    Case(
        "market-account-roles-bad",
        lambda w: w.market.account_roles(["0xnope"]),
        InputError,
        NOT_ADDRESS,
    ),
    Case(
        "market-connect-not-http",
        lambda w: Market.connect("127.0.0.1:8545"),
        ChainConnectionError,
        r"must start with http:// or https://",
    ),
    Case("risk-prices-unknown-market", lambda w: w.market.risk.price_history("NOPE"), InputError, r"no market 'NOPE'"),
    Case(
        "risk-backtest-float-mpor",
        lambda w: w.market.risk.backtest(1.5, 0.99),
        InputError,
        r"mpor_seconds must be a whole number",
    ),
    Case(
        "risk-fund-sizing-shock",
        lambda w: w.market.risk.fund_sizing(3600, market_wide_bps=[-20_000], historical=False),
        InputError,
        r"> -10000 bps",
    ),
    Case("risk-regimes-no-book", lambda w: w.market.risk.regimes(None, []), InputError, r"no live trade on ACME"),  # type: ignore[arg-type]
    # ---------------------------------------------------------------- books
    Case(
        "books-tr-to-beyond-head",
        lambda w: Books(w.market).trade_repository(to_block=FAR),
        InputError,
        r"to_block 1000000000 is beyond the chain's head",
    ),
    Case("books-unknown-view", lambda w: Books(w.market).view("pnl"), InputError, r"unknown view 'pnl': one of"),
    Case("books-unknown-market", lambda w: Books(w.market).positions("NOPE"), InputError, r"no market 'NOPE'"),
    Case(
        "books-window-reversed",
        lambda w: Books(w.market).trade_repository(report_from=2_000_000_000, report_to=1_000_000_000),
        InputError,
        r"the window starts .* after it ends",
    ),
    Case(
        "books-viewer-key-short",
        lambda w: Books(w.market, viewer_key=b"short"),
        InputError,
        r"viewer_key must be a private key of 32 bytes \(not all zero\), got 5 bytes",
    ),
    Case(
        "books-viewer-key-text",
        lambda w: Books(w.market, viewer_key="0x" + "11" * 32),
        InputError,
        r"Books\(\): viewer_key must be bytes, got '0x1111",
    ),
    Case(
        "books-chunk-blocks-float",
        lambda w: Books(w.market, chunk_blocks=2.5),
        InputError,
        r"Books\(\): chunk_blocks must be a whole number \(int\), got 2\.5",
    ),
    Case(
        "books-connect-none",
        lambda w: connect(None),
        ChainConnectionError,
        r"must start with http:// or https://, got None",
    ),
    Case(
        "books-connect-manifest-number",
        lambda w: connect("http://127.0.0.1:1", manifest=7),
        InputError,
        r"manifest must be a file or folder path, got 7",
    ),
    Case("books-chain-alone", lambda w: Books(w.chain), InputError, r"give the deployment with the chain"),
    Case("books-connect-ftp", lambda w: connect("ftp://127.0.0.1"), ChainConnectionError, r"http:// or https://"),
    # ---------------------------------------------------------------- deployment files
    Case(
        "manifest-missing",
        lambda w: Manifest.load(w.tmp_path / "nope.json"),
        ManifestError,
        r"no deployment manifest at .*nope\.json: run `dfmi deploy`",
    ),
    Case(
        "manifest-malformed",
        lambda w, path: Manifest.load(path),
        ManifestError,
        r"is malformed",
        prepare=lambda w: w.write("bad.json", '{"chain_id": "x"}'),
    ),
    Case(
        "manifest-not-json",
        lambda w, path: Manifest.load(path),
        ManifestError,
        r"is malformed|not JSON",
        prepare=lambda w: w.write("bad.json", "chain_id = 1"),
    ),
    Case(
        "manifest-other-chain-id",
        lambda w, path: open_manifest(w.chain, path),
        ManifestError,
        r"records chain 1 with genesis .* but this chain is 31337 with genesis",
        prepare=_foreign_manifest,
    ),
    Case(
        "manifest-other-chain-id-in-folder",
        lambda w, path: load_deployment(w.chain, path.parent),
        ManifestError,
        r"records chain 1 .* this chain is 31337",
        prepare=_foreign_manifest,
    ),
    Case(
        "manifest-none-for-chain",
        lambda w: load_deployment(w.chain, w.tmp_path),
        ManifestError,
        r"no deployment manifest for chain 31337",
    ),
    Case(
        "deploy-config-missing",
        lambda w: load_config(w.tmp_path / "market.toml"),
        ConfigError,
        r"market\.toml: cannot read the configuration \(No such file or directory\)",
    ),
    Case("deploy-config-not-toml", lambda w: parse_config("x =", "market.toml"), ConfigError, r"not valid TOML"),
    Case(
        "deploy-config-unknown-key",
        lambda w: parse_config("[cash]\ndecimal = 6", "market.toml"),
        ConfigError,
        r"market\.toml: unknown key 'cash\.decimal'",
    ),
    Case(
        "deploy-config-wrong-type",
        lambda w: parse_config('[cash]\ndecimals = "six"', "market.toml"),
        ConfigError,
        r"cash\.decimals: input should be a valid integer.*\(got 'six'\)",
    ),
    Case(
        "deploy-config-negative-floor",
        lambda w: parse_config("[fund]\nfloor = -5", "market.toml"),
        ConfigError,
        r"fund\.floor: input should be greater than or equal to 0 \(got -5\)",
    ),
    Case(
        "roles-bad-checksum",
        lambda w: RoleConfig.parse({**RoleConfig.devnet().model_dump(), "minter": wrong_checksum(w.member.address)}),
        ConfigError,
        r"roles: minter: '0x\w+' has a wrong checksum",
    ),
    Case(
        "roles-missing-key",
        lambda w: RoleConfig.parse({"admin": w.member.address}),
        ConfigError,
        r"roles: compliance_officer: missing: every role needs an address; regulator: missing",
    ),
    Case(
        "roles-file-not-json",
        lambda w, path: RoleConfig.load(path),
        ConfigError,
        r"roles\.json: not valid JSON",
        prepare=lambda w: w.write("roles.json", "admin = 0x1"),
    ),
    Case(
        "roles-file-unknown-role",
        lambda w, path: RoleConfig.load(path),
        ConfigError,
        r"roles\.json: owner: unknown role \(a typo\?\)",
        prepare=lambda w: w.write(
            "roles.json", json.dumps({**RoleConfig.devnet().model_dump(), "owner": w.member.address})
        ),
    ),
    Case(
        "settlement-signed-by-an-address",
        lambda w: w.market.settlement.signed(
            w.market.settlement.dvp(
                w.member.address, w.deployment.security.address, 1, w.other.address, w.market.cash.address, 1
            ),
            w.member,
            w.other.address,
        ),
        InputError,
        r"Settlement\.signed: signers must be a signing account .*got '0x\w+' \(str\)",
    ),
    Case(
        "amount-decimal-not-int",
        lambda w: w.market.cash.mint(w.roles.minter, w.member.address, Decimal(1)),
        InputError,
        r"amount must be a whole number",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_api_input_raises_one_clear_error_and_changes_nothing(case: Case, world: World) -> None:
    check_case(case, world)


def test_the_table_covers_enough_cases() -> None:
    assert len(CASES) >= 70
    assert len({case.id for case in CASES}) == len(CASES)


# -------------------------------------------------------------------------------- revert reasons


def _error_string(text: str) -> str:
    return "0x08c379a0" + abi_encode(["string"], [text]).hex()


def _panic(code: int) -> str:
    return "0x4e487b71" + abi_encode(["uint256"], [code]).hex()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, r"^pay: reverted without a reason \(out of gas\? a token that reverts silently\?\)$"),
        ("0x", r"^pay: reverted without a reason \(out of gas\?"),
        (_error_string("not enough"), r"^pay: reverted with the message 'not enough' \(a require in a contract"),
        (_panic(0x11), r"^pay: reverted with Panic\(0x11\): an arithmetic overflow or underflow$"),
        (_panic(0x12), r"^pay: reverted with Panic\(0x12\): a division or modulo by zero$"),
        ("0xdeadbeef", r"^pay: reverted with an error unknown to the project \(selector 0xdeadbeef, from another"),
    ],
    ids=["no-data", "empty-data", "require-string", "panic-overflow", "panic-division", "foreign-error"],
)
def test_a_revert_without_a_project_error_says_what_is_known(chain: Chain, data: str | None, message: str) -> None:
    error = chain.decode_revert(ContractLogicError("execution reverted", data=data), "pay")
    assert type(error) is TransactionError
    assert re.search(message, str(error)), str(error)


def test_a_transaction_mined_reverted_names_its_function_contract_and_gas(
    chain: Chain, market: Market, roles: Roles, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Too little gas for the transfer: the estimate passes, the transaction is mined and fails.
    monkeypatch.setattr(client, "with_headroom", lambda gas, percent=0: 25_000)
    before = market.cash.balance_of(roles.members[1].address)
    with pytest.raises(TransactionError) as raised:
        market.cash.transfer(roles.members[0], roles.members[1].address, 0)
    message = str(raised.value)
    assert re.fullmatch(
        r"transfer: transaction 0x[0-9a-f]{64} \(transfer\(address,uint256\) on "
        + market.cash.address
        + r"\) reverted without a reason \(out of gas\? a token that reverts silently\?\) on-chain; "
        r"gas used 25,000 of a 25,000 limit: it ran out of gas",
        message,
    ), message
    receipt = chain.w3.eth.get_transaction_receipt(chain.w3.eth.get_block("latest")["transactions"][0])
    assert receipt["status"] == 0
    assert market.cash.balance_of(roles.members[1].address) == before


def test_a_wrong_checksum_moves_nothing_even_with_a_funded_sender(
    world: World, fund: Callable[[str, int], None]
) -> None:
    fund(world.member.address, 1_000)
    typo = wrong_checksum(world.other.address)
    check_case(Case("funded", lambda w: w.market.cash.transfer(w.member, typo, 1_000), InputError, BAD_CHECKSUM), world)
    assert world.market.cash.balance_of(world.member.address) == 1_000
    assert world.market.cash.balance_of(world.other.address) == 0
