"""Debian's chromium driven by Playwright from .venv-browser, for the browser tests: where they
are, where screenshots go, and the marks that skip a browser test (with the reason) where either
is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from network.deployments import PROJECT_ROOT

BROWSER_PYTHON = PROJECT_ROOT / ".venv-browser" / "bin" / "python"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = PROJECT_ROOT / "reports" / "screenshots"
NEEDS_CHROMIUM = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)"
    ),
    pytest.mark.skipif(not BROWSER_PYTHON.exists(), reason=f"{BROWSER_PYTHON} is missing: run `make setup`"),
]
