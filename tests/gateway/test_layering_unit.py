"""Only routes speak HTTP, and only services touch the store: a worker loads nothing of the web
framework (the Celery app and every task module import without FastAPI or Starlette, probed in
a fresh interpreter so that what the test process imported does not count); services, tasks and
the domain errors import no HTTP module; routes query the store through services."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.tasks.app import TASK_MODULES

ROOT = Path(__file__).resolve().parents[2]

PROBE = (
    "import importlib, json, sys\n"
    "for name in sys.argv[1:]:\n"
    "    importlib.import_module(name)\n"
    "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette'))))\n"
)


def web_modules_loaded_by(*modules: str) -> list[str]:
    """The FastAPI and Starlette modules a fresh interpreter holds after importing ``modules``."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(probe.stdout.strip().splitlines()[-1])


def test_a_worker_imports_nothing_of_fastapi_or_starlette():
    web = web_modules_loaded_by("gateway.tasks.app", *TASK_MODULES)
    assert web == [], f"a worker imports {len(web)} modules of the web framework, {web[:5]} first"


def test_the_domain_errors_and_the_failures_import_nothing_of_the_web_framework():
    web = web_modules_loaded_by(
        "gateway.errors", "gateway.problem_types", "gateway.failures", "gateway.schemas_webhooks"
    )
    assert web == []


HTTP_MODULES = ("fastapi", "starlette", "gateway.problems", "gateway.deps", "gateway.pages", "gateway.routes")
PLAIN = [*sorted((ROOT / "gateway" / "services").glob("*.py")), *sorted((ROOT / "gateway" / "tasks").glob("*.py"))]
PLAIN += [ROOT / "gateway" / name for name in ("errors.py", "problem_types.py", "failures.py")]


def imported_by(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", PLAIN, ids=lambda p: str(p.relative_to(ROOT)))
def test_services_tasks_and_errors_import_no_http_module(path):
    """Services and tasks return values and raise domain errors; only routes speak HTTP."""
    http = sorted(n for n in imported_by(path) if any(n == m or n.startswith(m + ".") for m in HTTP_MODULES))
    assert http == [], http


QUERIES = {"get", "scalar", "scalars", "execute", "add", "delete", "flush", "query", "merge"}


@pytest.mark.parametrize("path", sorted((ROOT / "gateway" / "routes").glob("*.py")), ids=lambda p: p.name)
def test_routes_do_not_query_the_store(path):
    """A route reads and writes the store through a service; it only ends the session's
    transaction (commit, rollback) before it answers."""
    tree = ast.parse(path.read_text())
    queries = [
        f"line {node.lineno}: session.{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "session"
        and node.func.attr in QUERIES
    ]
    assert queries == []
    assert not any(name == "sqlalchemy" or name.startswith("sqlalchemy.sql") for name in imported_by(path))
