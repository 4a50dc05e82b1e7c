"""SECURITY.md's table of ASVS requirements names tests that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`(?:([\w/]+\.py))?::(\w+)")


def referenced_tests() -> list[tuple[str, str]]:
    """Every ``file.py::test`` in the table; ``::test`` alone means the file before it."""
    found: list[tuple[str, str]] = []
    for line in (ROOT / "SECURITY.md").read_text().splitlines():
        current = None
        for file, name in REFERENCE.findall(line):
            current = file or current
            assert current, f"a test named without its file: {line}"
            found.append((current, name))
    return found


def test_every_test_the_security_page_names_exists() -> None:
    references = referenced_tests()
    assert len(references) >= 40
    for file, name in references:
        tree = ast.parse((ROOT / "tests" / file).read_text())
        defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert name in defined, f"SECURITY.md names tests/{file}::{name}, which does not exist"
