"""The Slither gate (toolchain/slither/gate.py) on a canned report, without running Slither.

The report holds two real findings of the contracts (a High arbitrary-send-erc20 in
DerivativeEngine.confirm, a Medium reentrancy-no-eth in DerivativeEngine._collect) and one Low
finding, trimmed from Slither 0.11.6's JSON output.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATE_FILE = ROOT / "toolchain" / "slither" / "gate.py"
REPORT_FILE = Path(__file__).parent / "data" / "slither_report.json"

CONFIRM = "DerivativeEngine.confirm(uint256,Terms)"
COLLECT = "DerivativeEngine._collect(address,uint256)"


@pytest.fixture(scope="module")
def gate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slither_gate", GATE_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def report() -> dict[str, Any]:
    return json.loads(REPORT_FILE.read_text())


def _keys(gate: ModuleType, report: dict[str, Any]) -> dict[str, Any]:
    return {finding.key.location: finding.key for finding in gate.gated_findings(report)}


def _triage_file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "triage.txt"
    path.write_text("# detector | location | digest | reason\n" + "\n".join(lines) + "\n")
    return path


def _line(key: Any, reason: str) -> str:
    return f"{key.detector} | {key.location} | {key.digest} | {reason}"


def _run(gate: ModuleType, report: dict[str, Any], triage: Path, tmp_path: Path, *extra: str) -> int:
    report_file = tmp_path / "report.json"
    report_file.write_text(json.dumps(report))
    return int(gate.main(["--report", str(report_file), "--triage", str(triage), *extra]))


def test_only_high_and_medium_findings_are_gated(gate, report):
    findings = gate.gated_findings(report)
    assert sorted((f.key.detector, f.impact, f.key.location) for f in findings) == [
        ("arbitrary-send-erc20", "High", CONFIRM),
        ("reentrancy-no-eth", "Medium", COLLECT),
    ]


def test_untriaged_finding_fails_the_gate_and_is_printed(gate, report, tmp_path, capsys):
    keys = _keys(gate, report)
    triage = _triage_file(tmp_path, [_line(keys[COLLECT], "guarded by nonReentrant")])

    assert _run(gate, report, triage, tmp_path) == 1

    out = capsys.readouterr().out
    assert f"UNTRIAGED arbitrary-send-erc20 (High, confidence High) at {CONFIRM}" in out
    assert "cash.safeTransferFrom(terms.buyer,address(this),terms.buyerIm)" in out
    assert f"triage line: {keys[CONFIRM].text()} | TODO" in out
    assert "1 High/Medium finding(s) triaged, 1 untriaged, 0 stale" in out
    assert "UNTRIAGED reentrancy-no-eth" not in out


def test_triaged_findings_pass(gate, report, tmp_path, capsys):
    keys = _keys(gate, report)
    triage = _triage_file(
        tmp_path, [_line(keys[CONFIRM], "the buyer confirmed these terms"), _line(keys[COLLECT], "nonReentrant")]
    )

    assert _run(gate, report, triage, tmp_path) == 0
    assert "slither gate passed: 2 High/Medium finding(s) triaged, 0 untriaged, 0 stale" in capsys.readouterr().out


def test_stale_triage_line_fails_the_gate(gate, report, tmp_path, capsys):
    keys = _keys(gate, report)
    gone = "uninitialized-state | AtomicSettlement._nonceWords | f0a43b715c | written through a storage reference"
    triage = _triage_file(tmp_path, [_line(keys[CONFIRM], "consented"), _line(keys[COLLECT], "nonReentrant"), gone])

    assert _run(gate, report, triage, tmp_path) == 1

    out = capsys.readouterr().out
    assert f"STALE triage.txt:4: {gone.rsplit(' | ', 1)[0]} matches no finding; delete it" in out
    assert "2 High/Medium finding(s) triaged, 0 untriaged, 1 stale" in out


def _shift_lines(value: Any, by: int) -> Any:
    """The same report after `by` lines were inserted at the top of every file."""
    if isinstance(value, dict):
        shifted = {key: _shift_lines(item, by) for key, item in value.items()}
        if "lines" in shifted:
            shifted["lines"] = [line + by for line in value["lines"]]
            shifted["start"] = value["start"] + 40 * by
        return shifted
    if isinstance(value, list):
        return [_shift_lines(item, by) for item in value]
    if isinstance(value, str):
        return re.sub(r"#(\d+)(?:-(\d+))?", lambda m: "#" + "-".join(str(int(n) + by) for n in m.groups() if n), value)
    return value


def test_key_survives_moved_code_and_edits_elsewhere(gate, report):
    moved = _shift_lines(report, 12)
    # A new function touching marginOf only lengthens the reentrancy's cross-function list.
    reentrancy = moved["results"]["detectors"][1]
    new_view = "DerivativeEngine.newView(address) (contracts/derivatives/DerivativeEngine.sol#700)"
    reentrancy["description"] += f"\t- {new_view}\n"
    assert moved != report

    assert _keys(gate, moved) == _keys(gate, report)


def test_key_changes_when_the_finding_itself_changes(gate, report):
    changed = copy.deepcopy(report)
    node = changed["results"]["detectors"][0]["elements"][1]
    node["name"] = "cash.safeTransferFrom(terms.seller,address(this),terms.sellerIm)"

    before, after = _keys(gate, report)[CONFIRM], _keys(gate, changed)[CONFIRM]
    assert (after.detector, after.location) == (before.detector, before.location)
    assert after.digest != before.digest


def test_failed_analysis_fails_the_gate_loudly(gate, report, tmp_path, capsys):
    failed = {"success": False, "error": "Invalid compilation: DeclarationError: Undeclared identifier.", "results": {}}
    triage = _triage_file(tmp_path, [])

    assert _run(gate, failed, triage, tmp_path) == 2
    assert "Slither reported a failed analysis: Invalid compilation: DeclarationError" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("reentrancy-no-eth | DerivativeEngine._collect(address,uint256) | 35b1ba3f5c | TODO: why", "has no reason"),
        ("reentrancy-no-eth | DerivativeEngine._collect(address,uint256) | 35b1ba3f5c |", "has no reason"),
        ("reentrancy-no-eth DerivativeEngine._collect(address,uint256) 35b1ba3f5c nonReentrant", "expected 'detector"),
    ],
)
def test_triage_line_without_a_reason_or_a_key_is_refused(gate, report, tmp_path, capsys, line, message):
    triage = _triage_file(tmp_path, [line])

    assert _run(gate, report, triage, tmp_path) == 2
    assert message in capsys.readouterr().err


def test_a_finding_is_triaged_once(gate, report, tmp_path, capsys):
    keys = _keys(gate, report)
    triage = _triage_file(tmp_path, [_line(keys[COLLECT], "nonReentrant"), _line(keys[COLLECT], "again")])

    assert _run(gate, report, triage, tmp_path) == 2
    assert "already triaged on line 2" in capsys.readouterr().err


def test_draft_lines_pass_once_their_reasons_are_written(gate, report, tmp_path, capsys):
    stale = "unused-return | Signatures.consents(address,bytes32,bytes) | 77b49fdf28 | errArg unused"
    triage = _triage_file(tmp_path, [stale])

    assert _run(gate, report, triage, tmp_path, "--draft") == 0

    draft = capsys.readouterr().out
    assert f"# delete (line 2, stale): {stale}" in draft
    drafted = [line for line in draft.splitlines() if not line.startswith("#")]
    assert len(drafted) == 2
    written = [line.split(" | TODO")[0] + " | reviewed: safe" for line in drafted]
    assert _run(gate, report, _triage_file(tmp_path, written), tmp_path) == 0


def _fake_slither(tmp_path: Path, body: str) -> Path:
    """An executable standing in for Slither: records its arguments, then runs `body`."""
    script = tmp_path / "slither"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, pathlib, sys\n"
        f"pathlib.Path({str(tmp_path / 'argv.json')!r}).write_text(json.dumps(sys.argv[1:]))\n" + body
    )
    script.chmod(0o755)
    return script


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    sources = (
        "contracts/token/Cash.sol",
        "contracts/interfaces/ICash.sol",
        "contracts/test/Mock.sol",
        "contracts/.cache/openzeppelin/5.7.0/utils/cryptography/P256.sol",  # ape's copy after `ape compile`
    )
    for source in sources:
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        (root / source).write_text("// SPDX-License-Identifier: MIT\n")
    return root


def test_slither_runs_on_every_contract_outside_tests_with_the_project_compiler(gate, tmp_path):
    canned = REPORT_FILE.read_text()
    slither = _fake_slither(
        tmp_path,
        f"out = sys.argv[sys.argv.index('--json') + 1]\npathlib.Path(out).write_text({canned!r})\nsys.exit(0)\n",
    )
    root = _project(tmp_path)

    report = gate.run_slither(slither, work_dir=tmp_path / "work", root=root)

    assert len(gate.gated_findings(report)) == 2
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[argv.index("--solc") + 1] == str(ROOT / "toolchain" / "solc")
    assert argv[argv.index("--compile-force-framework") + 1] == "solc-json"
    assert argv[argv.index("--filter-paths") + 1] == "node_modules|contracts/test"
    assert "--fail-none" in argv
    compiler_input = json.loads(Path(argv[0]).read_text())
    assert compiler_input["settings"]["evmVersion"] == "cancun"
    assert sorted(compiler_input["sources"]) == ["contracts/interfaces/ICash.sol", "contracts/token/Cash.sol"]


def test_slither_crash_is_not_taken_for_findings(gate, tmp_path):
    # With --fail-none Slither exits 0 whatever it finds; 255 here is its compile-failure exit.
    slither = _fake_slither(tmp_path, "print('SlitherError: Invalid compilation')\nsys.exit(255)\n")

    with pytest.raises(gate.SlitherCrashError, match=r"Slither exited with 255[\s\S]*Invalid compilation"):
        gate.run_slither(slither, work_dir=tmp_path / "work", root=_project(tmp_path))


def test_draft_shows_the_reason_of_a_stale_line_at_the_same_place(gate, report, tmp_path, capsys):
    keys = _keys(gate, report)
    old = f"{keys[COLLECT].detector} | {COLLECT} | 0000000000 | restores the optimistic debit; nonReentrant"
    triage = _triage_file(tmp_path, [_line(keys[CONFIRM], "consented"), old])

    assert _run(gate, report, triage, tmp_path, "--draft") == 0

    draft = capsys.readouterr().out.splitlines()
    new_line = draft.index(next(line for line in draft if line.startswith(keys[COLLECT].text())))
    assert draft[new_line - 1] == "# stale line 3 at the same place said: restores the optimistic debit; nonReentrant"
    assert f"# delete (line 3, stale): {old}" in draft
