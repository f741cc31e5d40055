"""The deployment manifest: which contracts live where on which chain.

One JSON file per chain, named by its chain id and the first 10 hex digits of its genesis block's
hash, ``<deployments dir>/<chain id>-<genesis>.json`` (``31337-3f1c09a2b7.json``): two local
chains share a chain id but not a genesis block (Anvil's carries its start time), so they never
overwrite each other's manifest. The folder is ``deployments/`` in the project root unless
``$DFMI_DEPLOYMENTS_DIR`` or an explicit path says otherwise::

    {
      "chain_id": 31337,
      "genesis_hash": "0x…",
      "deployer": "0x…",
      "solc_version": "0.8.37",
      "contracts": {
        "ComplianceRegistry": {"artifact": "ComplianceRegistry", "address": "0x…", "block": 1,
                               "tx_hash": "0x…", "code_hash": "0x…", "bytecode_hash": "0x…",
                               "settings_hash": "0x…"},
        "PriceOracle@EURUSD": {"artifact": "PriceOracle", …},
        …
      },
      "markets": [{"name": "EURUSD", "description": "EUR / USD",
                   "oracle": "PriceOracle@EURUSD", "engine": "DerivativeEngine@EURUSD"}, …]
    }

Contracts of which the suite has one are keyed by their artifact's name; each market's oracle
and engine by ``<artifact>@<market name>``. ``code_hash`` is the keccak-256 of the runtime code
read back from the chain (so it includes immutables); ``bytecode_hash`` that of the creation code
compiled here, which tells whether the sources changed since; ``settings_hash`` that of the
constructor parameters that cannot change after deployment, which tells whether the
configuration changed them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dfmi_py.errors import ManifestError
from dfmi_py.paths import DEPLOYMENTS_DIR

#: Hex digits of the genesis hash in a manifest's file name.
GENESIS_DIGITS = 10


class ContractRecord(BaseModel):
    """Where one contract was deployed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    artifact: str
    address: str
    block: int = Field(ge=0)
    tx_hash: str
    code_hash: str
    bytecode_hash: str
    settings_hash: str


class MarketRecord(BaseModel):
    """One market (underlying): its name and the manifest keys of its oracle and engine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    oracle: str
    engine: str


class Manifest(BaseModel):
    """Every contract of the suite on one chain, and its markets in configuration order."""

    model_config = ConfigDict(extra="forbid")

    chain_id: int
    genesis_hash: str
    deployer: str
    solc_version: str
    contracts: dict[str, ContractRecord] = Field(default_factory=dict)
    markets: list[MarketRecord] = Field(default_factory=list)

    def record(self, key: str) -> ContractRecord:
        """The record of the contract ``key``.

        Raises:
            ManifestError: when the manifest has no such contract.
        """
        record = self.contracts.get(key)
        if record is None:
            raise ManifestError(f"the deployment on chain {self.chain_id} has no {key}: run `dfmi deploy` against it")
        return record

    def address(self, key: str) -> str:
        """The address of the contract ``key``.

        Raises:
            ManifestError: when the manifest has no such contract.
        """
        return self.record(key).address

    def check_chain(self, chain_id: int, genesis_hash: str, path: Path) -> None:
        """Refuse a manifest written for another chain than ``chain_id`` / ``genesis_hash``.

        Raises:
            ManifestError: the chain id or the genesis block differs.
        """
        if self.chain_id != chain_id or self.genesis_hash.lower() != genesis_hash.lower():
            raise ManifestError(
                f"the manifest {path} records chain {self.chain_id} with genesis {self.genesis_hash}, but this "
                f"chain is {chain_id} with genesis {genesis_hash}: it belongs to another chain; move it away, "
                "or replace it with `dfmi deploy --fresh`"
            )

    def save(self, path: Path) -> None:
        """Write the manifest to ``path`` (atomically)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read the manifest at ``path``.

        Raises:
            ManifestError: when it is missing or malformed.
        """
        if not path.exists():
            raise ManifestError(f"no deployment manifest at {path}: run `dfmi deploy` for this chain first")
        try:
            return cls.model_validate_json(path.read_text())
        except ValidationError as exc:
            raise ManifestError(f"the manifest at {path} is malformed: {exc.errors()[0]['msg']}") from None


def deployments_dir(directory: Path | None = None) -> Path:
    """The folder of manifests: ``directory``, else ``$DFMI_DEPLOYMENTS_DIR``, else ``deployments/``."""
    return directory or Path(os.environ.get("DFMI_DEPLOYMENTS_DIR", DEPLOYMENTS_DIR))


def manifest_path(chain_id: int, genesis_hash: str, directory: Path | None = None) -> Path:
    """The manifest file of the chain with ``chain_id`` and genesis block ``genesis_hash``."""
    digits = genesis_hash.lower().removeprefix("0x")[:GENESIS_DIGITS]
    return deployments_dir(directory) / f"{chain_id}-{digits}.json"
