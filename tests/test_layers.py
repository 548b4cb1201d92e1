"""The layers are a contract, not a convention: ``lint-imports`` (pyproject.toml [tool.importlinter])
passes on the project, and fails on an import that points the wrong way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("facerec", "faces", "gallery", "recognition")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    command = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--no-logo"]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_import_contracts_hold():
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_a_gallery_module_importing_recognition_breaks_the_layers(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "gallery" / "wrong_way.py").write_text("from recognition.services import match_confidence\n")

    done = _lint_imports(tmp_path)

    assert done.returncode == 1, done.stdout[-3000:]
    assert "gallery is not allowed to import recognition" in done.stdout
    assert "gallery.wrong_way -> recognition.services" in done.stdout
