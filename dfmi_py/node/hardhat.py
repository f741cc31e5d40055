"""Start and stop a local Hardhat 3 node: a second, independent EVM implementation beside Anvil.

Hardhat's node runs on EDR (its own Rust EVM, not Anvil's revm wiring) and answers the same
JSON-RPC, so the toolkit and the services are tried on it as on any other chain. It is installed by
the project's own files in ``toolchain/hardhat/`` (``make setup``): Hardhat 3 refuses Node 20, so
that folder also holds Node 22 from the npm package ``node``, which runs it. The network is
``toolchain/hardhat/hardhat.config.js``'s ``node``: cancun, the development mnemonic's accounts
(the same addresses as Anvil's), one block per transaction. Like :class:`~dfmi_py.node.AnvilNode`
it listens on a free port, writes nothing to the source tree and is stopped by PID.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from dfmi_py.errors import NodeError
from dfmi_py.node.anvil import DEFAULT_CHAIN_ID
from dfmi_py.node.process import NodeProcess
from dfmi_py.paths import TOOLCHAIN_DIR

#: The folder holding Hardhat, its configuration and the Node 22 that runs it.
HARDHAT_DIR = TOOLCHAIN_DIR / "hardhat"


def find_hardhat(folder: Path = HARDHAT_DIR) -> tuple[Path, Path]:
    """Return the Node 22 executable and Hardhat's CLI script installed in ``folder``.

    Raises:
        NodeError: when either is missing.
    """
    node = folder / "node_modules" / ".bin" / "node"
    cli = folder / "node_modules" / "hardhat" / "dist" / "src" / "cli.js"
    if not (node.exists() and cli.exists()):
        raise NodeError(f"Hardhat is not installed in {folder}: run `make setup` (it installs toolchain/hardhat)")
    return node, cli


class HardhatNode(NodeProcess):
    """A local Hardhat 3 node (``hardhat node``), with :class:`~dfmi_py.node.AnvilNode`'s interface.

    Use as a context manager, or call :meth:`start` and :meth:`stop`::

        with HardhatNode(accounts=22) as node:
            print(node.rpc_url)

    Args:
        port: Port to listen on; a free one when ``None``.
        host: Interface to bind (Hardhat binds every interface unless told).
        chain_id: Chain id to report.
        accounts: Number of funded development accounts.
        folder: Where Hardhat is installed (``toolchain/hardhat``).
    """

    kind = "hardhat"

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        chain_id: int = DEFAULT_CHAIN_ID,
        accounts: int = 10,
        folder: Path = HARDHAT_DIR,
    ) -> None:
        super().__init__(port, host=host, chain_id=chain_id)
        self.accounts = accounts
        self.folder = folder
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def command(self) -> list[str]:
        """The command line that :meth:`start` runs."""
        node, cli = find_hardhat(self.folder)
        return [
            str(node), str(cli), "node",
            "--hostname", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
        ]  # fmt: skip

    def environment(self) -> Mapping[str, str]:
        """This process's environment, with the accounts, no telemetry, and scratch folders.

        The node watches ``<artifacts>/build-info`` and may write a cache: both go to a temporary
        folder removed at :meth:`stop`.
        """
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="dfmi-hardhat-")
        scratch = Path(self._scratch.name)
        node_bin = str(self.folder / "node_modules" / ".bin")
        return os.environ | {
            "PATH": node_bin + os.pathsep + os.environ.get("PATH", ""),
            "HARDHAT_DISABLE_TELEMETRY": "true",
            "DFMI_HARDHAT_ACCOUNTS": str(self.accounts),
            "DFMI_HARDHAT_CHAIN_ID": str(self.chain_id),
            "DFMI_HARDHAT_ARTIFACTS": str(scratch / "artifacts"),
            "DFMI_HARDHAT_CACHE": str(scratch / "cache"),
        }

    def working_dir(self) -> Path:
        """Hardhat finds ``hardhat.config.js`` from its working folder."""
        return self.folder

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after ``timeout`` seconds). Idempotent."""
        super().stop(timeout)
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            scratch.cleanup()
