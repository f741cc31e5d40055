"""The deployment manifest: which contracts live where on which chain.

One JSON file per chain, ``<deployments dir>/<chain id>.json``; the folder is ``deployments/`` in
the project root unless ``$DFMI_DEPLOYMENTS_DIR`` or an explicit path says otherwise::

    {
      "chain_id": 31337,
      "genesis_hash": "0x…",
      "deployer": "0x…",
      "solc_version": "0.8.37",
      "contracts": {
        "ComplianceRegistry": {"address": "0x…", "block": 1, "tx_hash": "0x…",
                               "code_hash": "0x…", "bytecode_hash": "0x…"},
        …
      }
    }

``code_hash`` is the keccak-256 of the runtime code read back from the chain (so it includes
immutables); ``bytecode_hash`` that of the creation code compiled here, which tells whether the
sources changed since.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dfmi_py.errors import ManifestError
from dfmi_py.paths import DEPLOYMENTS_DIR


class ContractRecord(BaseModel):
    """Where one contract was deployed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str
    block: int = Field(ge=0)
    tx_hash: str
    code_hash: str
    bytecode_hash: str


class Manifest(BaseModel):
    """Every contract of the suite on one chain."""

    model_config = ConfigDict(extra="forbid")

    chain_id: int
    genesis_hash: str
    deployer: str
    solc_version: str
    contracts: dict[str, ContractRecord] = Field(default_factory=dict)

    def address(self, name: str) -> str:
        """The address of ``name``.

        Raises:
            ManifestError: when the manifest has no such contract.
        """
        record = self.contracts.get(name)
        if record is None:
            raise ManifestError(f"the deployment on chain {self.chain_id} has no {name}: run `dfmi deploy` against it")
        return record.address

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


def manifest_path(chain_id: int, directory: Path | None = None) -> Path:
    """The manifest file for ``chain_id``."""
    base = directory or Path(os.environ.get("DFMI_DEPLOYMENTS_DIR", DEPLOYMENTS_DIR))
    return base / f"{chain_id}.json"
