"""Where the project's files are."""

from __future__ import annotations

from pathlib import Path

#: The repository root: the folder holding ``contracts/``, ``node_modules/`` and ``toolchain/``.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

CONTRACTS_DIR = PROJECT_ROOT / "contracts"
NODE_MODULES = PROJECT_ROOT / "node_modules"
TOOLCHAIN_DIR = PROJECT_ROOT / "toolchain"
BUILD_DIR = PROJECT_ROOT / "build"
#: Default folder for deployment manifests (one file per chain: its id and genesis block).
DEPLOYMENTS_DIR = PROJECT_ROOT / "deployments"
