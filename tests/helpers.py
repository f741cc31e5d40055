"""Helpers shared by the on-chain tests: named accounts, revert assertions, event and batched state reads."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from click.testing import CliRunner, Result
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from dfmi_py.api.compliance import AccountStatus
from dfmi_py.chain import Chain
from dfmi_py.cli.main import cli
from dfmi_py.deploy import Manifest
from dfmi_py.deploy.suite import Deployment
from dfmi_py.errors import ContractRevertError
from dfmi_py.signing import Domain, permit_message, sign_typed

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
MAX_UINT256 = 2**256 - 1

#: The Hypothesis profile in force (registered in tests/conftest.py): ``dfmi``, the test command's
#: (each property runs the examples it was given), or ``long`` (``DFMI_HYPOTHESIS_PROFILE=long``:
#: every property runs at least :data:`LONG_EXAMPLES`).
HYPOTHESIS_PROFILE = os.environ.get("DFMI_HYPOTHESIS_PROFILE", "dfmi")
#: Examples of every property under the long profile (``DFMI_LONG_EXAMPLES`` to change it).
LONG_EXAMPLES = int(os.environ.get("DFMI_LONG_EXAMPLES", "200"))


def examples(default: int, variable: str | None = None) -> int:
    """The Hypothesis examples of one property: the value of the environment ``variable`` when it is
    set; otherwise ``default`` in the test command (chosen for what one example costs), and at least
    :data:`LONG_EXAMPLES` under the long profile."""
    if variable is not None and os.environ.get(variable):
        return int(os.environ[variable])
    if HYPOTHESIS_PROFILE == "long":
        return max(default, LONG_EXAMPLES)
    return default


#: Hypothesis examples for properties of pure functions (no chain): fast, so many; more with
#: ``DFMI_PURE_EXAMPLES=2000 make test`` (a longer search, outside the default run's budget).
PURE_EXAMPLES = examples(100, "DFMI_PURE_EXAMPLES")


#: `AccountStatus` of IComplianceRegistry.sol, as the chain returns it.
Status = AccountStatus


# ---------------------------------------------------------------------- accounts


@dataclass(frozen=True)
class Roles:
    """The development accounts of the base scenario, by the part they play."""

    admin: LocalAccount
    officer: LocalAccount
    regulator: LocalAccount
    master_minter: LocalAccount
    minter: LocalAccount
    burner: LocalAccount
    pauser: LocalAccount
    members: tuple[LocalAccount, ...]
    outsider: LocalAccount
    newcomers: tuple[LocalAccount, ...]

    @property
    def member(self) -> LocalAccount:
        """The first member, for tests that need just one."""
        return self.members[0]

    def named(self, name: str) -> LocalAccount:
        """The account playing ``name`` (a field name, or ``"member"``)."""
        account = getattr(self, name)
        assert isinstance(account, LocalAccount), f"{name} names a group, not one account"
        return account


# ---------------------------------------------------------------------- reverts


def _plain(value: Any) -> Any:
    """``value`` in the form the revert decoder uses: checksummed addresses, hex bytes, plain ints."""
    if isinstance(value, LocalAccount):
        return value.address
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and is_address(value):
        return to_checksum_address(value)
    if isinstance(value, IntEnum):
        return int(value)
    return value


@contextmanager
def expect_revert(error: str, **args: Any) -> Iterator[pytest.ExceptionInfo[ContractRevertError]]:
    """Assert that the block raises :class:`ContractRevertError` for the custom error ``error``.

    Every keyword names one of the error's arguments and gives its expected value (accounts,
    addresses, ``bytes`` roles and :class:`Status` values are normalised to the decoder's form).
    """
    with pytest.raises(ContractRevertError) as info:
        yield info
    raised = info.value
    assert raised.error == error, f"expected {error}, the contract reverted with {raised}"
    for name, expected in args.items():
        assert name in raised.args_by_name, f"{error} has no argument {name!r}: {raised}"
        assert raised.args_by_name[name] == _plain(expected), f"{error}.{name}: {raised}"


# ---------------------------------------------------------------------- events


def events(contract: Contract, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    """Arguments of every ``name`` event that ``contract`` emitted in ``receipt``, in log order."""
    logs = contract.events[name]().process_receipt(receipt, errors=DISCARD)
    return [dict(log["args"]) for log in logs if log["address"] == contract.address]


# ---------------------------------------------------------------------- snapshots


def evm_snapshot(chain: Chain) -> str:
    """Take an anvil snapshot and return its id (usable once)."""
    response = chain.w3.provider.make_request("evm_snapshot", [])
    assert "result" in response, f"evm_snapshot failed: {response}"
    return str(response["result"])


def evm_revert(chain: Chain, snapshot_id: str) -> None:
    """Return the chain to ``snapshot_id``; fails loudly rather than leak state into the next test."""
    response = chain.w3.provider.make_request("evm_revert", [snapshot_id])
    assert response.get("result") is True, f"evm_revert({snapshot_id}) failed: {response}"


# ---------------------------------------------------------------------- setups kept between tests

T = TypeVar("T")


@dataclass
class _Setup:
    """A fixture's setup as it stands on the chain."""

    fixturedef: object  # the fixture definition that ran it
    key: Hashable  # what else its result depends on
    value: Any  # the fixture's result
    snapshot: str  # a snapshot of the chain right after it (single use: renewed after each revert)
    block: int  # the block number right after it


class SetupCache:
    """Chain setups of function-scoped fixtures, kept from one test to the next that needs them too.

    Without it, a fixture that deploys contracts or funds accounts for every test repeats the same
    transactions hundreds of times. A fixture that goes through :meth:`setup` runs its setup for
    the first test that needs it; a snapshot is taken right after. The tests that follow on the
    same worker start from that snapshot instead, as long as they ask for the same setups (the
    same fixture definitions, in the same order, with equal keys). Every test still starts from
    exactly the state it would have reached by running its setups itself on the base scenario,
    block numbers and timestamps aside; between tests the chain returns to the state right after
    the last setup kept, and setups a test does not ask for are reverted before it starts.

    A fixture that uses it must run before the test's other fixtures that send transactions (a
    setup kept from an earlier test cannot go under them): it fails, every time, otherwise.

    Call order per test: :meth:`begin` (before any fixture of the test sends a transaction),
    :meth:`setup` from the fixtures, :meth:`check` before the test body, :meth:`end` after it.
    """

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self._base = _Setup(None, None, None, evm_snapshot(chain), chain.w3.eth.block_number)
        self._kept: list[_Setup] = []
        self._used = 0

    @property
    def _top(self) -> _Setup:
        return self._kept[-1] if self._kept else self._base

    def _block(self) -> int:
        return int(self.chain.w3.eth.block_number)

    def _restore(self, setup: _Setup) -> None:
        evm_revert(self.chain, setup.snapshot)
        setup.snapshot = evm_snapshot(self.chain)

    def _truncate(self, count: int) -> None:
        """Keep the first ``count`` setups on the chain and revert the others."""
        if count < len(self._kept):
            del self._kept[count:]
            self._restore(self._top)

    def begin(self, item: pytest.Item) -> None:
        """Before ``item``'s fixtures: revert the kept setups it will not ask for."""
        wanted = {defs[-1] for defs in _fixture_definitions(item).values() if defs}
        keep = 0
        while keep < len(self._kept) and self._kept[keep].fixturedef in wanted:
            keep += 1
        self._truncate(keep)
        self._used = 0

    def setup(self, request: pytest.FixtureRequest, run: Callable[[], T], key: Hashable = ()) -> T:
        """``run()``'s result for the fixture of ``request``: kept from an earlier test, or run now.

        ``run`` may depend only on the base scenario, on the setups of the fixtures that the
        calling fixture requests, and on ``key``; its result must not change during a test.
        """
        fixturedef = _fixture_definition(request)
        if fixturedef is None:  # requested dynamically (request.getfixturevalue): never kept
            return run()
        assert self._block() == self._top.block, (
            f"fixture {request.fixturename!r} keeps its setup between tests, so it must run before any "
            "fixture of the test that sends transactions: request it first"
        )
        if self._used < len(self._kept):
            kept = self._kept[self._used]
            if kept.fixturedef is fixturedef and kept.key == key:
                self._used += 1
                return cast(T, kept.value)
            self._truncate(self._used)
        value = run()
        self._kept.append(_Setup(fixturedef, key, value, evm_snapshot(self.chain), self._block()))
        self._used += 1
        return value

    def check(self) -> None:
        """Before the test body: every setup left on the chain was asked for."""
        unused = [s.fixturedef for s in self._kept[self._used :]]
        assert not unused, f"setups on the chain that this test did not ask for: {unused}"

    def end(self) -> None:
        """After the test: back to the state right after the last kept setup."""
        self._restore(self._top)


def kept_deployment(
    request: pytest.FixtureRequest,
    setup_cache: SetupCache,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    deploy: Callable[[Path], Deployment],
) -> Deployment:
    """A fixture's ``deploy(folder)`` of a suite kept between tests with ``setup_cache``, its manifest
    folder copied into the test's ``tmp_path``: each test reads and writes a manifest of its own,
    as if it had deployed into ``tmp_path`` itself."""
    kept = setup_cache.setup(request, lambda: deploy(tmp_path_factory.mktemp("kept-deployment")))
    shutil.copytree(kept.manifest_file.parent, tmp_path, dirs_exist_ok=True)
    own = tmp_path / kept.manifest_file.name
    return Deployment(chain=kept.chain, manifest=Manifest.load(own), manifest_file=own)


def _fixture_definitions(item: pytest.Item) -> dict[str, Sequence[object]]:
    """Fixture definitions by name that ``item`` requests statically, closest last (pytest internals;
    empty if they move, which turns the cache off)."""
    return getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})


def _fixture_definition(request: pytest.FixtureRequest) -> object | None:
    """The definition of the fixture ``request`` was made for, as its test resolves the name
    (``None`` when the test requested it dynamically)."""
    defs = _fixture_definitions(request.node).get(request.fixturename or "")
    return defs[-1] if defs else None


# ---------------------------------------------------------------------- batched reads

#: A view call returning one word: (contract, function name, arguments).
ViewCall = tuple[Contract, str, tuple[Any, ...]]

_calldata_cache: dict[tuple[str, str, tuple[Any, ...]], str] = {}


def _calldata(contract: Contract, fn_name: str, args: tuple[Any, ...]) -> str:
    key = (contract.address, fn_name, args)
    if key not in _calldata_cache:
        _calldata_cache[key] = contract.encode_abi(fn_name, args=list(args))
    return _calldata_cache[key]


def read_words(chain: Chain, calls: Sequence[ViewCall]) -> list[int]:
    """Run view calls that each return one word (uint, enum, bool) in one JSON-RPC batch.

    A state machine reads a hundred values after every step; one batch keeps that cheap.
    """
    requests = [("eth_call", [{"to": c.address, "data": _calldata(c, fn, args)}, "latest"]) for c, fn, args in calls]
    responses = chain.w3.provider.make_batch_request(requests)  # type: ignore[arg-type]
    assert isinstance(responses, list), f"batch call failed: {responses}"
    by_id = sorted(responses, key=lambda r: r["id"])
    words = []
    for (contract, fn_name, args), response in zip(calls, by_id, strict=True):
        assert "result" in response, f"{fn_name}{args} on {contract.address} failed: {response}"
        words.append(int(response["result"], 16))
    return words


def token_state(chain: Chain, cash: Contract, accounts: Sequence[str]) -> dict[str, int]:
    """Everything a rejected call must leave alone, by readable key.

    Covers the supply, every balance, every allowance and permit nonce among ``accounts``, and
    their minter allowances.
    """
    calls: list[ViewCall] = [(cash, "totalSupply", ())]
    calls += [(cash, "balanceOf", (a,)) for a in accounts]
    calls += [(cash, "allowance", (o, s)) for o in accounts for s in accounts if o != s]
    calls += [(cash, "nonces", (a,)) for a in accounts]
    calls += [(cash, "minterAllowance", (a,)) for a in accounts]
    return {f"{fn}{args}": word for (_, fn, args), word in zip(calls, read_words(chain, calls), strict=True)}


@contextmanager
def leaves_unchanged(read_state: Callable[[], dict[str, int]]) -> Iterator[None]:
    """Assert that ``read_state()`` reads the same before and after the block."""
    before = read_state()
    yield
    after = read_state()
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert not changed, f"state changed (key: (before, after)): {changed}"


# ---------------------------------------------------------------------- permits


@dataclass(frozen=True)
class PermitDomain:
    """A token's EIP-712 domain as its ``eip712Domain()`` reports it."""

    name: str
    version: str
    chain_id: int
    verifying_contract: str

    @classmethod
    def of(cls, token: Contract) -> PermitDomain:
        fields, name, version, chain_id, verifying_contract, _salt, _extensions = token.functions.eip712Domain().call()
        assert fields == b"\x0f", f"unexpected EIP-712 domain fields {fields!r}: name, version, chainId, contract"
        return cls(name, version, chain_id, to_checksum_address(verifying_contract))

    def sign(
        self,
        owner: LocalAccount,
        spender: str,
        value: int,
        nonce: int,
        deadline: int,
        *,
        chain_id: int | None = None,
        verifying_contract: str | None = None,
        claimed_owner: str | None = None,
    ) -> tuple[int, bytes, bytes]:
        """Sign an EIP-2612 permit with ``owner``'s key and return ``(v, r, s)``.

        To forge bad permits: ``chain_id`` and ``verifying_contract`` replace the domain's own, and
        ``claimed_owner`` puts another owner in the signed message than the key's.
        """
        domain = Domain(
            self.name,
            self.version,
            self.chain_id if chain_id is None else chain_id,
            verifying_contract or self.verifying_contract,
        )
        message = permit_message(domain, claimed_owner or owner.address, spender, value, nonce, deadline)
        signature = sign_typed(owner, message)
        return signature.v, signature.r, signature.s


def latest_timestamp(chain: Chain) -> int:
    """Timestamp of the latest block (the next block's is at least this)."""
    return int(chain.w3.eth.get_block("latest")["timestamp"])


# ---------------------------------------------------------------------- the command line

#: ``run("cash", "balance", …)``: invoke ``dfmi`` against a chain and its manifests.
CliRun = Callable[..., Result]


def cli_runner(rpc_url: str, deployments_dir: Path) -> CliRun:
    """A function that invokes ``dfmi --rpc-url RPC_URL --deployments-dir DIR ARGS`` in-process."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        base = ["--rpc-url", rpc_url, "--deployments-dir", str(deployments_dir)]
        return runner.invoke(cli, [*base, *args], catch_exceptions=False)

    return invoke


def one_line_error(result: Result) -> str:
    """The single ``Error: …`` line of a failed command (exit 1, no traceback)."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    return lines[0]


# ---------------------------------------------------------------------- several transactions, one block


def send_unmined(chain: Chain, call: Any, sender: LocalAccount, tip: int, gas: int = 600_000) -> bytes:
    """Send ``call`` with fixed ``gas`` and priority fee ``tip`` without waiting for it; its hash."""
    base = int(chain.w3.eth.get_block("latest")["baseFeePerGas"])
    tx = call.build_transaction(
        {
            "from": sender.address,
            "nonce": chain.w3.eth.get_transaction_count(sender.address, "pending"),
            "chainId": chain.chain_id,
            "gas": gas,
            "maxFeePerGas": 2 * base + tip,
            "maxPriorityFeePerGas": tip,
        }
    )
    return bytes(chain.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))


def mine_in_one_block(chain: Chain, calls: Sequence[tuple[Any, LocalAccount]]) -> list[TxReceipt]:
    """Mine ``calls`` (contract function, sender) in one block, in the given order (earlier ones
    pay a higher tip); their receipts, reverted ones included."""
    provider = chain.w3.provider
    provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        hashes = [send_unmined(chain, call, sender, tip=10**9 - i) for i, (call, sender) in enumerate(calls)]
        provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    finally:
        provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    receipts = [chain.w3.eth.get_transaction_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1, "the transactions were not mined in one block"
    return receipts


def call_at(chain: Chain, call: Any, sender: str, at: int) -> bytes:
    """Run ``call`` from ``sender`` on the latest state as if the block's timestamp were ``at``.

    For exact time boundaries, which a sent transaction cannot hit reliably (its block's
    timestamp follows the wall clock). Returns the raw return data; a revert raises
    :class:`ContractRevertError` as :meth:`Chain.transact` would.
    """
    tx = {"from": sender, "to": call.address, "data": call._encode_transaction_data()}
    response = chain.w3.provider.make_request("eth_call", [tx, "latest", {}, {"time": hex(at)}])  # type: ignore[list-item]
    if "error" in response:
        data = response["error"].get("data")
        decoded = chain.decode_error_data(data) if isinstance(data, str) else None
        assert decoded is not None, f"{call.fn_name} failed without a known custom error: {response['error']}"
        raise ContractRevertError(decoded[0], decoded[1], call.fn_name)
    return bytes.fromhex(response["result"][2:])


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie answers ``kill(0)``: its state is read)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


#: The amounts of the demo's waterfall of trade 2 (loss 8,000), row by row as printed: the same
#: on every node the demo runs on.
DEMO_WATERFALL = ["5,000.000000", "0.000000", "1,500.000000", "1,500.000000", "0.000000"]


def demo_waterfall(output: str) -> list[str]:
    """The amounts of the demo's printed waterfall of trade 2, in order."""
    lines = output.split("default of trade 2, loss 8,000.000000 DSD, paid by:\n")[1].splitlines()[:5]
    return [line.split()[-2] for line in lines]
