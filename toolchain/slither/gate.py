"""Slither gate: fail on every High or Medium finding that is not triaged in ``triage.txt``.

Run from the repository root by ``make slither`` (part of ``make test``) with the Python of the
Slither virtualenv; it uses the standard library only, so the tests import it from the project's.

What it does:

1. writes a solc standard-JSON input naming every ``.sol`` file under ``contracts/`` outside
   ``contracts/test`` and hidden folders (so a new contract is analysed without anyone listing
   it), for the cancun EVM;
2. runs Slither on it with the project's solc-js wrapper (``toolchain/solc``, never a compiler that
   would be downloaded), OpenZeppelin remapped to ``node_modules`` and findings in ``node_modules``
   and ``contracts/test`` filtered out; ``--fail-none``, so Slither's exit code is 0 whatever it
   finds and anything else is a crash, as is a JSON report without ``"success": true``;
3. keeps the High and Medium findings and matches each to a triage line by its key
   ``detector | location | digest``: the location is the first element's qualified name (contract,
   function signature, variable) and the digest a hash of every element of the finding without its
   source mapping (the call, the variables written, the expression compared), so moving code or
   editing other functions leaves the key alone while a change to the finding itself gives a new key;
4. prints every untriaged finding with a draft triage line, every triage line that matches no
   finding any more (stale: an error, so the file only holds reasons for findings that exist), and
   exits 1 if there is either; a crash or an unreadable triage file exits 2.

``--draft`` prints the same findings as lines ready to paste (with the finding's text as comments,
and the reason of any stale line of the same detector at the same place, usually the same finding
changed) and the stale lines to delete, and exits 0: ``make slither-triage``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[2]
TRIAGE_FILE = ROOT / "toolchain" / "slither" / "triage.txt"
WORK_DIR = ROOT / "build" / "slither"
SOLC_WRAPPER = ROOT / "toolchain" / "solc"
CONTRACTS_DIR = "contracts"
EXCLUDED_DIR = "contracts/test"
EVM_VERSION = "cancun"
REMAPPING = "@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"
FILTER_PATHS = "node_modules|contracts/test"
GATED_IMPACTS = ("High", "Medium")
SLITHER_TIMEOUT_S = 900
DIGEST_CHARS = 10
SEPARATOR = " | "
PLACEHOLDER = "TODO"

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


class GateError(Exception):
    """Slither did not produce a usable report, or the triage file cannot be read."""


class SlitherCrashError(GateError):
    """Slither stopped before analysing (compile failure, bad option, crash)."""


class TriageFormatError(GateError):
    """A line of the triage file is not ``detector | location | digest | reason``."""


class Key(NamedTuple):
    """What identifies a finding across unrelated edits of the sources."""

    detector: str
    location: str
    digest: str

    def text(self) -> str:
        return SEPARATOR.join(self)


@dataclass(frozen=True)
class Finding:
    """A High or Medium finding of Slither's JSON report."""

    key: Key
    impact: str
    confidence: str
    description: str

    @property
    def summary(self) -> str:
        """The description's first line without source locations."""
        return strip_locations(self.description.strip().splitlines()[0]) if self.description.strip() else ""


@dataclass(frozen=True)
class TriageLine:
    """One triaged finding: its key and why it is safe."""

    key: Key
    reason: str
    line_number: int


@dataclass(frozen=True)
class Verdict:
    """Findings against the triage file."""

    untriaged: list[Finding]
    stale: list[TriageLine]
    matched: int

    @property
    def passed(self) -> bool:
        return not self.untriaged and not self.stale


# --------------------------------------------------------------------------------------------------
# keys
# --------------------------------------------------------------------------------------------------

_LOCATION = re.compile(r"\s*\([^()\s]+#\d+(?:-\d+)?\)")


def strip_locations(text: str) -> str:
    """Remove Slither's ``(path#line)`` / ``(path#first-last)`` source references."""
    return _LOCATION.sub("", text)


def _qualified_name(element: Mapping[str, Any]) -> str:
    """``Contract.function(sig).name`` for an element, from its chain of parents."""
    fields = element.get("type_specific_fields") or {}
    parent = fields.get("parent")
    own = str(fields.get("signature") or element.get("name", ""))
    prefix = _qualified_name(parent) if isinstance(parent, Mapping) else ""
    if element.get("type") == "node":
        # A node's name is its expression: the location is the function holding it.
        return prefix
    return f"{prefix}.{own}" if prefix else own


def _fingerprint(element: Mapping[str, Any]) -> list[str]:
    """An element without its source mapping: what it is, where in the code tree, what role."""
    extra = element.get("additional_fields") or {}
    parent = (element.get("type_specific_fields") or {}).get("parent")
    return [
        str(element.get("type", "")),
        str(element.get("name", "")),
        _qualified_name(parent) if isinstance(parent, Mapping) else "",
        str(extra.get("underlying_type", "")),
        str(extra.get("variable_name", "")),
    ]


def finding_key(result: Mapping[str, Any]) -> Key:
    """The key of one detector result of Slither's JSON output."""
    elements: list[Mapping[str, Any]] = list(result.get("elements") or [])
    detector = str(result["check"])
    location = _qualified_name(elements[0]) if elements else strip_locations(str(result.get("description", "")))
    canonical = json.dumps([detector, sorted(_fingerprint(e) for e in elements)], separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:DIGEST_CHARS]
    return Key(detector, location.strip(), digest)


# --------------------------------------------------------------------------------------------------
# Slither's report and the triage file
# --------------------------------------------------------------------------------------------------


def gated_findings(report: Mapping[str, Any]) -> list[Finding]:
    """The High and Medium findings of a Slither JSON report; a failed analysis raises."""
    if report.get("success") is not True:
        raise SlitherCrashError(f"Slither reported a failed analysis: {report.get('error') or 'no error given'}")
    results = (report.get("results") or {}).get("detectors") or []
    return [
        Finding(
            key=finding_key(result),
            impact=str(result.get("impact", "")),
            confidence=str(result.get("confidence", "")),
            description=str(result.get("description", "")),
        )
        for result in results
        if result.get("impact") in GATED_IMPACTS
    ]


def parse_triage(text: str) -> list[TriageLine]:
    """Lines ``detector | location | digest | reason``; ``#`` comments and blank lines are skipped."""
    lines: list[TriageLine] = []
    seen: dict[Key, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split(SEPARATOR.strip(), 3)]
        if len(fields) != 4 or not all(fields[:3]):
            raise TriageFormatError(f"triage line {number}: expected 'detector | location | digest | reason': {raw}")
        key = Key(fields[0], fields[1], fields[2])
        reason = fields[3]
        if not reason or reason.upper().startswith(PLACEHOLDER):
            raise TriageFormatError(f"triage line {number}: {key.text()} has no reason (say why it is safe)")
        if key in seen:
            raise TriageFormatError(f"triage line {number}: {key.text()} is already triaged on line {seen[key]}")
        seen[key] = number
        lines.append(TriageLine(key, reason, number))
    return lines


def compare(findings: Iterable[Finding], triage: Iterable[TriageLine]) -> Verdict:
    """Untriaged findings (one per key) and triage lines that match no finding."""
    triaged = {line.key for line in triage}
    found: dict[Key, Finding] = {}
    for finding in findings:
        found.setdefault(finding.key, finding)
    untriaged = sorted((finding for key, finding in found.items() if key not in triaged), key=lambda f: f.key)
    stale = [line for line in triage if line.key not in found]
    return Verdict(untriaged=untriaged, stale=stale, matched=len(found) - len(untriaged))


def draft_line(finding: Finding) -> str:
    """A triage line for a finding, its reason still to be written."""
    return f"{finding.key.text()}{SEPARATOR}{PLACEHOLDER}: why is it safe? ({finding.summary})"


# --------------------------------------------------------------------------------------------------
# running Slither
# --------------------------------------------------------------------------------------------------


def contract_sources(root: Path = ROOT) -> list[str]:
    """Every ``.sol`` file under ``contracts/`` outside ``contracts/test`` and hidden folders (ape's
    ``contracts/.cache`` holds a copy of OpenZeppelin), relative to the root."""
    relative = (path.relative_to(root) for path in (root / CONTRACTS_DIR).rglob("*.sol"))
    sources = sorted(path.as_posix() for path in relative if not any(part.startswith(".") for part in path.parts))
    return [source for source in sources if not source.startswith(f"{EXCLUDED_DIR}/")]


def standard_json_input(sources: Sequence[str]) -> dict[str, Any]:
    """The compiler input Slither analyses (Slither adds the remapping and its output selection)."""
    return {
        "language": "Solidity",
        "sources": {source: {"urls": [source]} for source in sources},
        "settings": {"evmVersion": EVM_VERSION},
    }


def run_slither(slither: Path, work_dir: Path = WORK_DIR, root: Path = ROOT) -> dict[str, Any]:
    """Run Slither over the contracts and return its JSON report; raise if it did not analyse."""
    sources = contract_sources(root)
    if not sources:
        raise SlitherCrashError(f"no Solidity sources under {root / CONTRACTS_DIR}")
    work_dir.mkdir(parents=True, exist_ok=True)
    input_file = work_dir / "input.json"
    report_file = work_dir / "report.json"
    log_file = work_dir / "slither.log"
    input_file.write_text(json.dumps(standard_json_input(sources), indent=1) + "\n", encoding="utf-8")
    report_file.unlink(missing_ok=True)  # Slither refuses to overwrite its report
    command = [
        str(slither),
        str(input_file),
        "--compile-force-framework",
        "solc-json",
        "--solc",
        str(SOLC_WRAPPER),  # a path, not a name: solc-select's shim on PATH never answers
        "--solc-remaps",
        REMAPPING,
        "--filter-paths",
        FILTER_PATHS,
        "--exclude-informational",
        "--exclude-low",
        "--exclude-optimization",
        "--show-ignored-findings",  # an inline slither-disable comment does not bypass the triage file
        "--fail-none",  # exit code 0 with findings: any other code is a crash
        "--json",
        str(report_file),
    ]
    try:
        completed = subprocess.run(  # noqa: S603 - fixed command line, no shell
            command, cwd=root, capture_output=True, text=True, timeout=SLITHER_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SlitherCrashError(f"could not run {slither}: {error}") from error
    log_file.write_text(completed.stdout + completed.stderr, encoding="utf-8")
    tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-30:])
    if completed.returncode != 0:
        raise SlitherCrashError(f"Slither exited with {completed.returncode} (full log: {log_file}):\n{tail}")
    try:
        report: dict[str, Any] = json.loads(report_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SlitherCrashError(f"Slither wrote no readable report ({error}); log: {log_file}:\n{tail}") from error
    return report


# --------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------


def _describe(finding: Finding) -> str:
    body = "\n".join(f"    {line}" for line in finding.description.strip().splitlines())
    return (
        f"{finding.key.detector} ({finding.impact}, confidence {finding.confidence}) at {finding.key.location}\n"
        f"{body}\n  triage line: {draft_line(finding)}"
    )


def _shown(path: Path) -> str:
    """A path relative to the working directory when it lies under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def report_verdict(verdict: Verdict, triage_file: Path) -> str:
    """The gate's output: what is untriaged and what is stale."""
    out: list[str] = []
    for finding in verdict.untriaged:
        out.append(f"UNTRIAGED {_describe(finding)}")
    for line in verdict.stale:
        out.append(f"STALE {triage_file.name}:{line.line_number}: {line.key.text()} matches no finding; delete it")
    status = "passed" if verdict.passed else "FAILED"
    out.append(
        f"slither gate {status}: {verdict.matched} High/Medium finding(s) triaged, "
        f"{len(verdict.untriaged)} untriaged, {len(verdict.stale)} stale triage line(s) in {_shown(triage_file)}"
    )
    if not verdict.passed:
        out.append("draft lines for the triage file: make slither-triage")
    return "\n".join(out)


def draft(verdict: Verdict) -> str:
    """Lines to paste into the triage file, and the stale ones to delete."""
    out: list[str] = []
    for finding in verdict.untriaged:
        out.extend(f"# {line}" for line in finding.description.strip().splitlines())
        # The same detector at the same place: usually the old finding, changed; check its reason still holds.
        out.extend(
            f"# stale line {line.line_number} at the same place said: {line.reason}"
            for line in verdict.stale
            if line.key[:2] == finding.key[:2]
        )
        out.append(draft_line(finding))
    for line in verdict.stale:
        out.append(f"# delete (line {line.line_number}, stale): {line.key.text()}{SEPARATOR}{line.reason}")
    if not out:
        out.append("# every High/Medium finding is triaged and no triage line is stale")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--slither", type=Path, default=Path(sys.executable).parent / "slither")
    parser.add_argument("--report", type=Path, help="check this Slither JSON report instead of running Slither")
    parser.add_argument("--triage", type=Path, default=TRIAGE_FILE)
    parser.add_argument("--draft", action="store_true", help="print draft triage lines; exit 0")
    args = parser.parse_args(argv)
    try:
        if args.report is not None:
            report = json.loads(args.report.read_text(encoding="utf-8"))
        else:
            report = run_slither(args.slither)
        findings = gated_findings(report)
        triage = parse_triage(args.triage.read_text(encoding="utf-8")) if args.triage.exists() else []
    except (GateError, OSError, ValueError) as error:
        print(f"slither gate ERROR: {error}", file=sys.stderr)
        return EXIT_ERROR
    verdict = compare(findings, triage)
    if args.draft:
        print(draft(verdict))
        return EXIT_OK
    print(report_verdict(verdict, args.triage))
    return EXIT_OK if verdict.passed else EXIT_FINDINGS


if __name__ == "__main__":
    sys.exit(main())
