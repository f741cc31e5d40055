"""The chain's clock as a simulation moves it: forward to a round's time, by the devnet's hand or
by waiting.

On a development chain (Anvil, Hardhat) :meth:`ChainClock.advance_to` mines a block at the time
asked (:func:`dfmi_py.node.devnet.mine_at`): a day of hourly rounds takes seconds. Elsewhere the
clock cannot be moved: it waits in real time until the chain has mined a block at or after the
time asked (a contract reads the time of the latest block, so a wait ends with one), which needs a
chain that produces blocks on its own (a consortium chain, an Anvil with ``--block-time``); the
configuration then uses short periods: rounds seconds apart, a cure period of seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from web3 import Web3

from dfmi_py.errors import NodeError
from dfmi_py.node.devnet import mine_at

#: Longest single sleep while waiting (the wait is cut into these).
MAX_SLEEP_SECONDS = 1.0
#: Pause between two looks for a new block once the time waited for has come by the wall clock.
BLOCK_POLL_SECONDS = 0.5
#: Seconds past the time waited for, by the wall clock, before a chain that mined no block is given up.
NO_BLOCK_SECONDS = 60.0


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
        """The chain's time: its latest block's."""
        return latest_time(self.w3)

    def advance_to(self, timestamp: int) -> int:
        """Bring the chain's time to at least ``timestamp``; the chain's time after.

        Raises:
            NodeError: waiting, no block at or after ``timestamp`` came within
                :data:`NO_BLOCK_SECONDS` of the wall clock passing it (a chain that mines only
                when sent a transaction: move its clock with ``clock = "devnet"``).
        """
        now = latest_time(self.w3)
        if now >= timestamp:
            return now
        if self.mode == "devnet":
            return mine_at(self.w3, timestamp)
        give_up = None
        while (now := latest_time(self.w3)) < timestamp:
            early = timestamp - (self._wall() + self._offset)
            if early <= 0:  # the time has come by the wall clock: a block should follow
                give_up = give_up if give_up is not None else self._wall() + NO_BLOCK_SECONDS
                if self._wall() >= give_up:
                    raise NodeError(
                        f"no block at or after {timestamp} (the latest is at {now}): this chain does not mine "
                        'on its own; use clock = "devnet" on a development chain'
                    )
            self._sleep(min(MAX_SLEEP_SECONDS, early) if early > 0 else BLOCK_POLL_SECONDS)
        return now
