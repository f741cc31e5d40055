"""Start and stop a local Anvil chain.

Anvil comes from npm (``@foundry-rs/anvil``); a native ``anvil`` on ``PATH`` or ``$DFMI_ANVIL``
wins. The node keeps recent states in memory only (``--prune-history``), so long runs leave
nothing on disk, and it is stopped by PID (see :mod:`dfmi_py.node.process`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dfmi_py.errors import NodeError
from dfmi_py.node.process import NodeProcess, free_port
from dfmi_py.paths import NODE_MODULES

#: Anvil's well-known development mnemonic; its accounts are funded with test ether.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_CHAIN_ID = 31337

__all__ = ["DEFAULT_CHAIN_ID", "DEV_MNEMONIC", "AnvilNode", "find_anvil", "free_port"]


def find_anvil() -> Path:
    """Return the anvil executable: ``$DFMI_ANVIL``, ``anvil`` on PATH, then the npm package's.

    Raises:
        NodeError: when none exists.
    """
    explicit = os.environ.get("DFMI_ANVIL")
    if explicit:
        return Path(explicit)
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    for candidate in sorted(NODE_MODULES.glob("@foundry-rs/anvil-*/bin/anvil")):
        if os.access(candidate, os.X_OK):
            return candidate
    launcher = NODE_MODULES / ".bin" / "anvil"
    if launcher.exists():
        return launcher
    raise NodeError("anvil not found: run `npm ci` in the project root, or put anvil on PATH")


class AnvilNode(NodeProcess):
    """A local Anvil process.

    Use as a context manager, or call :meth:`start` and :meth:`stop`::

        with AnvilNode() as node:
            print(node.rpc_url)

    Args:
        port: Port to listen on; a free one when ``None``.
        host: Interface to bind.
        chain_id: Chain id to report.
        accounts: Number of funded development accounts.
        block_time: Seconds between blocks; ``None`` mines one block per transaction.
        keep_states: Recent states kept in memory (older ones are dropped, none go to disk).
        executable: Anvil binary; found with :func:`find_anvil` when ``None``.
        timestamp: Time of the genesis block (Unix seconds); the start time when ``None``. A fixed
            genesis gives the same genesis hash on every start.
        load_state: A state file (the JSON that ``anvil_dumpState`` returns gzipped, or that
            ``--dump-state`` writes) to start from: its blocks, receipts, accounts and code.
    """

    kind = "anvil"

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        chain_id: int = DEFAULT_CHAIN_ID,
        accounts: int = 10,
        block_time: float | None = None,
        keep_states: int = 128,
        executable: Path | None = None,
        timestamp: int | None = None,
        load_state: Path | None = None,
    ) -> None:
        super().__init__(port, host=host, chain_id=chain_id)
        self.accounts = accounts
        self.block_time = block_time
        self.keep_states = keep_states
        self.executable = executable
        self.timestamp = timestamp
        self.load_state = load_state

    def command(self) -> list[str]:
        """The command line that :meth:`start` runs."""
        cmd = [
            str(self.executable or find_anvil()),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self.accounts),
            "--mnemonic", DEV_MNEMONIC,
            "--prune-history", str(self.keep_states),
            "--silent",
        ]  # fmt: skip
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        if self.timestamp is not None:
            cmd += ["--timestamp", str(self.timestamp)]
        if self.load_state is not None:
            cmd += ["--load-state", str(self.load_state)]
        return cmd
