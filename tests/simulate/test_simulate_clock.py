"""The simulation's clock on Anvil: moved on a devnet, waited for elsewhere (a fake wall clock and a
fake sleep that lets the chain mine, or not)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from dfmi_py.errors import NodeError
from dfmi_py.node import AnvilNode
from dfmi_py.node.devnet import fix_block_interval
from dfmi_py.simulate.clock import NO_BLOCK_SECONDS, ChainClock, latest_time

GENESIS = 1_767_225_600

#: One worker runs the module (its Anvil is started once, in a module fixture).
pytestmark = pytest.mark.xdist_group("simulate-clock")


@pytest.fixture(scope="module")
def w3() -> Iterator[Web3]:
    with AnvilNode(accounts=2, timestamp=GENESIS) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        fix_block_interval(w3, 1)  # a block is the previous one's time plus a second
        yield w3


@pytest.fixture(autouse=True)
def fresh(w3: Web3) -> Iterator[None]:
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield
    assert w3.provider.make_request("evm_revert", [snapshot]).get("result") is True  # type: ignore[arg-type]


class FakeTime:
    """A wall clock that moves only when slept, optionally mining a block per sleep."""

    def __init__(self, w3: Web3, start: float, *, mines: bool) -> None:
        self.w3, self.now, self.mines, self.sleeps = w3, start, mines, 0

    def wall(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds
        if self.mines:
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_on_a_devnet_the_clock_mines_a_block_at_the_time_asked(w3: Web3) -> None:
    clock = ChainClock(w3)
    assert clock.mode == "devnet"
    start = clock.now()
    assert clock.advance_to(start + 3_600) == start + 3_600
    assert latest_time(w3) == start + 3_600
    block = int(w3.eth.block_number)
    assert clock.advance_to(start + 10) == start + 3_600  # the past: nothing mined
    assert int(w3.eth.block_number) == block


def test_waiting_ends_with_the_first_block_at_or_after_the_time_asked(w3: Web3) -> None:
    fake = FakeTime(w3, float(latest_time(w3)), mines=True)
    clock = ChainClock(w3, "wait", sleep=fake.sleep, wall=fake.wall)
    assert clock.mode == "wait"
    start = clock.now()
    assert clock.advance_to(start + 5) == start + 5
    assert fake.sleeps == 5  # the chain mined a block a second; nothing moved its clock


def test_waiting_on_a_chain_that_mines_nothing_gives_up_naming_the_fix(w3: Web3) -> None:
    fake = FakeTime(w3, float(latest_time(w3)), mines=False)
    clock = ChainClock(w3, "wait", sleep=fake.sleep, wall=fake.wall)
    start = clock.now()
    with pytest.raises(NodeError, match='does not mine on its own; use clock = "devnet"'):
        clock.advance_to(start + 5)
    assert fake.now >= start + 5 + NO_BLOCK_SECONDS
    assert latest_time(w3) == start
