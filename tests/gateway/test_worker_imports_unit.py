"""A worker loads nothing of the web framework: the Celery app and every task module import
without FastAPI or Starlette. Each probe is a fresh interpreter, so that what the test process
imported itself does not count."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateway.tasks.app import TASK_MODULES

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


@pytest.mark.xfail(
    strict=True,
    reason="gateway.settings imports starlette (settings_of reads a Request) and gateway.tasks.context imports "
    "gateway.deps (FastAPI dependencies): the settings split, the layers helper's item of issue 15",
)
def test_a_worker_imports_nothing_of_fastapi_or_starlette():
    web = web_modules_loaded_by("gateway.tasks.app", *TASK_MODULES)
    assert web == [], f"a worker imports {len(web)} modules of the web framework, {web[:5]} first"


def test_the_domain_errors_and_the_failures_import_nothing_of_the_web_framework():
    web = web_modules_loaded_by(
        "gateway.errors", "gateway.problem_types", "gateway.failures", "gateway.schemas_webhooks"
    )
    assert web == []
