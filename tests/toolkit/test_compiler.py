"""Compiler selection, clean compilation, and agreement with ape's configuration."""

import json
import re
import shutil
import subprocess

import pytest
import yaml

from dfmi_py.build import compiler
from dfmi_py.errors import CompilationError, ToolchainError
from dfmi_py.paths import PROJECT_ROOT


def test_project_contracts_compile_without_warnings():
    # compile_contracts raises CompilationError on any warning and writes its cache only after a
    # clean compile; the cache is keyed by the compiler's version and the whole standard input
    # (every source, every setting), so a hit is a clean compile of these very sources. From a
    # clean clone the suite's first deployment made it; forcing a second full compile here cost
    # 11 s of every test run.
    artifacts = compiler.compile_contracts()
    for name in ("ComplianceRegistry", "CashToken"):
        assert len(artifacts[name].deployed_bytecode) > 1000


def test_compile_reports_warnings_as_errors(tmp_path):
    (tmp_path / "Warn.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
        "contract Warn { function f(uint256 unused) external pure returns (uint256) { return 1; } }\n"
    )
    with pytest.raises(CompilationError, match="Unused function parameter"):
        compiler.compile_contracts(contracts_dir=tmp_path, force=True)


def test_compile_reports_syntax_errors_with_the_location(tmp_path):
    (tmp_path / "Broken.sol").write_text("pragma solidity ^0.8.24;\ncontract Broken { function }\n")
    with pytest.raises(CompilationError, match=r"Broken\.sol"):
        compiler.compile_contracts(contracts_dir=tmp_path, force=True)


def test_wrapper_answers_like_native_solc():
    out = subprocess.run([PROJECT_ROOT / "toolchain" / "solc", "--version"], capture_output=True, text=True, check=True)
    assert re.search(rf"Version: {re.escape(compiler.SOLC_VERSION)}\+commit\.[0-9a-f]+", out.stdout)


def test_wrapper_output_is_not_truncated_on_a_pipe():
    # Regression: exiting right after writing cut the JSON at 64 KiB. The token contracts alone
    # (with their OpenZeppelin imports) answer with well over that, in a fraction of a full build.
    data = compiler.standard_input(PROJECT_ROOT / "contracts" / "token")
    out = subprocess.run(
        [PROJECT_ROOT / "toolchain" / "solc", "--standard-json", "--base-path", PROJECT_ROOT],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(out.stdout) > 65536
    assert "CashToken" in json.loads(out.stdout)["contracts"]["contracts/token/CashToken.sol"]


def test_explicit_solc_of_the_wrong_version_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "solc"
    fake.write_text(
        "#!/bin/sh\necho 'solc, the solidity compiler commandline interface'\n"
        "echo 'Version: 0.8.1+commit.df193b15.Linux.g++'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("DFMI_SOLC", str(fake))
    with pytest.raises(ToolchainError, match=re.escape(compiler.SOLC_VERSION)):
        compiler.find_solc()


def test_native_solc_of_the_right_version_is_preferred(tmp_path, monkeypatch):
    native = tmp_path / "solc"
    native.symlink_to(PROJECT_ROOT / "toolchain" / "solc")
    monkeypatch.setenv("PATH", f"{tmp_path}:{shutil.os.environ['PATH']}")
    monkeypatch.delenv("DFMI_SOLC", raising=False)
    assert compiler.find_solc() == native


def test_ape_config_matches_the_compiler_settings():
    config = yaml.safe_load((PROJECT_ROOT / "ape-config.yaml").read_text())
    solidity = config["solidity"]
    assert solidity["version"] == compiler.SOLC_VERSION
    assert solidity["evm_version"] == compiler.EVM_VERSION
    assert solidity["optimization_runs"] == compiler.OPTIMIZER_RUNS
    oz_version = json.loads((PROJECT_ROOT / "package.json").read_text())["dependencies"]["@openzeppelin/contracts"]
    assert config["dependencies"][0]["version"] == oz_version
    assert solidity["import_remapping"] == [f"@openzeppelin/contracts=openzeppelin/{oz_version}"]


#: EIP-170: the most runtime code a contract may have; chains refuse to deploy more.
MAX_CODE_SIZE = 24_576


def test_every_contract_fits_the_code_size_limit_with_room_to_grow():
    """The engine is the largest; a change that takes it near the limit should be noticed here first."""
    artifacts = compiler.compile_contracts()
    sizes = {name: (len(a.deployed_bytecode) - 2) // 2 for name, a in artifacts.by_name.items()}
    assert max(sizes.values()) <= MAX_CODE_SIZE - 1_024, sizes
