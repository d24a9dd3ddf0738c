"""The packages pass mypy with the configuration in pyproject.toml ([tool.mypy])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args], cwd=ROOT, capture_output=True, text=True
    )


@pytest.fixture(scope="module", autouse=True)
def need_mypy() -> None:
    if mypy("--version").returncode != 0:
        pytest.skip("mypy is not installed (pip install '.[test]' installs it)")


def test_packages_pass_mypy():
    # The packages to check come from `files` in [tool.mypy].
    result = mypy("--no-error-summary", "--no-color-output")
    assert result.returncode == 0, result.stdout + result.stderr
