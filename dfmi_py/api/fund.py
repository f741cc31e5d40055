"""The members' default fund: membership, k-of-n governance, and the waterfall's books.

Amounts are integers in the cash token's smallest unit. Balances are shares of a pool
(``balance = shares * total_assets // total_shares``); :class:`FundBooks` replays the fund's
events with the contract's arithmetic, so an analyst can rebuild every member's balance, and what
each default cost each member, from the chain's logs alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from fractions import Fraction
from functools import cached_property
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import EventData, TxReceipt

from dfmi_py.api.base import ContractAPI
from dfmi_py.chain.client import checksum
from dfmi_py.errors import InputError
from dfmi_py.signing.fund import (
    Action,
    ActionKind,
    Approval,
    member_requirements_values,
    sign_action,
    sorted_approvals,
)

logger = logging.getLogger(__name__)

#: Shares a first contribution mints per unit (``INITIAL_SHARES_PER_UNIT`` in DefaultFund.sol).
INITIAL_SHARES_PER_UNIT = 10**6
#: Seconds an action built by :meth:`DefaultFund.action` stays valid by default.
DEFAULT_ACTION_TTL = 3600


class MemberStatus(IntEnum):
    """Mirror of the Solidity ``MemberStatus`` enum."""

    NONE = 0
    GOOD_STANDING = 1
    BELOW_REQUIREMENT = 2
    FLAGGED = 3


class EngineStatus(IntEnum):
    """Mirror of the Solidity ``EngineStatus`` enum."""

    NONE = 0
    REGISTERED = 1
    DEREGISTERED = 2


# ---------------------------------------------------------------------- pool arithmetic (pure)


def shares_for(amount: int, total_assets: int, total_shares: int) -> int:
    """Shares a contribution of ``amount`` mints (rounded down, as the contract does)."""
    if total_shares == 0:
        return amount * INITIAL_SHARES_PER_UNIT
    return amount * total_shares // total_assets


def balance_for(shares: int, total_assets: int, total_shares: int) -> int:
    """Cash ``shares`` are worth (rounded down, as the contract does)."""
    return 0 if shares == 0 else shares * total_assets // total_shares


def amount_to_reach(shares: int, total_assets: int, total_shares: int, target: int) -> int:
    """Smallest contribution that brings a holder of ``shares`` to a balance of ``target``.

    Rounding in the pool's favour can cost a contributor one unit, so this is the shortfall or
    one more.
    """
    current = balance_for(shares, total_assets, total_shares)
    if current >= target:
        return 0
    amount = target - current
    for _ in range(4):
        minted = shares_for(amount, total_assets, total_shares)
        if balance_for(shares + minted, total_assets + amount, total_shares + minted) >= target:
            return amount
        amount += 1
    raise InputError(f"no contribution near {amount} reaches {target}: the pool's share price is degenerate")


def max_withdrawal(shares: int, total_assets: int, total_shares: int, requirement: int) -> int:
    """Most a holder of ``shares`` can withdraw and keep a balance of ``requirement``.

    The burn rounds up in the pool's favour, so this is the excess or one less.
    """
    balance = balance_for(shares, total_assets, total_shares)
    amount = balance - requirement
    while amount > 0:
        burnt = -(-amount * total_shares // total_assets)
        if balance_for(shares - burnt, total_assets - amount, total_shares - burnt) >= requirement:
            return amount
        amount -= 1
    return 0


@dataclass(frozen=True)
class Draw:
    """One claim on the fund (a ``DefaultClaimed`` event) and what it cost each member.

    Attributes:
        losses: Drop of each member's balance in this claim (the defaulter's included), from
            :class:`FundBooks`; survivors' drops are pro rata to their balances, within one unit.
    """

    block: int
    tx_hash: str
    engine: str
    defaulter: str
    survivor: str
    loss: int
    from_defaulter: int
    from_survivors: int
    unpaid: int
    defaulter_shares: int
    losses: dict[str, int] = field(default_factory=dict)

    @property
    def paid(self) -> int:
        """What the fund paid the engine."""
        return self.from_defaulter + self.from_survivors


@dataclass
class FundBooks:
    """The fund's shares and pool rebuilt from its events, with the contract's arithmetic."""

    shares: dict[str, int] = field(default_factory=dict)
    total_assets: int = 0
    total_shares: int = 0
    draws: list[Draw] = field(default_factory=list)

    def balance_of(self, member: str) -> int:
        """A member's balance (rounded down)."""
        return balance_for(self.shares.get(member, 0), self.total_assets, self.total_shares)

    def balances(self) -> dict[str, int]:
        """Every member's balance."""
        return {m: self.balance_of(m) for m in self.shares}

    @property
    def dust(self) -> int:
        """Assets no member's rounded-down balance shows (less than one unit per member)."""
        return self.total_assets - sum(self.balances().values())

    def deposit(self, member: str, amount: int, shares: int) -> None:
        """A ``MemberJoined`` or ``Contributed`` event."""
        self.shares[member] = self.shares.get(member, 0) + shares
        self.total_assets += amount
        self.total_shares += shares

    def withdraw(self, member: str, amount: int, shares: int) -> None:
        """A ``Withdrawn`` event."""
        self.shares[member] -= shares
        self.total_assets -= amount
        self.total_shares -= shares

    def claim(self, draw: Draw) -> Draw:
        """A ``DefaultClaimed`` event; returns ``draw`` with each member's loss filled in."""
        before = self.balances()
        if draw.defaulter_shares:
            self.shares[draw.defaulter] -= draw.defaulter_shares
            self.total_shares -= draw.defaulter_shares
        self.total_assets -= draw.from_defaulter + draw.from_survivors
        if self.total_assets == 0:
            # FundExhausted: every share of the epoch is void.
            self.shares = dict.fromkeys(self.shares, 0)
            self.total_shares = 0
        after = self.balances()
        losses = {m: before.get(m, 0) - after[m] for m in after if before.get(m, 0) != after[m]}
        recorded = replace(draw, losses=losses)
        self.draws.append(recorded)
        return recorded


# ---------------------------------------------------------------------- chain views


@dataclass(frozen=True)
class FundState:
    """The fund's parameters and totals at one block."""

    total_assets: int
    total_shares: int
    cash_balance: int
    surplus: int
    member_count: int
    #: Approvals an action needs now (registering an engine needs every member).
    threshold: int
    #: The share of members an action needs, in basis points.
    threshold_bps: int
    nonce: int
    requirement_bps: int
    floor_amount: int
    replenishment_window: int
    epoch: int
    last_draw_at: int

    @property
    def replenishment_deadline(self) -> int | None:
        """When members below their requirement may be flagged (``None``: no draw yet)."""
        return self.last_draw_at + self.replenishment_window if self.last_draw_at else None


@dataclass(frozen=True)
class MemberInfo:
    """One member as the fund sees it."""

    member: str
    status: MemberStatus
    shares: int
    balance: int
    requirement: int
    open_im: int
    #: The minimum governance adopted for it (counts only while it has open IM).
    member_requirement: int = 0

    @property
    def excess(self) -> int:
        """What governance could return to it (balance above its requirement)."""
        return max(self.balance - self.requirement, 0)

    @property
    def shortfall(self) -> int:
        """What it lacks to reach its requirement (before rounding; see :func:`amount_to_reach`)."""
        return max(self.requirement - self.balance, 0)


class DefaultFund(ContractAPI):
    """The default fund.

    Args:
        chain: The chain.
        contract: The ``DefaultFund`` contract.
    """

    @cached_property
    def cash(self) -> Contract:
        """The cash token contributions are made in."""
        return self.chain.contract("CashToken", self.contract.functions.cash().call())

    # ------------------------------------------------------------------ members

    def join(self, member: LocalAccount, amount: int | None = None, *, approve: bool = True) -> TxReceipt:
        """Join with ``amount`` (default: just enough to meet the floor requirement).

        Args:
            member: The joining account (``Active`` in the registry).
            amount: Cash to contribute.
            approve: Approve the fund for ``amount`` first.
        """
        if amount is None:
            state = self.state()
            amount = amount_to_reach(0, state.total_assets, state.total_shares, state.floor_amount)
        _require_positive(amount, "amount")
        if approve:
            self._approve(member, amount)
        return self.chain.transact(self.contract.functions.join(amount), member, "join the default fund")

    def contribute(self, member: LocalAccount, amount: int, *, approve: bool = True) -> TxReceipt:
        """Add ``amount`` to ``member``'s balance (approving the fund for it first by default)."""
        _require_positive(amount, "amount")
        if approve:
            self._approve(member, amount)
        return self.chain.transact(self.contract.functions.contribute(amount), member, "contribute to the default fund")

    def top_up(self, member: LocalAccount) -> TxReceipt | None:
        """Contribute just what ``member`` needs to reach its requirement; ``None`` if nothing."""
        amount = self.amount_to_reach(member.address, self.requirement_of(member.address))
        if amount == 0:
            return None
        return self.contribute(member, amount)

    def amount_to_reach(self, member: str, target: int) -> int:
        """Smallest contribution that brings ``member``'s balance to ``target``."""
        state = self.state()
        return amount_to_reach(self.shares_of(member), state.total_assets, state.total_shares, target)

    def max_withdrawal(self, member: str) -> int:
        """Most governance can return to ``member`` while it keeps its requirement."""
        state = self.state()
        requirement = self.requirement_of(member)
        return max_withdrawal(self.shares_of(member), state.total_assets, state.total_shares, requirement)

    def flag_missed_replenishment(self, sender: LocalAccount, member: str) -> TxReceipt:
        """Flag ``member``: still below its requirement after the replenishment window (anyone may)."""
        call = self.contract.functions.flagMissedReplenishment(checksum(member))
        return self.chain.transact(call, sender, "flag missed replenishment")

    def _approve(self, owner: LocalAccount, amount: int) -> None:
        self.chain.transact(self.cash.functions.approve(self.address, amount), owner, "approve the default fund")

    # ------------------------------------------------------------------ member reads

    def requirement_of(self, member: str) -> int:
        """``max(floor, ceil(requirementBps * open IM / 10_000), adopted)``; the adopted minimum
        (:meth:`member_requirement_of`) counts only while the member has open IM."""
        return int(self.contract.functions.requirementOf(checksum(member)).call())

    def member_requirement_of(self, member: str) -> int:
        """The minimum requirement governance adopted for ``member`` (0: none)."""
        return int(self.contract.functions.memberRequirementOf(checksum(member)).call())

    def balance_of(self, member: str) -> int:
        """Cash ``member``'s shares are worth now (rounded down)."""
        return int(self.contract.functions.balanceOf(checksum(member)).call())

    def contribution_of(self, member: str) -> int:
        """Alias of :meth:`balance_of`: the member's contribution net of draws and withdrawals."""
        return self.balance_of(member)

    def shares_of(self, member: str) -> int:
        """``member``'s shares (zero when the fund was exhausted since it last contributed)."""
        return int(self.contract.functions.sharesOf(checksum(member)).call())

    def share_of(self, member: str) -> Fraction:
        """``member``'s fraction of the pool: what it bears of a survivors' loss (if not the defaulter)."""
        total = int(self.contract.functions.totalShares().call())
        return Fraction(self.shares_of(member), total) if total else Fraction(0)

    def open_im_of(self, member: str) -> int:
        """Initial margin of ``member``'s open trades, as engines reported them."""
        return int(self.contract.functions.openImOf(checksum(member)).call())

    def status_of(self, member: str) -> MemberStatus:
        """Where ``member`` stands."""
        return MemberStatus(self.contract.functions.statusOf(checksum(member)).call())

    def is_in_good_standing(self, member: str) -> bool:
        """True when ``member`` holds its requirement and is not flagged."""
        return bool(self.contract.functions.isInGoodStanding(checksum(member)).call())

    def member(self, member: str) -> MemberInfo:
        """Everything the fund says about ``member``."""
        address = checksum(member)
        return MemberInfo(
            member=address,
            status=self.status_of(address),
            shares=self.shares_of(address),
            balance=self.balance_of(address),
            requirement=self.requirement_of(address),
            open_im=self.open_im_of(address),
            member_requirement=self.member_requirement_of(address),
        )

    def unpaid_claim_of(self, defaulter: str, survivor: str) -> int:
        """What ``survivor`` still claims from ``defaulter`` after the waterfall."""
        return int(self.contract.functions.unpaidClaimOf(checksum(defaulter), checksum(survivor)).call())

    def engine_status_of(self, engine: str) -> EngineStatus:
        """Whether ``engine`` may report trades and claim."""
        return EngineStatus(self.contract.functions.engineStatusOf(checksum(engine)).call())

    def state(self) -> FundState:
        """The fund's parameters and totals."""
        f = self.contract.functions
        total_assets = int(f.totalAssets().call())
        cash_balance = int(self.cash.functions.balanceOf(self.address).call())
        return FundState(
            total_assets=total_assets,
            total_shares=int(f.totalShares().call()),
            cash_balance=cash_balance,
            surplus=cash_balance - total_assets,
            member_count=int(f.memberCount().call()),
            threshold=int(f.threshold().call()),
            threshold_bps=int(f.thresholdBps().call()),
            nonce=int(f.nonce().call()),
            requirement_bps=int(f.requirementBps().call()),
            floor_amount=int(f.floorAmount().call()),
            replenishment_window=int(f.replenishmentWindow().call()),
            epoch=int(f.epoch().call()),
            last_draw_at=int(f.lastDrawAt().call()),
        )

    # ------------------------------------------------------------------ governance

    def action(self, kind: ActionKind, *values: Any, deadline: int | None = None, nonce: int | None = None) -> Action:
        """An action of ``kind`` with the fund's current nonce, valid for an hour by default."""
        if deadline is None:
            deadline = self.chain.now() + DEFAULT_ACTION_TTL
        if nonce is None:
            nonce = int(self.contract.functions.nonce().call())
        return Action.build(kind, *values, nonce=nonce, deadline=deadline)

    def member_requirements_action(
        self, requirements: Mapping[str, int], *, deadline: int | None = None, nonce: int | None = None
    ) -> Action:
        """The ``SET_MEMBER_REQUIREMENTS`` action adopting ``{member: amount}`` (cash units; 0
        removes a member's own requirement), members sorted as the fund requires.

        Raises:
            InputError: no member, one given twice, a negative amount, or one that is not a member
                (checked here so members do not sign an action the fund would refuse).
        """
        members, amounts = member_requirements_values(requirements)
        strangers = [m for m in members if not self.contract.functions.isMember(m).call()]
        if strangers:
            raise InputError(f"not members of the fund: {', '.join(strangers)}")
        return self.action(ActionKind.SET_MEMBER_REQUIREMENTS, members, amounts, deadline=deadline, nonce=nonce)

    def sign(self, member: LocalAccount, action: Action) -> Approval:
        """``member``'s approval of ``action``."""
        logger.debug("%s approves %s", member.address, action.describe())
        return sign_action(member, self.eip712_domain(), action)

    def execute(self, sender: LocalAccount, action: Action, approvals: Iterable[Approval]) -> TxReceipt:
        """Submit ``action`` with ``approvals`` (sorted here as the fund requires); anyone may send it."""
        ordered = [a.as_tuple() for a in sorted_approvals(approvals)]
        call = self.contract.functions.execute(action.as_tuple(), ordered)
        return self.chain.transact(call, sender, f"execute {action.kind.name}")

    def approve_and_execute(self, action: Action, signers: Sequence[LocalAccount]) -> TxReceipt:
        """Sign ``action`` with every one of ``signers`` and submit it from the first."""
        if not signers:
            raise InputError("an action needs at least one signer")
        return self.execute(signers[0], action, [self.sign(s, action) for s in signers])

    def hash_action(self, action: Action) -> bytes:
        """The digest the fund computes for ``action`` (to check a signer's view of it)."""
        return bytes(self.contract.functions.hashAction(action.as_tuple()).call())

    # ------------------------------------------------------------------ history

    def members(self, from_block: int = 0) -> list[str]:
        """Every member, in joining order."""
        logs = self.contract.events.MemberJoined().get_logs(from_block=from_block)
        return [str(log["args"]["member"]) for log in logs]

    def books(self, from_block: int = 0) -> FundBooks:
        """The fund's books rebuilt from its events (from its deployment block for a full rebuild)."""
        books = FundBooks()
        for log in self._ledger_logs(from_block):
            args = log["args"]
            name = log["event"]
            if name in ("MemberJoined", "Contributed"):
                books.deposit(str(args["member"]), int(args["amount"]), int(args["shares"]))
            elif name == "Withdrawn":
                books.withdraw(str(args["member"]), int(args["amount"]), int(args["shares"]))
            else:
                books.claim(_draw(log))
        return books

    def draws(self, from_block: int = 0) -> list[Draw]:
        """Every claim on the fund with each member's loss: the waterfall breakdown of each default."""
        return self.books(from_block).draws

    def draws_in(self, receipt: TxReceipt) -> list[Draw]:
        """The claims of one transaction, without each member's loss (see :meth:`draws`)."""
        logs = self.contract.events.DefaultClaimed().process_receipt(receipt, errors=DISCARD)
        return [_draw(log) for log in logs if log["address"] == self.contract.address]

    def _ledger_logs(self, from_block: int) -> list[EventData]:
        logs: list[EventData] = []
        for name in ("MemberJoined", "Contributed", "Withdrawn", "DefaultClaimed"):
            logs.extend(self.contract.events[name]().get_logs(from_block=from_block))
        return sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"]))


def _draw(log: EventData) -> Draw:
    args = log["args"]
    return Draw(
        block=int(log["blockNumber"]),
        tx_hash="0x" + bytes(log["transactionHash"]).hex(),
        engine=str(args["engine"]),
        defaulter=str(args["defaulter"]),
        survivor=str(args["survivor"]),
        loss=int(args["loss"]),
        from_defaulter=int(args["fromDefaulter"]),
        from_survivors=int(args["fromSurvivors"]),
        unpaid=int(args["unpaid"]),
        defaulter_shares=int(args["defaulterShares"]),
    )


def _require_positive(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(f"{name} must be a positive integer of cash units, got {value!r}")
