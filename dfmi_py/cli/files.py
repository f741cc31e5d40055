"""The JSON files commands read and write: instructions (``dfmi dvp``, ``dfmi net enter``),
obligations and governance actions are passed between parties as files, and a malformed one is a
one-line :class:`InputError`, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from dfmi_py.api.settlement import SignedInstruction
from dfmi_py.errors import InputError
from dfmi_py.signing.settlement import Instruction

T = TypeVar("T")


def read_json_file(path: Path, what: str, parse: Callable[[Any], T]) -> T:
    """``parse`` of the JSON in ``path``; a missing, malformed or incomplete file is an
    :class:`InputError` saying it is not ``what`` (e.g. ``"an instruction file"``)."""
    try:
        return parse(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not {what} ({type(exc).__name__}: {exc})") from None


def write_json_file(data: Any, out: Path | None, *, announce: bool = True) -> None:
    """``data`` as indented JSON to ``out`` (saying so on stderr when ``announce``), or to stdout."""
    text = json.dumps(data, indent=2)
    if out is None:
        click.echo(text)
        return
    try:
        out.write_text(text + "\n")
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}") from None
    if announce:
        click.echo(f"wrote {out}", err=True)


def read_instruction(path: Path) -> SignedInstruction:
    """The signed instruction in a ``dfmi dvp`` file (also read by ``dfmi net enter``)."""

    def parse(data: dict[str, Any]) -> SignedInstruction:
        return SignedInstruction(
            Instruction.from_message(data["instruction"]),
            bytes.fromhex(str(data.get("signatureA", "0x"))[2:]),
            bytes.fromhex(str(data.get("signatureB", "0x"))[2:]),
        )

    return read_json_file(path, "an instruction file", parse)


def write_instruction(item: SignedInstruction, out: Path | None, *, announce: bool = True) -> None:
    """Write a (partly) signed instruction as a ``dfmi dvp`` file, or to stdout."""
    data: dict[str, Any] = {
        "instruction": item.instruction.as_message(),
        "signatureA": "0x" + item.signature_a.hex(),
        "signatureB": "0x" + item.signature_b.hex(),
    }
    write_json_file(data, out, announce=announce)
