"""The partner SDK stands on its own: it imports with the server's packages unavailable, and its
distribution (partners/pyproject.toml) builds and installs offline into a fresh virtualenv where
there is no server at all, and works from there."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER = ("gateway", "network", "coalition", "loyalty")
SDK_MODULES = ("partners.client", "partners.sdk", "partners.webhooks")

# a finder that refuses the server's packages, first on sys.meta_path: any import of them fails
BLOCK = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {SERVER!r}:
            raise ImportError(f'the server is not available here: {{name}}')
        return None
sys.meta_path.insert(0, Block())
"""
# imports every module of the SDK package and exercises it a little
USE = f"""
import importlib, pkgutil, partners
for name in {SDK_MODULES!r}:
    importlib.import_module(name)
for info in pkgutil.walk_packages(partners.__path__, 'partners.'):
    importlib.import_module(info.name)
from partners.client import PartnerClient
from partners.webhooks import sign, verify
body = b'{{"id":"evt_1"}}'
verify('whsec_x', body, sign('whsec_x', body))
PartnerClient('http://127.0.0.1:9', 'key').close()
bad = sorted(m for m in sys.modules if m.split('.')[0] in {SERVER!r})
assert not bad, bad
print(partners.__file__)
"""


def test_unit_the_sdk_imports_with_the_server_unavailable() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK + USE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).parent == ROOT / "partners"


def test_unit_the_blocker_would_catch_an_import_of_the_server() -> None:
    """The finder above is not a no-op: with it, importing the server fails."""
    done = subprocess.run(
        [sys.executable, "-c", BLOCK + "import loyalty.settlement"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "the server is not available here: loyalty" in done.stderr


def test_unit_the_sdk_builds_and_installs_offline_into_a_virtualenv_without_the_server(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    source = shutil.copytree(ROOT / "partners", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if built.returncode != 0 and "No module named" in built.stderr and "setuptools" in built.stderr:
        pytest.skip("setuptools is not in this virtualenv: the wheel cannot be built offline")
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("coalition_partner_sdk-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "partners/client.py" in names and "partners/sdk/core.py" in names and "partners/webhooks.py" in names
    assert not [n for n in names if n.split("/")[0] in SERVER], names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    # the SDK's one dependency (httpx and what it needs) from this environment, without its .pth
    # files: the checkout's editable install (the server) stays out of reach
    site = subprocess.check_output([python, "-c", "import site; print(site.getsitepackages()[0])"], text=True)
    Path(site.strip(), "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    no_server = subprocess.run(
        [python, "-c", "import gateway"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert no_server.returncode != 0 and "No module named 'gateway'" in no_server.stderr
    done = subprocess.run(
        [python, "-c", "import sys\n" + USE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(venv)
