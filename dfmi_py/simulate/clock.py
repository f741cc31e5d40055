"""The chain's clock as a simulation moves it: forward to a round's time, by the devnet's hand or
by waiting.

On a development chain (Anvil, Hardhat) :meth:`ChainClock.advance_to` mines a block at the time
asked (:func:`dfmi_py.node.devnet.mine_at`): a day of hourly rounds takes seconds. Elsewhere the
clock cannot be moved: it waits in real time until the chain's time reaches the one asked (the
configuration then uses short periods: rounds seconds apart, a cure period of seconds). The
chain's time is its latest block's; while waiting, it is estimated from the wall clock and the
offset between the two seen at the start, since a chain mines no block while nothing is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from web3 import Web3

from dfmi_py.errors import NodeError
from dfmi_py.node.devnet import mine_at

#: Longest single sleep while waiting (the wait is cut into these).
MAX_SLEEP_SECONDS = 1.0


def latest_time(w3: Web3) -> int:
    """The latest block's time (Unix seconds)."""
    return int(w3.eth.get_block("latest")["timestamp"])


class ChainClock:
    """Moves (or waits for) the chain's time.

    Args:
        w3: The connection.
        mode: ``"devnet"``, ``"wait"`` or ``"auto"`` (``devnet`` when the node moves its clock:
            tried by mining one block a second ahead).
        sleep: The sleep function (tests pass a fake).
        wall: The wall clock (tests pass a fake).

    Raises:
        NodeError: ``"devnet"`` on a node that cannot move its clock.
    """

    def __init__(
        self,
        w3: Web3,
        mode: str = "auto",
        *,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.w3 = w3
        self._sleep = sleep
        self._wall = wall
        if mode == "auto":
            try:
                mine_at(w3, latest_time(w3) + 1)
                mode = "devnet"
            except NodeError:
                mode = "wait"
        elif mode == "devnet":
            mine_at(w3, latest_time(w3) + 1)  # raises on a chain that cannot
        self.mode = mode
        self._offset = latest_time(w3) - wall()

    def now(self) -> int:
        """The chain's time: its latest block's, or the wall clock's estimate when that is later
        (``wait`` mode: no block is mined while nothing is sent)."""
        chain = latest_time(self.w3)
        if self.mode == "wait":
            return max(chain, int(self._wall() + self._offset))
        return chain

    def advance_to(self, timestamp: int) -> int:
        """Bring the chain's time to at least ``timestamp``; the chain's time after."""
        if self.mode == "devnet":
            now = latest_time(self.w3)
            return mine_at(self.w3, timestamp) if now < timestamp else now
        while (now := self.now()) < timestamp:
            self._sleep(min(MAX_SLEEP_SECONDS, timestamp - now))
        return now
