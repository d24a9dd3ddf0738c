"""``newswatch init``: a commented starter config that passes ``newswatch check``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.clirunner import newswatch

STARTER = Path(__file__).resolve().parents[1] / "scheduler" / "starter_config.toml"


@pytest.mark.slow
def test_init_writes_a_config_that_passes_check(tmp_path):
    folder = tmp_path / "watch"
    result = newswatch("init", str(folder))
    assert result.returncode == 0, result.stderr
    config = folder / "config.toml"
    assert config.read_text(encoding="utf-8") == STARTER.read_text(encoding="utf-8")
    assert f"wrote {config}" in result.stdout and "newswatch check" in result.stdout

    check = newswatch("check", config=config)
    assert check.returncode == 0, check.stderr
    assert "OK (5 sources, 1 rule, 1 channel)" in check.stdout
    assert "warning" not in check.stderr


@pytest.mark.slow
def test_init_refuses_to_overwrite_an_existing_config(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("# mine\n", encoding="utf-8")
    result = newswatch("init", str(tmp_path))
    assert result.returncode == 1
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert "Traceback" not in result.stderr
    assert config.read_text(encoding="utf-8") == "# mine\n"


@pytest.mark.slow
def test_init_force_overwrites(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("# mine\n", encoding="utf-8")
    result = newswatch("init", "--force", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert config.read_text(encoding="utf-8") == STARTER.read_text(encoding="utf-8")


@pytest.mark.slow
def test_init_defaults_to_the_current_folder(tmp_path):
    result = newswatch("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "config.toml").read_text(encoding="utf-8").startswith("# newswatch")


@pytest.mark.slow
def test_init_into_a_path_that_is_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "occupied"
    blocker.write_text("x", encoding="utf-8")
    result = newswatch("init", str(blocker))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "occupied" in result.stderr


def test_init_starter_config_documents_every_service_and_web_key():
    from scheduler.config_models import ServiceSettings, WebSettings

    text = STARTER.read_text(encoding="utf-8")
    # [service] health is the older name of [web] listen: not offered to new configs.
    keys = [key for key in ServiceSettings.model_fields if key != "health"]
    keys += list(WebSettings.model_fields)
    missing = [key for key in keys if f"{key} =" not in text]
    assert missing == []


@pytest.mark.slow
def test_init_commented_service_keys_are_valid_when_switched_on(tmp_path):
    lines, in_service = [], False
    for line in STARTER.read_text(encoding="utf-8").splitlines():
        if line.startswith(("[", "# ---")):
            in_service = line == "[service]"
        elif in_service and re.match(r"# [a-z_]+ = ", line):
            line = line[2:]
        lines.append(line)
    config = tmp_path / "config.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert "\nkeep = " in config.read_text(encoding="utf-8")
    check = newswatch("check", config=config)
    assert check.returncode == 0, check.stderr
