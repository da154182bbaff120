"""The client installs, with its dependencies, into a fresh venv that has no torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "python"

CHECK = """
import importlib.metadata, importlib.util
import specvlm_client
assert importlib.util.find_spec("torch") is None, "torch is importable"
assert importlib.metadata.requires("specvlm-client") == ["httpx>=0.27"], importlib.metadata.requires("specvlm-client")
print(specvlm_client.__version__)
"""


def run(*command: str | Path) -> str:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_installs_into_a_venv_without_torch(tmp_path):
    # Build from a copy: setuptools writes build/ and *.egg-info into the source folder.
    source = shutil.copytree(CLIENT_DIR, tmp_path / "src", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", source)
    from specvlm_client import __version__

    assert run(python, "-c", CHECK).strip() == __version__
    assert "VIDEO QUESTION" in run(venv / "bin" / "specvlm-chat", "--help").replace("\n", " ")
