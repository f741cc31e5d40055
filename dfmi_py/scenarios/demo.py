"""The foundation demo: deploy, onboard three members, issue cash, move it, show the books.

Also shows the compliance rules biting: a payment to an account that was never onboarded and a
payment from a frozen account are both refused with the contract's named error, and nothing moves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from dfmi_py.api.compliance import AccountStatus
from dfmi_py.api.market import Market
from dfmi_py.chain.accounts import dev_account
from dfmi_py.deploy.roles import DEV_ROLE_INDEX, FIRST_MEMBER_INDEX
from dfmi_py.errors import ContractRevertError
from dfmi_py.units import to_units

logger = logging.getLogger(__name__)

MEMBER_NAMES = ("Alice", "Bob", "Carol")


@dataclass
class Step:
    """One action of the demo and what it cost."""

    description: str
    gas_used: int | None = None
    rejected_with: str | None = None


@dataclass
class DemoResult:
    """What the demo did and the books at the end."""

    steps: list[Step] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, AccountStatus] = field(default_factory=dict)
    total_supply: int = 0


def run_demo(market: Market, report: Callable[[Step], None] | None = None) -> DemoResult:
    """Run the demo on a freshly deployed devnet market whose roles are the dev accounts.

    Args:
        market: The deployed suite (roles as in :meth:`RoleConfig.devnet`).
        report: Called after every step (the CLI prints them as they happen).
    """
    result = DemoResult()
    officer = dev_account(DEV_ROLE_INDEX["compliance_officer"])
    master_minter = dev_account(DEV_ROLE_INDEX["master_minter"])
    minter = dev_account(DEV_ROLE_INDEX["minter"])
    members = member_accounts()
    stranger = dev_account(FIRST_MEMBER_INDEX + len(MEMBER_NAMES))
    cash = market.cash

    def done(description: str, action: Callable[[], TxReceipt]) -> None:
        step = Step(description, gas_used=int(action()["gasUsed"]))
        result.steps.append(step)
        if report:
            report(step)

    def refused(description: str, action: Callable[[], object]) -> None:
        before = cash.balances([m.address for m in members.values()] + [stranger.address])
        try:
            action()
        except ContractRevertError as exc:
            step = Step(description, rejected_with=str(exc))
        else:  # pragma: no cover - the contracts refuse these; the tests check it
            raise AssertionError(f"{description}: expected a rejection")
        if cash.balances(before) != before:  # pragma: no cover - same
            raise AssertionError(f"{description}: balances moved on a rejected action")
        result.steps.append(step)
        if report:
            report(step)

    unit = cash.decimals
    to_onboard = [m for m in (minter, *members.values()) if market.compliance.status(m.address) is AccountStatus.NONE]
    if to_onboard:
        done(
            f"compliance officer onboards {len(to_onboard)} accounts",
            lambda: market.compliance.onboard(officer, [a.address for a in to_onboard]),
        )
    done(
        "master minter gives the minter a 10,000,000 allowance",
        lambda: cash.configure_minter(master_minter, minter.address, to_units(10_000_000, unit)),
    )
    done(
        "minter issues 1,000,000 to Alice",
        lambda: cash.mint(minter, members["Alice"].address, to_units(1_000_000, unit)),
    )
    done("minter issues 500,000 to Bob", lambda: cash.mint(minter, members["Bob"].address, to_units(500_000, unit)))
    done(
        "Alice pays Carol 250,000 (Carol's first cash)",
        lambda: cash.transfer(members["Alice"], members["Carol"].address, to_units(250_000, unit)),
    )
    done(
        "Bob pays Alice 125,000.50",
        lambda: cash.transfer(members["Bob"], members["Alice"].address, to_units("125000.50", unit)),
    )
    refused(
        "Alice tries to pay an account that was never onboarded",
        lambda: cash.transfer(members["Alice"], stranger.address, to_units(1, unit)),
    )
    done("compliance officer freezes Carol", lambda: market.compliance.freeze(officer, members["Carol"].address))
    refused(
        "Carol, frozen, tries to pay Bob",
        lambda: cash.transfer(members["Carol"], members["Bob"].address, to_units(1, unit)),
    )
    done("compliance officer unfreezes Carol", lambda: market.compliance.unfreeze(officer, members["Carol"].address))
    done(
        "Carol pays Bob 50,000", lambda: cash.transfer(members["Carol"], members["Bob"].address, to_units(50_000, unit))
    )

    result.balances = {name: cash.balance_of(account.address) for name, account in members.items()}
    result.statuses = {name: market.compliance.status(a.address) for name, a in members.items()}
    result.total_supply = cash.total_supply()
    return result


def member_accounts() -> dict[str, LocalAccount]:
    """The demo's members by name."""
    return {name: dev_account(FIRST_MEMBER_INDEX + i) for i, name in enumerate(MEMBER_NAMES)}
