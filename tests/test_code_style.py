"""The code passes ruff's lint (including its complexity limit) and is ruff-formatted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
    )


@pytest.fixture(scope="module", autouse=True)
def need_ruff() -> None:
    if ruff("--version").returncode != 0 and shutil.which("ruff") is None:
        pytest.skip("ruff is not installed (pip install '.[test]' installs it)")


def test_code_passes_ruff_check():
    result = ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_ruff_formatted():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr
