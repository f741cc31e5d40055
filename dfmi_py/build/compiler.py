"""Compile the contracts with py-solc-x, using a native ``solc`` when one of the pinned version
is installed and the npm compiler (solc-js behind ``toolchain/solc``) otherwise.

Nothing is ever downloaded at run time. Output is cached under ``build/`` keyed by a hash of the
sources and settings, so a second call costs a file read.

A compilation takes about 10 s with solc-js: it reports what it compiles and how long it took as
INFO records of this module's logger (the progress of a long step). Library use leaves logging
unconfigured, so they stay silent; the ``dfmi`` command line shows them on stderr.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

from dfmi_py.errors import CompilationError, ToolchainError
from dfmi_py.paths import BUILD_DIR, CONTRACTS_DIR, NODE_MODULES, PROJECT_ROOT, TOOLCHAIN_DIR

logger = logging.getLogger(__name__)

#: The compiler version every build uses (ape-config.yaml and foundry settings say the same).
SOLC_VERSION = "0.8.37"
#: Compiler settings shared with ape-config.yaml; tests check the two agree. 1,000 runs rather
#: than more keeps the DerivativeEngine well under the 24,576-byte code limit (21.5 KB; 24.5 KB at
#: 10,000 runs) for under 0.5% more gas per call (bench/results/gas.md).
OPTIMIZER_RUNS = 1_000
EVM_VERSION = "cancun"
REMAPPINGS = ["@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"]


@dataclass(frozen=True)
class Artifact:
    """One compiled contract.

    Attributes:
        name: The contract's name, e.g. ``"CashToken"``.
        source: Its source unit, e.g. ``"contracts/token/CashToken.sol"``.
        abi: The ABI as parsed JSON.
        bytecode: Creation code, ``0x``-prefixed.
        deployed_bytecode: Runtime code, ``0x``-prefixed.
    """

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@dataclass(frozen=True)
class Artifacts:
    """Every contract compiled from ``contracts/``, by name."""

    by_name: dict[str, Artifact]
    solc_version: str

    def __getitem__(self, name: str) -> Artifact:
        try:
            return self.by_name[name]
        except KeyError:
            known = ", ".join(sorted(self.by_name))
            raise CompilationError(f"no compiled contract named {name!r}; known: {known}") from None

    @cached_property
    def errors_abi(self) -> list[dict[str, Any]]:
        """Every custom error of every contract, once each, for decoding reverts."""
        seen: dict[str, dict[str, Any]] = {}
        for artifact in self.by_name.values():
            for item in artifact.abi:
                if item.get("type") == "error":
                    key = item["name"] + json.dumps(item["inputs"], sort_keys=True)
                    seen.setdefault(key, item)
        return list(seen.values())


def find_solc() -> Path:
    """Return the compiler executable to use.

    Order: ``$DFMI_SOLC`` if set; a native ``solc`` on ``PATH`` that reports the pinned version;
    the project's solc-js wrapper ``toolchain/solc`` (needs ``npm ci`` to have installed ``solc``).

    Raises:
        ToolchainError: when none of them is usable.
    """
    explicit = os.environ.get("DFMI_SOLC")
    if explicit:
        path = Path(explicit)
        _check_version(path)
        return path
    native = shutil.which("solc")
    if native:
        try:
            _check_version(Path(native))
            return Path(native)
        except ToolchainError:
            logger.debug("native solc at %s is not %s; using solc-js", native, SOLC_VERSION)
    wrapper = TOOLCHAIN_DIR / "solc"
    if not (NODE_MODULES / "solc").is_dir():
        raise ToolchainError(
            f"no solc {SOLC_VERSION} found: install a native solc {SOLC_VERSION}, or run `npm ci` "
            "in the project root to install the npm compiler"
        )
    if shutil.which("node") is None:
        raise ToolchainError("the npm compiler needs Node.js on PATH (`node` was not found)")
    return wrapper


def compiler_name(solc: Path) -> str:
    """``"solc-js"`` for the project's npm compiler wrapper, ``"solc"`` for a native compiler."""
    return "solc-js" if solc == TOOLCHAIN_DIR / "solc" else "solc"


def _check_version(path: Path) -> None:
    try:
        version = solcx.wrapper.get_solc_version(path)
    except (OSError, SolcError) as exc:
        raise ToolchainError(f"cannot run the compiler at {path}: {exc}") from exc
    if version.base_version != SOLC_VERSION:
        raise ToolchainError(f"compiler at {path} is {version}, the project needs {SOLC_VERSION}")


def standard_input(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """Build the compiler's standard-JSON input for every ``.sol`` file under ``contracts_dir``."""
    sources = {
        _source_unit(path): {"content": path.read_text()}
        for path in sorted(contracts_dir.rglob("*.sol"))
        if ".cache" not in path.parts
    }
    if not sources:
        raise CompilationError(f"no Solidity sources under {contracts_dir}")
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "remappings": REMAPPINGS,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }


def _source_unit(path: Path) -> str:
    resolved = path.resolve()
    if resolved.is_relative_to(PROJECT_ROOT):
        return resolved.relative_to(PROJECT_ROOT).as_posix()
    return resolved.as_posix()


def compile_contracts(*, force: bool = False, contracts_dir: Path = CONTRACTS_DIR) -> Artifacts:
    """Compile every contract, or load the cached result when nothing changed.

    Args:
        force: Recompile even when the cache matches.
        contracts_dir: Folder of sources (tests use their own fixtures folder).

    Returns:
        The artifacts, by contract name.

    Raises:
        CompilationError: on any compiler error or warning.
        ToolchainError: when no compiler is available.
    """
    data = standard_input(contracts_dir)
    digest = hashlib.sha256(json.dumps([SOLC_VERSION, data], sort_keys=True).encode()).hexdigest()[:16]
    cache = BUILD_DIR / f"artifacts-{contracts_dir.name}-{digest}.json"
    if cache.exists() and not force:
        return _load(cache)
    solc = find_solc()
    logger.info("compiling %d Solidity files with %s %s …", len(data["sources"]), compiler_name(solc), SOLC_VERSION)
    started = time.monotonic()
    try:
        output = solcx.compile_standard(
            data, base_path=str(PROJECT_ROOT), allow_paths=[str(PROJECT_ROOT)], solc_binary=solc
        )
    except SolcError as exc:
        raise CompilationError(_format_diagnostics(getattr(exc, "stdout_data", "") or str(exc))) from exc
    problems = [d for d in output.get("errors", []) if d.get("severity") in ("error", "warning")]
    if problems:
        raise CompilationError(
            "the contracts do not compile cleanly:\n" + "\n".join(d["formattedMessage"] for d in problems)
        )
    artifacts = _to_artifacts(output)
    logger.info("compiled %d contracts in %.1f s", len(artifacts.by_name), time.monotonic() - started)
    BUILD_DIR.mkdir(exist_ok=True)
    for stale in BUILD_DIR.glob(f"artifacts-{contracts_dir.name}-*.json"):
        if stale != cache:
            stale.unlink(missing_ok=True)
    # Write aside, then rename: another process reading the cache (a parallel test worker) sees
    # the old file or the new one, never a missing or half-written one.
    partial = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps({"solc_version": SOLC_VERSION, "contracts": _serialise(artifacts)}))
    partial.replace(cache)
    return artifacts


def _format_diagnostics(text: str) -> str:
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError):
        return text
    return "\n".join(d.get("formattedMessage", str(d)) for d in parsed.get("errors", []))


def _to_artifacts(output: dict[str, Any]) -> Artifacts:
    by_name: dict[str, Artifact] = {}
    for source, contracts in output["contracts"].items():
        for name, data in contracts.items():
            if name in by_name:
                raise CompilationError(f"two contracts named {name}: {by_name[name].source} and {source}")
            by_name[name] = Artifact(
                name=name,
                source=source,
                abi=data["abi"],
                bytecode="0x" + data["evm"]["bytecode"]["object"],
                deployed_bytecode="0x" + data["evm"]["deployedBytecode"]["object"],
            )
    return Artifacts(by_name=by_name, solc_version=SOLC_VERSION)


def _serialise(artifacts: Artifacts) -> list[dict[str, Any]]:
    return [vars(a) for a in artifacts.by_name.values()]


#: Artifacts already read by this process, by cache file and the file's modification time: a process
#: that connects many times (a service, a notebook, commands run in-process) parses them once.
_LOADED: dict[tuple[Path, int], Artifacts] = {}


def _load(cache: Path) -> Artifacts:
    key = (cache, cache.stat().st_mtime_ns)
    loaded = _LOADED.get(key)
    if loaded is None:
        raw = json.loads(cache.read_text())
        by_name = {c["name"]: Artifact(**c) for c in raw["contracts"]}
        loaded = Artifacts(by_name=by_name, solc_version=raw["solc_version"])
        _LOADED.clear()  # one build at a time: an older one is not asked for again
        _LOADED[key] = loaded
    return loaded
