"""SECURITY.md's list of the attack tests is the list of tests in tests/security: a test it names
exists, and a test added there is named in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _attacks_section() -> str:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    start = text.index("## Attacks tested")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_security_md_names_exactly_the_security_tests() -> None:
    named = set(re.findall(r"`(test_[a-zA-Z0-9_]+)`", _attacks_section()))
    defined = {
        name
        for path in (ROOT / "tests" / "security").glob("test_*.py")
        if path.name != Path(__file__).name
        for name in re.findall(r"^def (test_[a-zA-Z0-9_]+)", path.read_text(encoding="utf-8"), re.MULTILINE)
    }
    assert named - defined == set(), "SECURITY.md names tests that do not exist"
    assert defined - named == set(), "tests/security has tests SECURITY.md does not name"
