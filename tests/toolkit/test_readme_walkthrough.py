"""The README's walkthrough, run as written: the same commands in the same order.

The walkthrough is the ``sh`` code between ``<!-- walkthrough -->`` and ``<!-- /walkthrough -->``
in README.md. Each line is one of:

- a comment or a blank line (skipped);
- ``NAME=value`` — a shell variable, expanded in later lines as ``$NAME``;
- ``dfmi node …`` and ``export DFMI_RPC_URL=…`` — starting the chain; the test starts its own Anvil
  instead and passes its URL, so these two are the only lines it does not run;
- ``dfmi …`` — run through click's runner against that chain; it must exit 0, or, when its comment
  says ``# refused: ErrorName``, exit 1 with one line naming ``ErrorName``.

It runs twice: on the default configuration, and with ``--config examples/three-markets.toml``
added to ``dfmi deploy`` (commands without ``--market`` use the first market of either). If the
README changes, this test follows it; if a command changes, the README must.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from dfmi_py.cli.main import cli
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT
from dfmi_py.node.anvil import AnvilNode
from dfmi_py.paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
THREE_MARKETS = PROJECT_ROOT / "examples" / "three-markets.toml"
_BLOCK = re.compile(r"<!-- walkthrough -->(.*?)<!-- /walkthrough -->", re.S)
_FENCE = re.compile(r"```sh\n(.*?)```", re.S)
_ASSIGN = re.compile(r"^([A-Z_][A-Z0-9_]*)=(\S+)")
_REFUSED = re.compile(r"#\s*refused:\s*(\w+)")


@dataclass(frozen=True)
class Step:
    """One line of the walkthrough."""

    line_no: int
    text: str


def walkthrough_lines(readme: str) -> list[Step]:
    """The walkthrough's lines, in order, with their README line numbers."""
    block = _BLOCK.search(readme)
    assert block is not None, "README.md has no <!-- walkthrough --> … <!-- /walkthrough --> section"
    offset = readme[: block.start(1)].count("\n")
    steps: list[Step] = []
    for fence in _FENCE.finditer(block.group(1)):
        first = offset + block.group(1)[: fence.start(1)].count("\n") + 1
        for index, line in enumerate(fence.group(1).splitlines()):
            text = line.strip()
            if text and not text.startswith("#"):
                steps.append(Step(first + index, text))
    return steps


def _expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$([A-Z_][A-Z0-9_]*)", lambda m: variables[m.group(1)], text)


def test_the_walkthrough_is_in_the_readme_and_uses_only_dfmi() -> None:
    steps = walkthrough_lines(README.read_text())
    commands = [s for s in steps if s.text.startswith("dfmi ")]
    assert len(commands) >= 20, "the walkthrough is a whole day: deploy, trade, prices, default, DvP, netting"
    for step in steps:
        assert step.text.startswith(("dfmi ", "export DFMI_RPC_URL=")) or _ASSIGN.match(step.text), (
            f"README.md:{step.line_no}: the walkthrough uses the CLI alone: {step.text!r}"
        )


@pytest.mark.parametrize("config", [None, THREE_MARKETS], ids=["default-config", "three-underlyings"])
def test_the_readme_walkthrough_runs_as_written(
    config: Path | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    variables: dict[str, str] = {}
    with AnvilNode(accounts=DEV_ACCOUNT_COUNT) as node:
        base = ["--rpc-url", node.rpc_url, "--deployments-dir", str(tmp_path / "deployments")]
        for step in walkthrough_lines(README.read_text()):
            where = f"README.md:{step.line_no}: {step.text}"
            assigned = _ASSIGN.match(step.text)
            if assigned:
                variables[assigned.group(1)] = _expand(assigned.group(2), variables)
                continue
            if step.text.startswith(("dfmi node", "export DFMI_RPC_URL=")):
                continue
            args = shlex.split(_expand(step.text, variables), comments=True)[1:]
            if config is not None and args[:1] == ["deploy"]:
                args += ["--config", str(config)]
            result = runner.invoke(cli, [*base, *args], catch_exceptions=False)
            refused = _REFUSED.search(step.text)
            if refused:
                assert result.exit_code == 1, f"{where}\nexpected a refusal, got:\n{result.output}"
                lines = [line for line in result.output.splitlines() if line.strip()]
                assert len(lines) == 1, f"{where}\n{result.output}"
                assert refused.group(1) in lines[0], f"{where}\n{result.output}"
            else:
                assert result.exit_code == 0, f"{where}\n{result.output}"
