"""The tests' own layout: no test module imports another test module or a conftest.

Shared fixtures live in conftest.py files (pytest hands them out by name), shared helpers in
plain modules (tests/problems.py, tests/fakes.py, tests/stores.py, tests/gateway/purchases.py...).
A test module imported by another runs its fixtures twice and ties the two files' edits together.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_test_module_imports_another_test_module_or_a_conftest() -> None:
    offences = sorted(
        f"{path.relative_to(TESTS.parent)} imports {module}"
        for path in TESTS.rglob("*.py")
        for module in _imported_modules(path)
        if module.startswith("tests.")
        and (module.rsplit(".", 1)[-1].startswith("test_") or module.rsplit(".", 1)[-1] == "conftest")
    )
    assert offences == [], "\n".join(offences)
