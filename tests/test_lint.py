"""The code stays ruff-clean, ruff-formatted and mypy-clean (the style rules of the project, checked like any
test; `.pre-commit-config.yaml` runs the same ruff on each commit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff() -> None:
    r = _run("ruff", "check", "assist", "tests", "bench")
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format() -> None:
    r = _run("ruff", "format", "--check", ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy() -> None:
    r = _run("mypy", "assist", "tests")
    assert r.returncode == 0, r.stdout + r.stderr
