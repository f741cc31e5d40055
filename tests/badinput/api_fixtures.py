"""What the bad-input tables of the Python API and the services share: a case, the world it runs
in, and the check that every case makes.

A case is a call with a bad input and the error it must raise: a :class:`DfmiError` subclass and a
message pattern. The check runs the call and asserts that the error is of that class, its message
is one line matching the pattern, nothing was mined (the block number and the latest block's hash
are the same before and after) and no file under the test's folder changed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dfmi_py.api.market import Market
from dfmi_py.chain import Chain
from dfmi_py.deploy.suite import Deployment
from dfmi_py.errors import DfmiError
from tests.helpers import Roles


@dataclass(frozen=True)
class World:
    """What a case may use: the session's chain and suite, the roles, and a folder of its own."""

    chain: Chain
    deployment: Deployment
    market: Market
    roles: Roles
    tmp_path: Path

    @property
    def member(self) -> Any:
        """The first member (onboarded, holds nothing)."""
        return self.roles.members[0]

    @property
    def other(self) -> Any:
        """The second member."""
        return self.roles.members[1]

    def head(self) -> int:
        """The latest block number."""
        return int(self.chain.w3.eth.block_number)

    def write(self, name: str, text: str) -> Path:
        """Write ``text`` to ``name`` in the case's folder (before the case runs)."""
        path = self.tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        id: The case's name in the test report.
        call: Makes the call with the bad input (given the world, and what ``prepare`` returned).
        error: The class the error must be (or subclass).
        message: A pattern the one-line message must match (``re.search``).
        prepare: Sets the stage before the chain and the files are recorded (may mine).
    """

    id: str
    call: Callable[..., object]
    error: type[DfmiError]
    message: str
    prepare: Callable[[World], Any] | None = field(default=None)


def wrong_checksum(address: str) -> str:
    """``address`` with the case of its first letter digit flipped: a wrong EIP-55 checksum."""
    digits = list(address[2:])
    index = next(i for i, c in enumerate(digits) if c.isalpha())
    digits[index] = digits[index].swapcase()
    return "0x" + "".join(digits)


def files_of(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path, with the SHA-256 of its content."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def chain_mark(chain: Chain) -> tuple[int, bytes]:
    """The latest block's number and hash."""
    block = chain.w3.eth.get_block("latest")
    return int(block["number"]), bytes(block["hash"])


def check_case(case: Case, world: World) -> DfmiError:
    """Run ``case`` and assert what every bad input must give (see the module's text)."""
    prepared = case.prepare(world) if case.prepare is not None else None
    mark, files = chain_mark(world.chain), files_of(world.tmp_path)
    arguments = (world, prepared) if case.prepare is not None else (world,)
    with pytest.raises(DfmiError) as info:
        case.call(*arguments)
    error = info.value
    message = str(error)
    assert isinstance(error, case.error), f"{type(error).__name__} is not a {case.error.__name__}: {message}"
    assert message.strip(), "an empty message"
    assert "\n" not in message, f"not one line: {message!r}"
    assert re.search(case.message, message), f"{message!r} does not match {case.message!r}"
    assert "Traceback" not in message
    assert chain_mark(world.chain) == mark, "the chain moved"
    assert files_of(world.tmp_path) == files, "files changed"
    return error


@pytest.fixture(scope="module")
def market(deployment: Deployment) -> Market:
    """The session's suite through the API."""
    return Market.from_deployment(deployment)


@pytest.fixture
def world(chain: Chain, deployment: Deployment, market: Market, roles: Roles, tmp_path: Path) -> World:
    """The world a case runs in (the chain goes back to the base scenario after the test)."""
    return World(chain, deployment, market, roles, tmp_path)
