"""CashToken: issuance, transfers, approvals, permits, redemption and pause, good and bad.

Every rejected call is checked twice: it reverts with the named custom error and its values, and
it leaves the supply, balances, allowances, nonces and minter allowances as they were.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from dfmi_py.chain import Chain
from tests.conftest import MINTER_ALLOWANCE
from tests.helpers import (
    MAX_UINT256,
    ZERO_ADDRESS,
    PermitDomain,
    Roles,
    Status,
    events,
    expect_revert,
    latest_timestamp,
    leaves_unchanged,
    token_state,
)

Fund = Callable[[str, int], None]
ReadState = Callable[[], dict[str, int]]

#: Ways an account can be other than Active: (label, status it ends in).
NOT_ACTIVE = {"frozen": Status.FROZEN, "never-onboarded": Status.NONE, "offboarded": Status.NONE}


@pytest.fixture
def cash_state(chain: Chain, cash: Contract, roles: Roles) -> ReadState:
    """Reads everything a rejected call must leave alone, for every account the tests use."""
    accounts = [
        roles.minter.address,
        roles.burner.address,
        roles.outsider.address,
        roles.master_minter.address,
        *(m.address for m in roles.members),
    ]
    return lambda: token_state(chain, cash, accounts)


@pytest.fixture(scope="module")
def domain(cash: Contract) -> PermitDomain:
    """The token's EIP-712 domain."""
    return PermitDomain.of(cash)


def make_not_active(chain: Chain, registry: Contract, roles: Roles, how: str, member: LocalAccount) -> LocalAccount:
    """``member`` frozen or offboarded, or the never-onboarded outsider, as ``how`` says."""
    if how == "never-onboarded":
        return roles.outsider
    chain.transact(registry.functions["freeze" if how == "frozen" else "offboard"](member.address), roles.officer)
    return member


def balance(cash: Contract, account: LocalAccount | str) -> int:
    address = account if isinstance(account, str) else account.address
    return int(cash.functions.balanceOf(address).call())


def permit_call(
    cash: Contract,
    domain: PermitDomain,
    owner: LocalAccount,
    spender: str,
    value: int,
    deadline: int,
    **override: int | str,
) -> ContractFunction:
    """``cash.permit(...)`` for a permit ``owner`` signs now with its current nonce."""
    nonce = cash.functions.nonces(owner.address).call()
    v, r, s = domain.sign(owner, spender, value, nonce, deadline, **override)
    return cash.functions.permit(owner.address, spender, value, deadline, v, r, s)


# ---------------------------------------------------------------------- metadata


def test_metadata_describes_a_six_decimal_dollar_on_the_shared_registry(
    cash: Contract, registry: Contract, domain: PermitDomain, chain: Chain
) -> None:
    assert cash.functions.name().call() == "Digital Settlement Dollar"
    assert cash.functions.symbol().call() == "DSD"
    assert cash.functions.decimals().call() == 6
    assert cash.functions.registry().call() == registry.address
    assert (domain.name, domain.chain_id, domain.verifying_contract) == (
        "Digital Settlement Dollar",
        chain.chain_id,
        cash.address,
    )


# ---------------------------------------------------------------------- issuance


def test_configureMinter_setsTheAllowanceAndGrantsTheMinterRole(chain: Chain, cash: Contract, roles: Roles) -> None:
    new_minter, receiver = roles.members[0], roles.members[1]

    receipt = chain.transact(cash.functions.configureMinter(new_minter.address, 500), roles.master_minter)

    assert events(cash, "MinterConfigured", receipt) == [{"minter": new_minter.address, "allowance": 500}]
    assert cash.functions.minterAllowance(new_minter.address).call() == 500
    assert cash.functions.hasRole(cash.functions.MINTER_ROLE().call(), new_minter.address).call() is True
    chain.transact(cash.functions.mint(receiver.address, 200), new_minter)
    assert cash.functions.minterAllowance(new_minter.address).call() == 300
    assert balance(cash, receiver) == 200


def test_configureMinter_revertsForTheZeroAddress(
    chain: Chain, cash: Contract, roles: Roles, cash_state: ReadState
) -> None:
    with leaves_unchanged(cash_state), expect_revert("CashZeroAddress"):
        chain.transact(cash.functions.configureMinter(ZERO_ADDRESS, 500), roles.master_minter)


def test_removeMinter_revokesTheRoleAndZeroesTheAllowance(chain: Chain, cash: Contract, roles: Roles) -> None:
    minter_role = cash.functions.MINTER_ROLE().call()

    receipt = chain.transact(cash.functions.removeMinter(roles.minter.address), roles.master_minter)

    assert events(cash, "MinterRemoved", receipt) == [{"minter": roles.minter.address}]
    assert cash.functions.minterAllowance(roles.minter.address).call() == 0
    assert cash.functions.hasRole(minter_role, roles.minter.address).call() is False
    with expect_revert("AccessControlUnauthorizedAccount", account=roles.minter, neededRole=minter_role):
        chain.transact(cash.functions.mint(roles.member.address, 1), roles.minter)


def test_mint_withinTheAllowance_issuesAndSpendsTheAllowance(chain: Chain, cash: Contract, roles: Roles) -> None:
    to, amount = roles.member.address, 1_250_000
    assert cash.functions.minterAllowance(roles.minter.address).call() == MINTER_ALLOWANCE

    receipt = chain.transact(cash.functions.mint(to, amount), roles.minter)

    assert balance(cash, to) == amount
    assert cash.functions.totalSupply().call() == amount
    assert cash.functions.minterAllowance(roles.minter.address).call() == MINTER_ALLOWANCE - amount
    assert events(cash, "Minted", receipt) == [{"minter": roles.minter.address, "to": to, "amount": amount}]
    assert events(cash, "Transfer", receipt) == [{"from": ZERO_ADDRESS, "to": to, "value": amount}]


def test_mint_ofTheWholeAllowance_leavesNothingToMint(chain: Chain, cash: Contract, roles: Roles) -> None:
    chain.transact(cash.functions.configureMinter(roles.minter.address, 100), roles.master_minter)

    chain.transact(cash.functions.mint(roles.member.address, 100), roles.minter)

    assert cash.functions.minterAllowance(roles.minter.address).call() == 0
    assert balance(cash, roles.member) == 100


def test_mint_revertsIfZeroAmount(chain: Chain, cash: Contract, roles: Roles, cash_state: ReadState) -> None:
    with leaves_unchanged(cash_state), expect_revert("CashZeroAmount"):
        chain.transact(cash.functions.mint(roles.member.address, 0), roles.minter)


def test_mint_revertsIfOverTheAllowance(chain: Chain, cash: Contract, roles: Roles, cash_state: ReadState) -> None:
    chain.transact(cash.functions.configureMinter(roles.minter.address, 100), roles.master_minter)
    chain.transact(cash.functions.mint(roles.member.address, 60), roles.minter)

    with (
        leaves_unchanged(cash_state),
        expect_revert("CashMinterAllowanceExceeded", minter=roles.minter, allowance=40, amount=41),
    ):
        chain.transact(cash.functions.mint(roles.member.address, 41), roles.minter)


def test_mint_revertsIfTheMinterIsFrozen(
    chain: Chain, cash: Contract, registry: Contract, roles: Roles, cash_state: ReadState
) -> None:
    chain.transact(registry.functions.freeze(roles.minter.address), roles.officer)

    with (
        leaves_unchanged(cash_state),
        expect_revert("ComplianceAccountNotActive", account=roles.minter, status=Status.FROZEN),
    ):
        chain.transact(cash.functions.mint(roles.member.address, 10), roles.minter)


@pytest.mark.parametrize("how", list(NOT_ACTIVE))
def test_mint_revertsIfTheReceiverIsNotActive(
    chain: Chain, cash: Contract, registry: Contract, roles: Roles, cash_state: ReadState, how: str
) -> None:
    receiver = make_not_active(chain, registry, roles, how, roles.members[1])

    with (
        leaves_unchanged(cash_state),
        expect_revert("ComplianceAccountNotActive", account=receiver, status=NOT_ACTIVE[how]),
    ):
        chain.transact(cash.functions.mint(receiver.address, 10), roles.minter)


# ---------------------------------------------------------------------- transfers


def test_transfer_movesTheBalanceAndEmits(chain: Chain, cash: Contract, roles: Roles, fund: Fund) -> None:
    sender, receiver = roles.members[0], roles.members[1]
    fund(sender.address, 1_000)

    receipt = chain.transact(cash.functions.transfer(receiver.address, 400), sender)

    assert (balance(cash, sender), balance(cash, receiver)) == (600, 400)
    assert cash.functions.totalSupply().call() == 1_000
    assert events(cash, "Transfer", receipt) == [{"from": sender.address, "to": receiver.address, "value": 400}]


def test_transfer_revertsIfTheReceiverIsTheZeroAddress(
    chain: Chain, cash: Contract, roles: Roles, fund: Fund, cash_state: ReadState
) -> None:
    fund(roles.member.address, 1_000)
    with leaves_unchanged(cash_state), expect_revert("ERC20InvalidReceiver", receiver=ZERO_ADDRESS):
        chain.transact(cash.functions.transfer(ZERO_ADDRESS, 1), roles.member)


def test_transfer_revertsIfMoreThanTheBalance(
    chain: Chain, cash: Contract, roles: Roles, fund: Fund, cash_state: ReadState
) -> None:
    fund(roles.member.address, 1_000)
    with (
        leaves_unchanged(cash_state),
        expect_revert("ERC20InsufficientBalance", sender=roles.member, balance=1_000, needed=1_001),
    ):
        chain.transact(cash.functions.transfer(roles.members[1].address, 1_001), roles.member)


@pytest.mark.parametrize("how", ["frozen", "offboarded"])
def test_transfer_revertsIfTheSenderIsNotActive(
    chain: Chain, cash: Contract, registry: Contract, roles: Roles, fund: Fund, cash_state: ReadState, how: str
) -> None:
    fund(roles.members[1].address, 1_000)
    sender = make_not_active(chain, registry, roles, how, roles.members[1])

    with (
        leaves_unchanged(cash_state),
        expect_revert("ComplianceAccountNotActive", account=sender, status=NOT_ACTIVE[how]),
    ):
        chain.transact(cash.functions.transfer(roles.members[0].address, 1), sender)


@pytest.mark.parametrize("how", list(NOT_ACTIVE))
def test_transfer_revertsIfTheReceiverIsNotActive(
    chain: Chain, cash: Contract, registry: Contract, roles: Roles, fund: Fund, cash_state: ReadState, how: str
) -> None:
    fund(roles.members[0].address, 1_000)
    receiver = make_not_active(chain, registry, roles, how, roles.members[1])

    with (
        leaves_unchanged(cash_state),
        expect_revert("ComplianceAccountNotActive", account=receiver, status=NOT_ACTIVE[how]),
    ):
        chain.transact(cash.functions.transfer(receiver.address, 1), roles.members[0])


# ---------------------------------------------------------------------- approvals


def test_approve_thenTransferFrom_movesTheBalanceAndSpendsTheAllowance(
    chain: Chain, cash: Contract, roles: Roles, fund: Fund
) -> None:
    owner, spender, receiver = roles.members[0], roles.members[1], roles.members[2]
    fund(owner.address, 1_000)

    receipt = chain.transact(cash.functions.approve(spender.address, 700), owner)
    assert events(cash, "Approval", receipt) == [{"owner": owner.address, "spender": spender.address, "value": 700}]
    assert cash.functions.allowance(owner.address, spender.address).call() == 700

    receipt = chain.transact(cash.functions.transferFrom(owner.address, receiver.address, 300), spender)

    assert events(cash, "Transfer", receipt) == [{"from": owner.address, "to": receiver.address, "value": 300}]
    assert (balance(cash, owner), balance(cash, spender), balance(cash, receiver)) == (700, 0, 300)
    assert cash.functions.allowance(owner.address, spender.address).call() == 400


def test_transferFrom_withAnUnlimitedAllowance_keepsItUnlimited(
    chain: Chain, cash: Contract, roles: Roles, fund: Fund
) -> None:
    owner, spender = roles.members[0], roles.members[1]
    fund(owner.address, 1_000)
    chain.transact(cash.functions.approve(spender.address, MAX_UINT256), owner)

    chain.transact(cash.functions.transferFrom(owner.address, spender.address, 1_000), spender)

    assert cash.functions.allowance(owner.address, spender.address).call() == MAX_UINT256
    assert balance(cash, spender) == 1_000


def test_transferFrom_revertsIfOverTheAllowance(
    chain: Chain, cash: Contract, roles: Roles, fund: Fund, cash_state: ReadState
) -> None:
    owner, spender = roles.members[0], roles.members[1]
    fund(owner.address, 1_000)
    chain.transact(cash.functions.approve(spender.address, 300), owner)

    with (
        leaves_unchanged(cash_state),
        expect_revert("ERC20InsufficientAllowance", spender=spender, allowance=300, needed=301),
    ):
        chain.transact(cash.functions.transferFrom(owner.address, spender.address, 301), spender)


@pytest.mark.parametrize("how", ["frozen", "offboarded"])
def test_transferFrom_revertsIfTheSpenderIsNotActive(
    chain: Chain, cash: Contract, registry: Contract, roles: Roles, fund: Fund, cash_state: ReadState, how: str
) -> None:
    owner, receiver = roles.members[0], roles.members[2]
    fund(owner.address, 1_000)
    chain.transact(cash.functions.approve(roles.members[1].address, 500), owner)
    spender = make_not_active(chain, registry, roles, how, roles.members[1])

    with (
        leaves_unchanged(cash_state),
        expect_revert("ComplianceAccountNotActive", account=spender, status=NOT_ACTIVE[how]),
    ):
        chain.transact(cash.functions.transferFrom(owner.address, receiver.address, 100), spender)


def test_transferFrom_revertsIfTheOwnerIsFrozen(
    chain: Chain, cash: Contract, registry: Contract, roles: Roles, fund: Fund, cash_state: ReadState
) -> None:
    owner, spender = roles.members[0], roles.members[1]
    fund(owner.address, 1_000)
    chain.transact(cash.functions.approve(spender.address, 500), owner)
    chain.transact(registry.functions.freeze(owner.address), roles.officer)

    with (
        leaves_unchanged(cash_state),
        expect_revert("ComplianceAccountNotActive", account=owner, status=Status.FROZEN),
    ):
        chain.transact(cash.functions.transferFrom(owner.address, spender.address, 100), spender)


@pytest.mark.parametrize("how", list(NOT_ACTIVE))
def test_approve_revertsIfTheSpenderIsNotActive(
    chain: Chain, cash: Contract, registry: Contract, roles: Roles, cash_state: ReadState, how: str
) -> None:
    spender = make_not_active(chain, registry, roles, how, roles.members[1])

    with (
        leaves_unchanged(cash_state),
        expect_revert("ComplianceAccountNotActive", account=spender, status=NOT_ACTIVE[how]),
    ):
        chain.transact(cash.functions.approve(spender.address, 100), roles.members[0])


@pytest.mark.parametrize("how", list(NOT_ACTIVE))
def test_approve_revertsIfTheOwnerIsNotActive(
    chain: Chain, cash: Contract, registry: Contract, roles: Roles, cash_state: ReadState, how: str
) -> None:
    owner = make_not_active(chain, registry, roles, how, roles.members[1])

    with (
        leaves_unchanged(cash_state),
        expect_revert("ComplianceAccountNotActive", account=owner, status=NOT_ACTIVE[how]),
    ):
        chain.transact(cash.functions.approve(roles.members[0].address, 100), owner)


# ---------------------------------------------------------------------- redemption


def test_burn_redeemsCashHandedToTheBurner(chain: Chain, cash: Contract, roles: Roles, fund: Fund) -> None:
    fund(roles.member.address, 1_000)
    chain.transact(cash.functions.transfer(roles.burner.address, 600), roles.member)

    receipt = chain.transact(cash.functions.burn(250), roles.burner)

    assert events(cash, "Burned", receipt) == [{"burner": roles.burner.address, "amount": 250}]
    assert events(cash, "Transfer", receipt) == [{"from": roles.burner.address, "to": ZERO_ADDRESS, "value": 250}]
    assert balance(cash, roles.burner) == 350
    assert cash.functions.totalSupply().call() == 750


def test_burn_revertsIfZeroAmount(
    chain: Chain, cash: Contract, roles: Roles, fund: Fund, cash_state: ReadState
) -> None:
    fund(roles.burner.address, 100)
    with leaves_unchanged(cash_state), expect_revert("CashZeroAmount"):
        chain.transact(cash.functions.burn(0), roles.burner)


def test_burn_revertsIfMoreThanTheBurnersBalance(
    chain: Chain, cash: Contract, roles: Roles, fund: Fund, cash_state: ReadState
) -> None:
    fund(roles.burner.address, 100)
    with (
        leaves_unchanged(cash_state),
        expect_revert("ERC20InsufficientBalance", sender=roles.burner, balance=100, needed=101),
    ):
        chain.transact(cash.functions.burn(101), roles.burner)


def test_burn_revertsIfTheBurnerIsFrozen(
    chain: Chain, cash: Contract, registry: Contract, roles: Roles, fund: Fund, cash_state: ReadState
) -> None:
    fund(roles.burner.address, 100)
    chain.transact(registry.functions.freeze(roles.burner.address), roles.officer)
    with (
        leaves_unchanged(cash_state),
        expect_revert("ComplianceAccountNotActive", account=roles.burner, status=Status.FROZEN),
    ):
        chain.transact(cash.functions.burn(10), roles.burner)


# ---------------------------------------------------------------------- pause

#: Each movement that pause must stop: builds (call, sender) once the scene below is set.
PAUSABLE: dict[str, Callable[[Chain, Contract, PermitDomain, Roles], tuple[ContractFunction, LocalAccount]]] = {
    "transfer": lambda chain, cash, domain, r: (cash.functions.transfer(r.members[1].address, 10), r.members[0]),
    "transferFrom": lambda chain, cash, domain, r: (
        cash.functions.transferFrom(r.members[0].address, r.members[2].address, 10),
        r.members[1],
    ),
    "mint": lambda chain, cash, domain, r: (cash.functions.mint(r.members[0].address, 10), r.minter),
    "burn": lambda chain, cash, domain, r: (cash.functions.burn(10), r.burner),
    "approve": lambda chain, cash, domain, r: (cash.functions.approve(r.members[2].address, 10), r.members[0]),
    "permit": lambda chain, cash, domain, r: (
        permit_call(cash, domain, r.members[0], r.members[2].address, 10, latest_timestamp(chain) + 3_600),
        r.members[2],
    ),
}


@pytest.mark.parametrize("action", list(PAUSABLE))
def test_pause_blocksTheMovement_andUnpauseRestoresIt(
    chain: Chain,
    cash: Contract,
    domain: PermitDomain,
    roles: Roles,
    fund: Fund,
    cash_state: ReadState,
    action: str,
) -> None:
    fund(roles.members[0].address, 1_000)
    chain.transact(cash.functions.transfer(roles.burner.address, 100), roles.members[0])
    chain.transact(cash.functions.approve(roles.members[1].address, 100), roles.members[0])
    receipt = chain.transact(cash.functions.pause(), roles.pauser)
    assert events(cash, "Paused", receipt) == [{"account": roles.pauser.address}]
    assert cash.functions.paused().call() is True

    call, sender = PAUSABLE[action](chain, cash, domain, roles)
    with leaves_unchanged(cash_state), expect_revert("EnforcedPause"):
        chain.transact(call, sender)

    receipt = chain.transact(cash.functions.unpause(), roles.pauser)
    assert events(cash, "Unpaused", receipt) == [{"account": roles.pauser.address}]
    before = cash_state()
    call, sender = PAUSABLE[action](chain, cash, domain, roles)
    chain.transact(call, sender)
    assert cash_state() != before


def test_pause_revertsIfAlreadyPaused(chain: Chain, cash: Contract, roles: Roles) -> None:
    chain.transact(cash.functions.pause(), roles.pauser)
    with expect_revert("EnforcedPause"):
        chain.transact(cash.functions.pause(), roles.pauser)
    assert cash.functions.paused().call() is True


def test_unpause_revertsIfNotPaused(chain: Chain, cash: Contract, roles: Roles) -> None:
    with expect_revert("ExpectedPause"):
        chain.transact(cash.functions.unpause(), roles.pauser)
    assert cash.functions.paused().call() is False


# ---------------------------------------------------------------------- permit


def test_permit_setsTheAllowanceAndConsumesTheNonce_thenTheSpenderTransfers(
    chain: Chain, cash: Contract, domain: PermitDomain, roles: Roles, fund: Fund
) -> None:
    owner, spender, receiver = roles.members[0], roles.members[1], roles.members[2]
    fund(owner.address, 1_000)
    deadline = latest_timestamp(chain) + 3_600
    assert cash.functions.nonces(owner.address).call() == 0
    v, r, s = domain.sign(owner, spender.address, 600, 0, deadline)

    receipt = chain.transact(cash.functions.permit(owner.address, spender.address, 600, deadline, v, r, s), spender)

    assert events(cash, "Approval", receipt) == [{"owner": owner.address, "spender": spender.address, "value": 600}]
    assert cash.functions.allowance(owner.address, spender.address).call() == 600
    assert cash.functions.nonces(owner.address).call() == 1
    chain.transact(cash.functions.transferFrom(owner.address, receiver.address, 600), spender)
    assert (balance(cash, owner), balance(cash, receiver)) == (400, 600)
    assert cash.functions.allowance(owner.address, spender.address).call() == 0


def test_permit_revertsIfExpired(
    chain: Chain, cash: Contract, domain: PermitDomain, roles: Roles, cash_state: ReadState
) -> None:
    owner, spender = roles.members[0], roles.members[1]
    deadline = latest_timestamp(chain) - 1
    call = permit_call(cash, domain, owner, spender.address, 600, deadline)

    with leaves_unchanged(cash_state), expect_revert("ERC2612ExpiredSignature", deadline=deadline):
        chain.transact(call, spender)


def test_permit_revertsIfReplayed(
    chain: Chain, cash: Contract, domain: PermitDomain, roles: Roles, cash_state: ReadState
) -> None:
    owner, spender = roles.members[0], roles.members[1]
    call = permit_call(cash, domain, owner, spender.address, 600, latest_timestamp(chain) + 3_600)
    chain.transact(call, spender)
    chain.transact(cash.functions.approve(spender.address, 0), owner)

    with leaves_unchanged(cash_state), expect_revert("ERC2612InvalidSigner", owner=owner) as raised:
        chain.transact(call, spender)

    assert raised.value.args_by_name["signer"] != owner.address
    assert cash.functions.allowance(owner.address, spender.address).call() == 0


@pytest.mark.parametrize("forgery", ["another-chain-id", "another-contract", "another-key", "another-value"])
def test_permit_revertsIfTheSignatureDoesNotMatch(
    chain: Chain, cash: Contract, domain: PermitDomain, roles: Roles, cash_state: ReadState, forgery: str
) -> None:
    owner, spender, impostor = roles.members[0], roles.members[1], roles.members[2]
    deadline = latest_timestamp(chain) + 3_600
    signer = impostor if forgery == "another-key" else owner
    override: dict[str, int | str] = {
        "another-chain-id": {"chain_id": domain.chain_id + 1},
        "another-contract": {"verifying_contract": cash.functions.registry().call()},
        "another-key": {"claimed_owner": owner.address},
        "another-value": {},
    }[forgery]
    v, r, s = domain.sign(signer, spender.address, 600, 0, deadline, **override)
    value = 601 if forgery == "another-value" else 600
    call = cash.functions.permit(owner.address, spender.address, value, deadline, v, r, s)

    with leaves_unchanged(cash_state), expect_revert("ERC2612InvalidSigner", owner=owner) as raised:
        chain.transact(call, spender)

    recovered = raised.value.args_by_name["signer"]
    if forgery == "another-key":
        assert recovered == impostor.address
    else:
        assert recovered != owner.address


@pytest.mark.parametrize("party", ["owner", "spender"])
@pytest.mark.parametrize("how", list(NOT_ACTIVE))
def test_permit_revertsIfAPartyIsNotActive(
    chain: Chain,
    cash: Contract,
    registry: Contract,
    domain: PermitDomain,
    roles: Roles,
    cash_state: ReadState,
    party: str,
    how: str,
) -> None:
    member = make_not_active(chain, registry, roles, how, roles.members[1])
    owner, spender = (member, roles.members[0]) if party == "owner" else (roles.members[0], member)
    call = permit_call(cash, domain, owner, spender.address, 600, latest_timestamp(chain) + 3_600)

    with (
        leaves_unchanged(cash_state),
        expect_revert("ComplianceAccountNotActive", account=member, status=NOT_ACTIVE[how]),
    ):
        chain.transact(call, roles.members[2])
