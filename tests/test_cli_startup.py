"""The command line starts fast and finds its configuration however it is named."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.clirunner import ROOT, cli_env, newswatch, write_config

# Libraries that take most of a second to import, needed only by the commands that fetch,
# extract or cluster stories.
HEAVY = ("scrapy", "twisted", "scipy", "trafilatura", "numpy", "sqlite_utils", "datasketch")


def test_cli_import_leaves_heavy_libraries_for_the_commands_that_use_them():
    code = (
        "import json, sys, scheduler.cli; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_status_path_leaves_numpy_and_the_crawler_unimported():
    # `newswatch status` loads the config and reads the database: sqlite_utils must not pull
    # in numpy (it would for its insert() type map), and numpy stays importable afterwards.
    code = (
        "import json, sys, scheduler.cli, scheduler.status, crawler.db; "
        f"found = [m for m in {HEAVY!r} + ('pandas',) if m in sys.modules]; "
        "import numpy; print(json.dumps(found))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["sqlite_utils"]


def small_config(folder, **service):
    return write_config(
        folder,
        service=service,
        sources={},
        rules={"scam": {"query": "scam*", "channels": ["box"]}},
        channels={"box": {"type": "mbox", "path": "a.mbox"}},
    )


@pytest.mark.slow
def test_cli_config_before_or_after_the_command(tmp_path):
    config = small_config(tmp_path)
    before = newswatch("--config", str(config), "check")
    assert before.returncode == 0, before.stderr
    assert f"{config}: OK (0 sources, 1 rule, 1 channel)" in before.stdout
    # After the command wins over before it, and both over $NEWSWATCH_CONFIG.
    both = newswatch("--config", str(tmp_path / "nope.toml"), "check", "--config", str(config))
    assert both.returncode == 0, both.stderr
    env = newswatch("check", env={"NEWSWATCH_CONFIG": str(config)})
    assert env.returncode == 0, env.stderr
    status = newswatch("--config", str(config), "status")
    assert "No such option" not in status.stderr and "no database" in status.stderr


@pytest.mark.slow
def test_cli_missing_config_says_how_to_make_one(tmp_path):
    result = newswatch("status", config=tmp_path / "config.toml")
    assert result.returncode == 2
    assert "file not found" in result.stderr and "newswatch init" in result.stderr
