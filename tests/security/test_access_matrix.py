"""The access matrices: every state-changing function of every deployable contract, called by everyone.

Each row of :data:`ROWS` classifies one external non-view function of a contract's compiled ABI
(a function the ABI gains without a row fails :func:`test_every_state_changing_function_has_a_row`):

- **role R**: restricted to an AccessControl role. Every caller without it reverts with
  ``AccessControlUnauthorizedAccount(caller, R)``; the holder gets through (or, where the world
  lacks the state the call needs, gets past the check and reverts with the named state error).
- **only X**: restricted to a named account or contract (the registry, an engine, the netting or
  the settlement contract, the reporters, the trade's, instruction's or obligation's parties, the
  round's opener, the caller's own balance). Every other caller reverts with the named error
  carrying its own address.
- **signed**: anyone may send it, but it acts only with signatures of the parties (permit, 2-of-2
  amendments, the fund's k-of-n): with them every caller gets the same result; with a forged
  signature every caller, the parties included, reverts with the named error.
- **anyone**: open, with the reason in :attr:`Row.why`; every caller gets the same result (the
  caller's identity changes nothing). The money tests at the end show an outsider's call moving
  only what the oracle, the signatures or the verified nets say.

Every cell is an ``eth_call`` from the caller's address, all of a row's cells in one JSON-RPC
batch, on :func:`tests.security.conftest.world`; pseudo-callers (a contract calling another) speak
through ``eth_call`` alone. SECURITY.md's tables name exactly the functions of these rows
(:func:`test_security_md_tables_name_exactly_the_functions_of_the_matrix`);
``python -m tests.security.test_access_matrix`` prints the tables from the rows (``--write`` puts them
in SECURITY.md).
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils import is_address, to_checksum_address
from eth_utils.crypto import keccak
from web3.contract import Contract

from dfmi_py.build import compile_contracts
from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.roles import DEV_REPORTER_INDICES
from dfmi_py.errors import ContractRevertError
from dfmi_py.netting.obligation import obligation_id
from dfmi_py.signing import Domain, amendment_message, sign_typed, termination_message
from dfmi_py.signing.fund import Action, ActionKind, sign_action, sorted_approvals
from dfmi_py.signing.settlement import instruction_id
from tests.helpers import PermitDomain, Roles, expect_revert, read_words
from tests.security.conftest import (
    CALLERS,
    DAY,
    ESCROW,
    IM,
    JOIN,
    PRICE,
    QUANTITY,
    TERM,
    World,
    terms_tuple,
)

SECURITY_MD = Path(__file__).resolve().parents[2] / "SECURITY.md"
ATTACKS_HEADING = "## Attacks tested"

#: Contracts of the matrix by artifact name, and their key in :attr:`World.contracts`.
CONTRACTS = {
    "ComplianceRegistry": "registry",
    "CashToken": "cash",
    "SecurityToken": "security",
    "PriceOracle": "oracle",
    "DerivativeEngine": "engine",
    "DefaultFund": "fund",
    "AtomicSettlement": "settlement",
    "NettingEngine": "netting",
}
#: ComplianceMirror is abstract: its functions are every token's, and SECURITY.md has a table for it too.
MIRROR = "ComplianceMirror"
MIRROR_FUNCTIONS = frozenset({"complianceStatusChanged", "syncCompliance"})

#: A compressed secp256k1 key (the curve's generator) for the regulator to publish.
DISCLOSURE_KEY = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
#: An identity envelope naming key epoch 1 (the registry reads its version and epoch only).
ENVELOPE = bytes([1]) + (1).to_bytes(4, "big") + bytes(200)
#: Callers onboarded (`Active`) in the world; the others were never onboarded.
ACTIVE = ("minter", "burner", "issuer", "buyer", "seller", "member")
#: The members holding cash and having approved every contract of the suite.
FUNDED = ("buyer", "seller", "member")
#: Enum values as the chain returns them.
TRADE_LIVE, TRADE_MARGIN_CALL = 2, 3
ROUND_COLLECTING, ROUND_CLOSED, ROUND_VERIFIED, ROUND_EXPIRED = 1, 2, 3, 5

Args = Callable[[World, dict[str, Any]], list[Any]]
#: What a call gives: ``None`` for success, else the custom error's name and the arguments to check.
Outcome = tuple[str, dict[str, Any]] | None
#: The outcome for a caller, given the world and the caller's address.
Expect = Callable[[World, str], Outcome]
Prepare = Callable[[World], dict[str, Any]]


def role_id(name: str) -> bytes:
    """An AccessControl role's id (the admin role is zero)."""
    return bytes(32) if name == "DEFAULT_ADMIN_ROLE" else keccak(text=name)


def ok(world: World, caller: str) -> Outcome:
    """The call goes through."""
    return None


def error(name: str, **args: Any) -> Expect:
    """Reverts with ``name``; each argument a value, or a function of the world and the caller's address."""

    def expect(world: World, caller: str) -> Outcome:
        return name, {k: v(world, caller) if callable(v) else v for k, v in args.items()}

    return expect


def caller_(world: World, caller: str) -> str:
    """The caller's own address, as an error's argument."""
    return caller


def of(name: str) -> Callable[[World, str], Any]:
    """An account's or a contract's address, as an error's argument."""
    return lambda w, _caller: w.address(name)


def _nothing(world: World) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Row:
    """One function of one contract: who may call it, with what, and what everyone else gets.

    ``args`` build the call as its allowed callers make it; ``allowed`` get ``passes``, every other
    caller of :data:`CALLERS` gets ``denied``. ``forged`` (signed rows) builds the same call with a
    forged signature: every caller gets ``forged_error``. ``prepare`` (role rows) sets up what the
    holder's transaction needs to succeed, for :func:`test_role_holder_transaction_succeeds`.
    """

    contract: str
    function: str
    access: str
    why: str
    args: Args
    allowed: tuple[str, ...]
    denied: Expect
    passes: Expect = ok
    role: str | None = None
    prepare: Prepare = _nothing
    forged: Args | None = None
    forged_error: Expect | None = None
    label: str = ""
    moves: dict[str, int] | None = None

    @property
    def id(self) -> str:
        return f"{self.contract}.{self.function}{self.label}"

    @property
    def tables(self) -> tuple[str, ...]:
        """SECURITY.md's tables that name this row's function."""
        return (self.contract, MIRROR) if self.function in MIRROR_FUNCTIONS else (self.contract,)


def role(
    contract: str,
    function: str,
    role_name: str,
    holder: str,
    args: Args,
    why: str,
    *,
    passes: Expect = ok,
    prepare: Prepare = _nothing,
    label: str = "",
) -> Row:
    """A function restricted to ``role_name``, held by ``holder`` alone."""
    denied = error("AccessControlUnauthorizedAccount", account=caller_, neededRole=role_id(role_name))
    return Row(
        contract,
        function,
        f"role `{role_name}` ({holder})",
        why,
        args,
        (holder,),
        denied,
        passes,
        role=role_name,
        prepare=prepare,
        label=label,
    )


def renounce(contract: str, role_name: str, holder: str) -> Row:
    """``renounceRole``: a holder gives up its own role; nobody renounces for another."""
    return Row(
        contract,
        "renounceRole",
        "the role's holder, for itself",
        "drops the caller's own role; renouncing another account's role reverts (`AccessControlBadConfirmation`)",
        lambda w, c: [role_id(role_name), w.address(holder)],
        (holder,),
        error("AccessControlBadConfirmation"),
        label=f"({role_name})",
    )


def only(
    contract: str,
    function: str,
    access: str,
    why: str,
    args: Args,
    allowed: tuple[str, ...],
    denied: Expect,
    passes: Expect = ok,
) -> Row:
    """A function restricted to ``allowed``; everyone else gets ``denied``."""
    return Row(contract, function, access, why, args, allowed, denied, passes)


def anyone(
    contract: str, function: str, why: str, args: Args, outcome: Expect = ok, moves: dict[str, int] | None = None
) -> Row:
    """A function open to anyone: every caller gets ``outcome``; the outsider's call moves exactly ``moves``
    (holdings by :func:`_books` key; nothing when ``None``)."""
    return Row(contract, function, "anyone", why, args, CALLERS, ok, outcome, moves=moves or {})


def signed(contract: str, function: str, access: str, why: str, args: Args, forged: Args, forged_error: Expect) -> Row:
    """A function anyone may send, acting only on the parties' signatures."""
    return Row(contract, function, access, why, args, CALLERS, ok, ok, forged=forged, forged_error=forged_error)


def not_active_or(otherwise: Expect) -> Expect:
    """``ComplianceAccountNotActive(caller, None)`` for a caller never onboarded, else ``otherwise``."""
    by_address: dict[str, bool] = {}

    def expect(world: World, caller: str) -> Outcome:
        if not by_address:
            by_address.update({world.address(name): name in ACTIVE for name in CALLERS})
        if not by_address[caller]:
            return "ComplianceAccountNotActive", {"account": caller, "status": 0}
        return otherwise(world, caller)

    return expect


# ---------------------------------------------------------------------- prepares (role holders' transactions)


def _freeze_member(w: World) -> dict[str, Any]:
    w.chain.transact(w.contracts["registry"].functions.freeze(w.address("member")), w.accounts["officer"])
    return {}


def _publish_key(w: World) -> dict[str, Any]:
    w.chain.transact(w.contracts["registry"].functions.publishRegulatorKey(DISCLOSURE_KEY), w.accounts["regulator"])
    return {}


def _spare_token(w: World) -> dict[str, Any]:
    admin = w.accounts["admin"]
    token, _ = w.chain.deploy("CashToken", ["Spare", "SPR", 6, w.contracts["registry"].address, admin.address], admin)
    return {"spare": token.address}


def _cash_to_burner(w: World) -> dict[str, Any]:
    w.chain.transact(w.contracts["cash"].functions.mint(w.address("burner"), 10), w.accounts["minter"])
    return {}


def _shares_to_issuer(w: World) -> dict[str, Any]:
    w.chain.transact(w.contracts["security"].functions.transfer(w.address("issuer"), 1), w.buyer)
    return {}


def _pause(token: str) -> Prepare:
    def prepare(w: World) -> dict[str, Any]:
        w.chain.transact(w.contracts[token].functions.pause(), w.accounts["pauser"])
        return {}

    return prepare


# ---------------------------------------------------------------------- signed arguments


def _permit(token: str, signer: str = "buyer") -> Args:
    """The buyer's permit for the member to spend 1 unit; signed by ``signer`` (a forgery if not the buyer)."""

    def args(w: World, c: dict[str, Any]) -> list[Any]:
        contract = w.contracts[token]
        deadline = w.start + 10 * DAY
        v, r, s = PermitDomain.of(contract).sign(
            w.accounts[signer], w.address("member"), 1, 0, deadline, claimed_owner=w.address("buyer")
        )
        return [w.address("buyer"), w.address("member"), 1, deadline, v, r, s]

    return args


def _engine_domain(w: World) -> Domain:
    return Domain("DerivativeEngine", "1", w.chain.chain_id, w.contracts["engine"].address)


def _amendment(seller_signer: str) -> Args:
    def args(w: World, c: dict[str, Any]) -> list[Any]:
        a = {
            "tradeId": w.live_trade,
            "quantity": QUANTITY,
            "maturity": w.start + TERM,
            "buyerIm": IM,
            "sellerIm": IM,
            "payment": 0,
            "nonce": 0,
            "deadline": w.start + 10 * DAY,
        }
        message = amendment_message(_engine_domain(w), a)
        sigs = [sign_typed(w.accounts[s], message).packed() for s in ("buyer", seller_signer)]
        return [tuple(a.values()), *sigs]

    return args


def _termination(seller_signer: str) -> Args:
    def args(w: World, c: dict[str, Any]) -> list[Any]:
        x = {"tradeId": w.live_trade, "payment": 0, "nonce": 0, "deadline": w.start + 10 * DAY}
        message = termination_message(_engine_domain(w), x)
        sigs = [sign_typed(w.accounts[s], message).packed() for s in ("buyer", seller_signer)]
        return [tuple(x.values()), *sigs]

    return args


def _fund_action(seller_signer: str) -> Args:
    """Buyer and seller (the fund's two members: its threshold) set the replenishment window to two days."""

    def args(w: World, c: dict[str, Any]) -> list[Any]:
        fund = w.contracts["fund"]
        domain = Domain("DefaultFund", "1", w.chain.chain_id, fund.address)
        action = Action.build(ActionKind.SET_REPLENISHMENT_WINDOW, 2 * DAY, nonce=0, deadline=w.start + 10 * DAY)
        approvals = [sign_action(w.accounts["buyer"], domain, action)]
        forged = sign_action(w.accounts[seller_signer], domain, action)
        approvals.append(type(forged)(w.address("seller"), forged.signature))
        return [action.as_tuple(), [a.as_tuple() for a in sorted_approvals(approvals)]]

    return args


def _instruction(w: World) -> tuple[Any, ...]:
    return w.instruction.as_tuple()


def _instruction_id(w: World, caller: str) -> bytes:
    return w.instruction_id()


def _obligation_id(amount: int, ref: int) -> Callable[[World, str], bytes]:
    return lambda w, _caller: _obligation_digest(w, amount, ref)


def _obligation_digest(w: World, amount: int, ref: int) -> bytes:
    return obligation_id(w.netting_domain(), w.obligation(amount, ref))


# ---------------------------------------------------------------------- the rows

_REG, _CASH, _SEC, _ORA = "ComplianceRegistry", "CashToken", "SecurityToken", "PriceOracle"
_ENG, _FUND, _SET, _NET = "DerivativeEngine", "DefaultFund", "AtomicSettlement", "NettingEngine"

_STATUS = "moves no money; every token holding stays its owner's"
_FREEZE = (
    "stops the account sending, receiving, trading and settling until unfrozen; its holdings and "
    "claims stay recorded as its own (a temporary condition)"
)


def _token_rows(contract: str, key: str) -> list[Row]:
    """The rows every compliant token shares (pause, mirror, ERC-20, permit)."""
    holders = ("buyer",) if key == "security" else FUNDED
    return [
        role(
            contract,
            "pause",
            "PAUSER_ROLE",
            "pauser",
            lambda w, c: [],
            "stops every movement of the token (temporary: engines give a full cure period after the unpause)",
        ),
        role(
            contract,
            "unpause",
            "PAUSER_ROLE",
            "pauser",
            lambda w, c: [],
            "resumes movement and records the time (`lastUnpausedAt`)",
            passes=error("ExpectedPause"),
            prepare=_pause(key),
        ),
        only(
            contract,
            "complianceStatusChanged",
            "only the registry",
            "writes the registry's own new status into the token's copy (the registry pushes it)",
            lambda w, c: [w.address("member"), 1],
            ("registry",),
            error("ComplianceMirrorUnauthorized", caller=caller_),
        ),
        anyone(
            contract,
            "syncCompliance",
            "copies an account's status from the registry, which it reads itself: nothing of the caller's choosing",
            lambda w, c: [w.address("member")],
        ),
        only(
            contract,
            "approve",
            "an onboarded account, for its own tokens",
            "lets a spender move the caller's own tokens; owner and spender must be Active",
            lambda w, c: [w.contracts["settlement"].address, 1],
            ACTIVE,
            not_active_or(ok),
        ),
        only(
            contract,
            "transfer",
            "the holder, of its own balance",
            "moves the caller's own tokens to an Active account",
            lambda w, c: [w.address("member"), 1],
            holders,
            not_active_or(error("ERC20InsufficientBalance", sender=caller_, balance=0, needed=1)),
        ),
        only(
            contract,
            "transferFrom",
            "a spender the owner approved",
            "moves the owner's tokens within the allowance the owner granted (the suite's contracts pull only under their own rules)",  # noqa: E501
            lambda w, c: [w.address("buyer"), w.address("seller"), 1],
            ("settlement",),
            not_active_or(error("ERC20InsufficientAllowance", spender=caller_, allowance=0, needed=1)),
        ),
        signed(
            contract,
            "permit",
            "anyone, with the owner's EIP-2612 signature",
            "grants the allowance the owner signed (bound to chain, token, nonce and deadline); nothing else",
            _permit(key),
            _permit(key, signer="outsider"),
            error("ERC2612InvalidSigner", signer=of("outsider"), owner=of("buyer")),
        ),
    ]


ROWS: tuple[Row, ...] = (
    # ------------------------------------------------------------------ ComplianceRegistry
    role(
        _REG,
        "onboard",
        "COMPLIANCE_ROLE",
        "officer",
        lambda w, c: [w.address("outsider")],
        f"admits an account (None → Active); {_STATUS}",
    ),
    role(
        _REG,
        "onboardBatch",
        "COMPLIANCE_ROLE",
        "officer",
        lambda w, c: [[w.address("outsider")]],
        "admits several accounts, all or none",
    ),
    role(_REG, "freeze", "COMPLIANCE_ROLE", "officer", lambda w, c: [w.address("member")], _FREEZE),
    role(
        _REG,
        "unfreeze",
        "COMPLIANCE_ROLE",
        "officer",
        lambda w, c: [w.address("member")],
        "lifts a freeze (Frozen → Active)",
        passes=error("ComplianceInvalidStatus", account=of("member"), actual=1),
        prepare=_freeze_member,
    ),
    role(
        _REG,
        "offboard",
        "COMPLIANCE_ROLE",
        "officer",
        lambda w, c: [w.address("member")],
        "removes an account (→ None): it can no longer move tokens; what it holds and is owed stays its own",
    ),
    role(
        _REG,
        "publishRegulatorKey",
        "REGULATOR_ROLE",
        "regulator",
        lambda w, c: [DISCLOSURE_KEY],
        "publishes the disclosure key identities are encrypted to; the regulator can do nothing else",
    ),
    role(
        _REG,
        "recordIdentity",
        "COMPLIANCE_ROLE",
        "officer",
        lambda w, c: [w.address("member"), ENVELOPE],
        "records an onboarded account's encrypted identity",
        passes=error("ComplianceNoRegulatorKey"),
        prepare=_publish_key,
    ),
    role(
        _REG,
        "addSubscriber",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda w, c: [c.get("spare", w.contracts["cash"].address)],
        "subscribes a token's mirror (ERC-165 checked)",
        passes=error("ComplianceSubscriberExists", subscriber=of("cash")),
        prepare=_spare_token,
    ),
    role(
        _REG,
        "removeSubscriber",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda w, c: [w.contracts["cash"].address],
        "unsubscribes a mirror (lifts one that blocks status changes; it keeps its copy until subscribed again)",
    ),
    role(
        _REG,
        "grantRole",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda w, c: [role_id("COMPLIANCE_ROLE"), w.address("outsider")],
        "appoints an officer or a regulator",
        label="(COMPLIANCE_ROLE)",
    ),
    role(
        _REG,
        "revokeRole",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda w, c: [role_id("COMPLIANCE_ROLE"), w.address("officer")],
        "removes an officer or a regulator",
        label="(COMPLIANCE_ROLE)",
    ),
    renounce(_REG, "COMPLIANCE_ROLE", "officer"),
    # ------------------------------------------------------------------ CashToken
    role(
        _CASH,
        "configureMinter",
        "MASTER_MINTER_ROLE",
        "master_minter",
        lambda w, c: [w.address("member"), 1_000],
        "makes a minter and sets how much it may still mint",
    ),
    role(
        _CASH,
        "removeMinter",
        "MASTER_MINTER_ROLE",
        "master_minter",
        lambda w, c: [w.address("minter")],
        "takes a minter's role and allowance",
    ),
    role(
        _CASH,
        "mint",
        "MINTER_ROLE",
        "minter",
        lambda w, c: [w.address("member"), 1],
        "issues new cash to an Active account, within the minter's allowance",
    ),
    role(
        _CASH,
        "burn",
        "BURNER_ROLE",
        "burner",
        lambda w, c: [1],
        "redeems cash handed to the burner, from its own balance only",
        passes=error("ERC20InsufficientBalance", sender=of("burner"), balance=0, needed=1),
        prepare=_cash_to_burner,
    ),
    *_token_rows(_CASH, "cash"),
    role(
        _CASH,
        "grantRole",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda w, c: [role_id("PAUSER_ROLE"), w.address("outsider")],
        "appoints a pauser, burner, master minter or admin",
        label="(PAUSER_ROLE)",
    ),
    role(
        _CASH,
        "revokeRole",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda w, c: [role_id("PAUSER_ROLE"), w.address("pauser")],
        "removes one",
        label="(PAUSER_ROLE)",
    ),
    role(
        _CASH,
        "grantRole",
        "MASTER_MINTER_ROLE",
        "master_minter",
        lambda w, c: [role_id("MINTER_ROLE"), w.address("member")],
        "the minter role is the master minter's to give",
        label="(MINTER_ROLE)",
    ),
    role(
        _CASH,
        "revokeRole",
        "MASTER_MINTER_ROLE",
        "master_minter",
        lambda w, c: [role_id("MINTER_ROLE"), w.address("minter")],
        "and to take",
        label="(MINTER_ROLE)",
    ),
    renounce(_CASH, "PAUSER_ROLE", "pauser"),
    # ------------------------------------------------------------------ SecurityToken
    role(
        _SEC,
        "issue",
        "ISSUER_ROLE",
        "issuer",
        lambda w, c: [w.address("member"), 1],
        "issues new units to an Active account",
    ),
    role(
        _SEC,
        "redeem",
        "ISSUER_ROLE",
        "issuer",
        lambda w, c: [1],
        "redeems units handed back to the issuer, from its own balance only",
        passes=error("ERC20InsufficientBalance", sender=of("issuer"), balance=0, needed=1),
        prepare=_shares_to_issuer,
    ),
    *_token_rows(_SEC, "security"),
    role(
        _SEC,
        "grantRole",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda w, c: [role_id("ISSUER_ROLE"), w.address("member")],
        "appoints an issuer, pauser or admin",
        label="(ISSUER_ROLE)",
    ),
    role(
        _SEC,
        "revokeRole",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda w, c: [role_id("ISSUER_ROLE"), w.address("issuer")],
        "removes one",
        label="(ISSUER_ROLE)",
    ),
    renounce(_SEC, "ISSUER_ROLE", "issuer"),
    # ------------------------------------------------------------------ PriceOracle
    only(
        _ORA,
        "submit",
        "only a reporter",
        "one report per reporter and round, positive and within bounds; the answer is the median of a quorum",
        lambda w, c: [w.contracts["oracle"].functions.openRound().call(), PRICE],
        ("reporter",),
        error("OracleNotReporter", account=caller_),
    ),
    only(
        _ORA,
        "propose",
        "only a reporter",
        "proposes a new reporter list and settings; counts as one approval of `jumpQuorum`",
        lambda w, c: [
            w.contracts["oracle"].functions.reporters().call(),
            w.contracts["oracle"].functions.config().call(),
        ],
        ("reporter",),
        error("OracleNotReporter", account=caller_),
    ),
    only(
        _ORA,
        "approve",
        "only a reporter",
        "approves a proposal bound to the change nonce; the `jumpQuorum`-th approval applies it",
        lambda w, c: [bytes(32)],
        ("reporter",),
        error("OracleNotReporter", account=caller_),
        passes=error("OracleChangeUnknown", id=bytes(32)),
    ),
    # ------------------------------------------------------------------ DerivativeEngine
    only(
        _ENG,
        "propose",
        "only a party of the terms",
        "proposes terms naming the caller as buyer or seller; moves no money",
        lambda w, c: [terms_tuple(w.address("buyer"), w.address("seller"), w.start + TERM, 3)],
        ("buyer", "seller"),
        error("DerivativeNotCounterparty", tradeId=0, caller=caller_),
    ),
    only(
        _ENG,
        "confirm",
        "only the proposer's counterparty",
        "binds the identical terms; each party's IM moves from its own wallet",
        lambda w, c: [w.proposed_trade, w.proposed_terms],
        ("seller",),
        error("DerivativeNotCounterparty", tradeId=2, caller=caller_),
    ),
    only(
        _ENG,
        "cancel",
        "only a party of the proposal",
        "withdraws a proposal before confirmation; moves no money",
        lambda w, c: [w.proposed_trade],
        ("buyer", "seller"),
        error("DerivativeNotCounterparty", tradeId=2, caller=caller_),
    ),
    only(
        _ENG,
        "depositMargin",
        "anyone, from its own wallet",
        "pulls the caller's own cash into the caller's margin account",
        lambda w, c: [1],
        FUNDED,
        error("ERC20InsufficientAllowance", spender=of("engine"), allowance=0, needed=1),
    ),
    only(
        _ENG,
        "withdrawMargin",
        "the account's owner",
        "pays the caller's own free margin to the caller",
        lambda w, c: [1],
        ("buyer",),
        error("DerivativeInsufficientMargin", party=caller_, available=0, amount=1),
    ),
    anyone(
        _ENG,
        "settle",
        "marks a trade to the oracle's latest round: the amount comes from the oracle and the terms alone, "
        "once per round, between the two parties",
        lambda w, c: [w.live_trade],
    ),
    anyone(_ENG, "settleMany", "`settle` for many trades; skips what is not due", lambda w, c: [[w.live_trade]]),
    only(
        _ENG,
        "settleInBatch",
        "only the engine itself",
        "one trade of a settleMany batch in its own call frame",
        lambda w, c: [w.live_trade],
        ("engine",),
        error("DerivativeOnlyEngine", caller=caller_),
    ),
    anyone(
        _ENG,
        "cure",
        "pays an open margin call from the debtor's own margin account and wallet; only the debt moves",
        lambda w, c: [w.live_trade],
        error("DerivativeUnexpectedState", tradeId=1, expected=TRADE_MARGIN_CALL, actual=TRADE_LIVE),
    ),
    anyone(
        _ENG,
        "declareDefault",
        "only after the cure period, with the token not paused; the close-out follows the waterfall",
        lambda w, c: [w.live_trade],
        error("DerivativeUnexpectedState", tradeId=1, expected=TRADE_MARGIN_CALL, actual=TRADE_LIVE),
    ),
    anyone(
        _ENG,
        "mature",
        "final settlement at the first final round at or after maturity, which the caller cannot pick otherwise",
        lambda w, c: [w.live_trade, 1],
        error("DerivativeNotMaturityRound", tradeId=1, roundId=1),
    ),
    anyone(
        _ENG,
        "retryFundClaim",
        "re-sends a pending fund claim whose amount the close-out fixed",
        lambda w, c: [w.live_trade],
        error("DerivativeNoPendingFundClaim", tradeId=1),
    ),
    signed(
        _ENG,
        "amend",
        "anyone, with both parties' EIP-712 signatures",
        "changes a live trade's terms as both parties signed (chain, engine, trade, nonce, deadline)",
        _amendment("seller"),
        _amendment("outsider"),
        error("DerivativeInvalidSignature", tradeId=1, signer=of("seller")),
    ),
    signed(
        _ENG,
        "terminate",
        "anyone, with both parties' EIP-712 signatures",
        "ends a trade early with the payment both parties signed",
        _termination("seller"),
        _termination("outsider"),
        error("DerivativeInvalidSignature", tradeId=1, signer=of("seller")),
    ),
    role(
        _ENG,
        "setConfig",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda w, c: [
            w.contracts["engine"].functions.curePeriod().call(),
            w.contracts["engine"].functions.maxPriceAge().call(),
        ],
        "sets the cure period and the oldest usable price (both positive); cannot touch any party's cash",
    ),
    role(
        _ENG,
        "grantRole",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda w, c: [role_id("DEFAULT_ADMIN_ROLE"), w.address("outsider")],
        "hands the admin role on (a multisig in production)",
        label="(DEFAULT_ADMIN_ROLE)",
    ),
    role(
        _ENG,
        "revokeRole",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda w, c: [role_id("DEFAULT_ADMIN_ROLE"), w.address("admin")],
        "removes it",
        label="(DEFAULT_ADMIN_ROLE)",
    ),
    renounce(_ENG, "DEFAULT_ADMIN_ROLE", "admin"),
    # ------------------------------------------------------------------ DefaultFund
    only(
        _FUND,
        "join",
        "an Active account not yet a member, with its own cash",
        "pulls the caller's own cash for its shares; at least its requirement",
        lambda w, c: [JOIN],
        ("member",),
        not_active_or(
            lambda w, a: (
                ("FundAlreadyMember", {"account": a})
                if a in (w.address("buyer"), w.address("seller"))
                else (
                    "ERC20InsufficientAllowance",
                    {"spender": w.contracts["fund"].address, "allowance": 0, "needed": JOIN},
                )
            )
        ),
    ),
    only(
        _FUND,
        "contribute",
        "a member, with its own cash",
        "adds the caller's own cash to its balance",
        lambda w, c: [1],
        ("buyer", "seller"),
        error("FundNotMember", account=caller_),
    ),
    anyone(
        _FUND,
        "flagMissedReplenishment",
        "flags a member still short after the replenishment window; moves no money",
        lambda w, c: [w.address("buyer")],
        error("FundReplenishmentWindowOpen", deadline=0),
    ),
    only(
        _FUND,
        "onTradeOpened",
        "only a registered engine",
        "counts a member's new IM towards its requirement; refuses members not in good standing",
        lambda w, c: [w.address("buyer"), 1],
        ("engine",),
        error("FundNotEngine", caller=caller_, status=0),
    ),
    only(
        _FUND,
        "onTradeClosed",
        "only an engine registered now or before",
        "removes a closed trade's IM from the member's requirement",
        lambda w, c: [w.address("buyer"), 1],
        ("engine",),
        error("FundNotEngine", caller=caller_, status=0),
    ),
    only(
        _FUND,
        "claim",
        "only an engine registered now or before",
        "the waterfall: the defaulter's balance, then the others' pro rata, up to the fund's assets, paid to the engine",  # noqa: E501
        lambda w, c: [w.address("buyer"), w.address("seller"), 1],
        ("engine",),
        error("FundNotEngine", caller=caller_, status=0),
    ),
    signed(
        _FUND,
        "execute",
        "anyone, with the EIP-712 approvals of `threshold` members (every member to register an engine)",
        "runs a governance action (rules, engines, withdrawals, surplus) the members signed",
        _fund_action("seller"),
        _fund_action("outsider"),
        error("FundInvalidSignature", signer=of("seller")),
    ),
    # ------------------------------------------------------------------ AtomicSettlement
    only(
        _SET,
        "settle",
        "anyone, with both parties' consent (signature, sender or on-chain approval)",
        "moves both legs exactly as instructed, or nothing; here only partyA's signature is missing, so only partyA may send it",  # noqa: E501
        lambda w, c: [_instruction(w), b"", w.signature_b],
        ("buyer",),
        error("SettlementUnauthorized", id=_instruction_id, party=of("buyer")),
    ),
    anyone(
        _SET,
        "settleBatch",
        "settles signed instructions, each both legs or nothing: exactly what the parties signed",
        lambda w, c: [[(_instruction(w), w.signature_a, w.signature_b)]],
        moves={"shares:buyer": -1, "shares:seller": 1, "cash:seller": -1, "cash:buyer": 1},
    ),
    only(
        _SET,
        "propose",
        "only a party of the instruction",
        "records the caller's own consent on-chain",
        lambda w, c: [_instruction(w)],
        ("buyer", "seller"),
        error("SettlementNotParty", id=_instruction_id, caller=caller_),
    ),
    only(
        _SET,
        "affirm",
        "only the other party of a proposed instruction",
        "records the caller's consent and settles if the legs can move",
        lambda w, c: [_instruction(w)],
        ("buyer", "seller"),
        error("SettlementNotParty", id=_instruction_id, caller=caller_),
        passes=error("SettlementNotProposed", id=_instruction_id, caller=caller_),
    ),
    only(
        _SET,
        "cancel",
        "only a party of the instruction",
        "spends the instruction's nonce: it can never settle",
        lambda w, c: [_instruction(w)],
        ("buyer", "seller"),
        error("SettlementNotParty", id=_instruction_id, caller=caller_),
    ),
    only(
        _SET,
        "executeSelf",
        "only the settlement contract itself",
        "moves both legs of an instruction its caller already authorised",
        lambda w, c: [_instruction(w), w.instruction_id(), False],
        ("settlement",),
        error("SettlementOnlySelf", caller=caller_),
    ),
    only(
        _SET,
        "lockForNetting",
        "only the netting contract fixed at construction",
        "locks a consented instruction into a netting round",
        lambda w, c: [_instruction(w), w.signature_a, w.signature_b, w.round_id],
        ("netting",),
        error("SettlementOnlyNetting", caller=caller_),
    ),
    only(
        _SET,
        "deliverNetted",
        "only the netting contract",
        "moves the delivery leg of an instruction it locked, in the round's settlement",
        lambda w, c: [_instruction(w), w.round_id],
        ("netting",),
        error("SettlementOnlyNetting", caller=caller_),
        passes=error("SettlementNotLocked", id=_instruction_id, nonce=1, state=0),
    ),
    only(
        _SET,
        "releaseFromNetting",
        "only the netting contract",
        "unlocks an instruction its round dropped: pending again",
        lambda w, c: [_instruction(w), w.round_id],
        ("netting",),
        error("SettlementOnlyNetting", caller=caller_),
        passes=error("SettlementNotLocked", id=_instruction_id, nonce=1, state=0),
    ),
    # ------------------------------------------------------------------ NettingEngine
    only(
        _NET,
        "openRound",
        "an Active account",
        "opens a round it may close early; holds nobody's money",
        lambda w, c: [w.start + DAY, w.start + 2 * DAY],
        ACTIVE,
        error("ComplianceAccountNotActive", account=caller_, status=0),
    ),
    only(
        _NET,
        "register",
        "anyone, with payer's and payee's consent (signature or sender)",
        "books a gross obligation both parties agreed; here the payer's signature is missing, so only the payer may send it",  # noqa: E501
        lambda w, c: [w.obligation(10, 1).as_tuple(), b"", w.sign_obligation("seller", w.obligation(10, 1))],
        ("buyer",),
        error("NettingUnauthorized", id=_obligation_id(10, 1), party=of("buyer")),
    ),
    anyone(
        _NET,
        "registerBatch",
        "books obligations both parties signed, all or none",
        lambda w, c: [
            [
                (
                    w.obligation(20, 2).as_tuple(),
                    w.sign_obligation("buyer", w.obligation(20, 2)),
                    w.sign_obligation("seller", w.obligation(20, 2)),
                )
            ]
        ],
    ),
    anyone(
        _NET,
        "enterInstruction",
        "enters a DvP instruction both parties signed into a round; the settlement contract checks the consent",
        lambda w, c: [w.round_id, _instruction(w), w.signature_a, w.signature_b],
    ),
    only(
        _NET,
        "close",
        "the round's opener before the cutoff; anyone after it",
        "stops registration; moves no money",
        lambda w, c: [w.round_id],
        ("buyer",),
        error("NettingCutoffNotReached", roundId=1, caller=caller_),
    ),
    anyone(
        _NET,
        "submitNets",
        "accepted only if every net equals the member's booked obligations and they sum to zero",
        lambda w, c: [w.round_id, []],
        error("NettingInvalidState", roundId=1, expected=ROUND_CLOSED, actual=ROUND_COLLECTING),
    ),
    anyone(
        _NET,
        "settle",
        "moves the verified nets (and the locked deliveries), all or nothing",
        lambda w, c: [w.round_id, []],
        error("NettingInvalidState", roundId=1, expected=ROUND_VERIFIED, actual=ROUND_COLLECTING),
    ),
    only(
        _NET,
        "settleSelf",
        "only the netting contract itself",
        "the body of settle, in its own frame so that a failed delivery is proven and recorded; it relies on settle's checks",  # noqa: E501
        lambda w, c: [w.round_id, []],
        ("netting",),
        error("NettingOnlySelf", caller=caller_),
    ),
    anyone(
        _NET,
        "removeFailed",
        "removes instructions whose delivery failed in a recorded attempt; moves no money",
        lambda w, c: [w.round_id, []],
        error("NettingInvalidState", roundId=1, expected=ROUND_VERIFIED, actual=ROUND_COLLECTING),
    ),
    anyone(
        _NET,
        "exclude",
        "after the funding deadline, only a member that cannot fund or deliver; moves no money",
        lambda w, c: [w.round_id, w.address("seller"), [], []],
        error("NettingInvalidState", roundId=1, expected=ROUND_CLOSED, actual=ROUND_COLLECTING),
    ),
    anyone(
        _NET,
        "releaseInstructions",
        "unlocks the instructions of an expired round; moves no money",
        lambda w, c: [w.round_id, []],
        error("NettingInvalidState", roundId=1, expected=ROUND_EXPIRED, actual=ROUND_COLLECTING),
    ),
    only(
        _NET,
        "fund",
        "anyone, from its own wallet",
        "pre-funds the caller's own net debit; the escrow stays the caller's",
        lambda w, c: [w.round_id, 1],
        FUNDED,
        error("ERC20InsufficientAllowance", spender=of("netting"), allowance=0, needed=1),
    ),
    only(
        _NET,
        "withdrawFunding",
        "the member that paid it in",
        "returns the caller's own free pre-funding to the caller",
        lambda w, c: [w.round_id, 1],
        ("buyer",),
        error("NettingWithdrawalExceedsFree", roundId=1, member=caller_, free=0, amount=1),
    ),
)


# ---------------------------------------------------------------------- running a row


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and is_address(value):
        return to_checksum_address(value)
    return value


def _outcomes(chain: Chain, contract: Contract, data: str, senders: list[str]) -> list[Outcome]:
    """Every sender's ``eth_call`` of ``data`` to ``contract``, in one batch: success or the decoded error."""
    requests = [("eth_call", [{"from": s, "to": contract.address, "data": data}, "latest"]) for s in senders]
    responses = sorted(chain.w3.provider.make_batch_request(requests), key=lambda r: r["id"])  # type: ignore[arg-type]
    outcomes: list[Outcome] = []
    for sender, response in zip(senders, responses, strict=True):
        if "result" in response:
            outcomes.append(None)
            continue
        raw = response["error"].get("data")
        decoded = chain.decode_error_data(raw) if isinstance(raw, str) else None
        assert decoded is not None, f"{sender}: a revert without a known custom error: {response['error']}"
        outcomes.append(decoded)
    return outcomes


def _matches(actual: Outcome, expected: Outcome) -> bool:
    if expected is None or actual is None:
        return actual is expected
    name, args = expected
    return actual[0] == name and all(actual[1].get(k) == _plain(v) for k, v in args.items())


def _check(world: World, row: Row, args: list[Any], allowed: tuple[str, ...], denied: Expect, passes: Expect) -> None:
    contract = world.contracts[CONTRACTS[row.contract]]
    data = contract.encode_abi(row.function, args=args)
    callers = list(dict.fromkeys([*CALLERS, *allowed]))
    senders = [world.address(c) for c in callers]
    outcomes = _outcomes(world.chain, contract, data, senders)
    wrong = []
    for caller, sender, actual in zip(callers, senders, outcomes, strict=True):
        expected = (passes if caller in allowed else denied)(world, sender)
        if not _matches(actual, expected):
            wrong.append(f"{caller}: expected {expected}, got {actual}")
    assert not wrong, f"{row.id}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_access_matrix_row(world: World, row: Row) -> None:
    """Every caller gets what the row says: the allowed ones through, everyone else the named error."""
    _check(world, row, row.args(world, {}), row.allowed, row.denied, row.passes)
    if row.forged is not None:
        assert row.forged_error is not None
        _check(world, row, row.forged(world, {}), (), row.forged_error, ok)


ROLE_ROWS = [r for r in ROWS if r.role is not None]


def test_exactly_the_listed_holder_holds_each_role(world: World) -> None:
    """A role row names the one caller holding its role, so its denied cells are denied for want of it."""
    calls = [
        (world.contracts[CONTRACTS[r.contract]], "hasRole", (role_id(r.role or ""), world.address(c)))
        for r in ROLE_ROWS
        for c in CALLERS
    ]
    held = iter(read_words(world.chain, calls))
    wrong = [
        f"{r.id}: {c} {'holds' if h else 'lacks'} {r.role}"
        for r in ROLE_ROWS
        for c, h in zip(CALLERS, [next(held) for _ in CALLERS], strict=True)
        if bool(h) != (c in r.allowed)
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("row", ROLE_ROWS, ids=[r.id for r in ROLE_ROWS])
def test_role_holder_transaction_succeeds(world: World, row: Row) -> None:
    """The holder's own transaction goes through (after what it needs), so the row names the role that matters."""
    context = row.prepare(world)
    (holder,) = row.allowed
    contract = world.contracts[CONTRACTS[row.contract]]
    receipt = world.chain.transact(contract.functions[row.function](*row.args(world, context)), world.accounts[holder])
    assert receipt["status"] == 1


# ---------------------------------------------------------------------- every function, and SECURITY.md


def _state_changing(contract: str) -> set[str]:
    abi = compile_contracts()[contract].abi
    return {f["name"] for f in abi if f["type"] == "function" and f["stateMutability"] not in ("view", "pure")}


@pytest.mark.parametrize("contract", sorted(CONTRACTS))
def test_every_state_changing_function_has_a_row(contract: str) -> None:
    """A function the contract gains fails here until the matrix (and SECURITY.md) classify it."""
    rows = {r.function for r in ROWS if r.contract == contract}
    functions = _state_changing(contract)
    assert functions - rows == set(), f"{contract}: functions without a row"
    assert rows - functions == set(), f"{contract}: rows for functions the ABI lacks"


def security_md_tables(text: str) -> dict[str, set[str]]:
    """The functions SECURITY.md's access tables name, by contract (its ``### Contract`` headings)."""
    tables: dict[str, set[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        heading = re.match(r"^### `?(\w+)`?", line)
        if heading:
            current = heading.group(1) if heading.group(1) in {*CONTRACTS, MIRROR} else None
            continue
        cell = re.match(r"^\| `(\w+)`", line)
        if current and cell:
            tables.setdefault(current, set()).add(cell.group(1))
    return tables


def test_security_md_tables_name_exactly_the_functions_of_the_matrix() -> None:
    """SECURITY.md's tables are the rows, word for word (``python -m tests.security.test_access_matrix --write``)."""
    expected: dict[str, set[str]] = {}
    for row in ROWS:
        for table in row.tables:
            expected.setdefault(table, set()).add(row.function)
    text = SECURITY_MD.read_text()
    assert security_md_tables(text) == expected
    assert markdown_tables().strip() in text, "SECURITY.md's tables differ from the rows: run with --write"


def markdown_tables() -> str:
    """SECURITY.md's access tables, from the rows (``python -m tests.security.test_access_matrix``)."""
    out: list[str] = []
    for table in [*CONTRACTS, MIRROR]:
        heading = f"### {table}" + (" (in every token: its rows are the tokens')" if table == MIRROR else "")
        out += [heading, "", "| function | who may call it | what it can do |", "|---|---|---|"]
        shown: set[str] = set()
        for row in ROWS:
            if table in row.tables and (table != MIRROR or row.function not in shown):
                shown.add(row.function)
                out.append(f"| `{row.function}`{row.label} | {row.access} | {row.why} |")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------- open functions: an outsider moves what is due


def _books(world: World) -> dict[str, int]:
    """Every holding an open function could move: cash and shares of every caller and contract, margin accounts."""
    cash, security, engine = (world.contracts[k] for k in ("cash", "security", "engine"))
    holders = {**{c: world.address(c) for c in CALLERS}, **{k: world.contracts[k].address for k in CONTRACTS.values()}}
    keys: list[str] = []
    calls: list[tuple[Contract, str, tuple[Any, ...]]] = []
    for name, address in holders.items():
        keys += [f"cash:{name}", f"shares:{name}", f"margin:{name}"]
        calls += [
            (cash, "balanceOf", (address,)),
            (security, "balanceOf", (address,)),
            (engine, "marginOf", (address,)),
        ]
    return dict(zip(keys, read_words(world.chain, calls), strict=True))


def _moved(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in before if after[k] != before[k]}


OPEN_ROWS = [r for r in ROWS if r.moves is not None]


@pytest.mark.parametrize("row", OPEN_ROWS, ids=[r.id for r in OPEN_ROWS])
def test_an_outsiders_call_of_an_open_function_moves_only_what_is_due(world: World, row: Row) -> None:
    """The outsider sends the open function as a transaction: no holding moves but those the row names
    (a reverted call moves nothing)."""
    contract = world.contracts[CONTRACTS[row.contract]]
    before = _books(world)

    with contextlib.suppress(ContractRevertError):
        world.chain.transact(contract.functions[row.function](*row.args(world, {})), world.accounts["outsider"])

    assert _moved(before, _books(world)) == row.moves


def test_an_outsiders_settlement_moves_only_the_variation_margin_the_oracle_sets(world: World) -> None:
    """The outsider settles a trade it is no party to: the seller pays the buyer the oracle's move; nothing else."""
    engine, oracle = world.contracts["engine"], world.contracts["oracle"]
    new_price = PRICE + 10 * 10**8
    for index in DEV_REPORTER_INDICES[:3]:
        world.chain.transact(oracle.functions.submit(2, new_price), dev_account(index))
    scale = engine.functions.valueScale().call()
    vm = QUANTITY * new_price // scale - QUANTITY * PRICE // scale
    before = _books(world)

    world.chain.transact(engine.functions.settle(world.live_trade), world.accounts["outsider"])

    assert vm > 0
    assert _moved(before, _books(world)) == {"margin:buyer": vm, "cash:seller": -vm, "cash:engine": vm}
    with expect_revert("DerivativeNothingToSettle", tradeId=world.live_trade, lastRound=2, latestRound=2):
        world.chain.transact(engine.functions.settle(world.live_trade), world.accounts["outsider"])


def test_an_outsider_settles_an_instruction_exactly_as_signed_and_nothing_of_its_choosing(world: World) -> None:
    settlement = world.contracts["settlement"]
    outsider = world.accounts["outsider"]
    changed = world.instruction.but(amount_a=2)
    changed_id = instruction_id(world.settlement_domain(), changed)
    before = _books(world)

    with expect_revert("SettlementUnauthorized", id=changed_id, party=world.buyer):
        world.chain.transact(
            settlement.functions.settle(changed.as_tuple(), world.signature_a, world.signature_b), outsider
        )
    world.chain.transact(
        settlement.functions.settle(world.instruction.as_tuple(), world.signature_a, world.signature_b), outsider
    )

    assert _moved(before, _books(world)) == {"shares:buyer": -1, "shares:seller": 1, "cash:seller": -1, "cash:buyer": 1}


def test_an_outsider_cannot_have_nets_of_its_choosing_settled(world: World) -> None:
    """Nets that do not match the booked obligations are refused; the verified ones move exactly the net cash."""
    netting = world.contracts["netting"]
    outsider = world.accounts["outsider"]
    amount = 2 * ESCROW
    obligation = world.obligation(amount, 7)
    world.chain.transact(
        netting.functions.register(obligation.as_tuple(), b"", world.sign_obligation("seller", obligation)), world.buyer
    )
    world.chain.transact(netting.functions.close(world.round_id), world.buyer)
    members = netting.functions.membersOf(world.round_id).call()
    right = [-amount if m == world.buyer.address else amount for m in members]
    before = _books(world)

    with expect_revert("NettingNetMismatch", roundId=world.round_id, member=members[0], given=-right[0]):
        world.chain.transact(netting.functions.submitNets(world.round_id, [-n for n in right]), outsider)
    world.chain.transact(netting.functions.submitNets(world.round_id, right), outsider)
    world.chain.transact(netting.functions.settle(world.round_id, []), outsider)

    assert _moved(before, _books(world)) == {
        "cash:buyer": -(amount - ESCROW),
        "cash:netting": -ESCROW,
        "cash:seller": amount,
    }


# ---------------------------------------------------------------------- the old matrix's role administration


def test_minter_role_is_administered_by_the_master_minter_and_the_others_by_the_admin(cash: Contract) -> None:
    admin_role = role_id("DEFAULT_ADMIN_ROLE")
    assert bytes(cash.functions.getRoleAdmin(role_id("MINTER_ROLE")).call()) == role_id("MASTER_MINTER_ROLE")
    for name in ("DEFAULT_ADMIN_ROLE", "MASTER_MINTER_ROLE", "BURNER_ROLE", "PAUSER_ROLE"):
        assert bytes(cash.functions.getRoleAdmin(role_id(name)).call()) == admin_role, name


def test_registry_roles_are_administered_by_the_admin(registry: Contract) -> None:
    for name in ("DEFAULT_ADMIN_ROLE", "COMPLIANCE_ROLE", "REGULATOR_ROLE"):
        assert bytes(registry.functions.getRoleAdmin(role_id(name)).call()) == role_id("DEFAULT_ADMIN_ROLE"), name


@pytest.mark.parametrize("contract_name", ["registry", "cash"])
def test_renounceRole_revertsForAnotherAccountsRole(
    chain: Chain, roles: Roles, registry: Contract, cash: Contract, contract_name: str
) -> None:
    contract = registry if contract_name == "registry" else cash
    admin_role = role_id("DEFAULT_ADMIN_ROLE")

    with expect_revert("AccessControlBadConfirmation"):
        chain.transact(contract.functions.renounceRole(admin_role, roles.admin.address), roles.outsider)

    assert contract.functions.hasRole(admin_role, roles.admin.address).call() is True


def write_tables(path: Path = SECURITY_MD) -> None:
    """Replace the access tables in SECURITY.md (from the first table's heading to "## Attacks tested")."""
    text = path.read_text()
    start, end = text.index(f"### {next(iter(CONTRACTS))}"), text.index(ATTACKS_HEADING)
    path.write_text(text[:start] + markdown_tables().strip() + "\n\n" + text[end:])


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_tables()
    else:
        sys.stdout.write(markdown_tables() + "\n")
