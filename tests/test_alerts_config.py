"""Alert settings are checked when config.toml is loaded, and reported at their key."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from scheduler.config import load_config
from scheduler.wiring import build_health_policy, build_policy
from tests.clirunner import ROOT, cli_env, config_problems, write_config_text

BASE = """
[service]
timezone = "Asia/Phnom_Penh"
[sources.kt]
type = "rss"
url = "https://kt.example.org/feed"
[channels.box]
type = "mbox"
path = "a.mbox"
"""


def load(tmp_path: Path, extra: str):
    return load_config(write_config_text(tmp_path, BASE + extra), environ={})


def problems(tmp_path: Path, extra: str) -> dict[str, str]:
    found = config_problems(write_config_text(tmp_path, BASE + extra))
    return {p.path: str(p) for p in found}


RULE = '[rules.r]\nquery = "raid"\nchannels = ["box"]\n'


def test_config_digest_rule_and_channel_limits_build_a_policy(tmp_path):
    config = load(
        tmp_path,
        RULE
        + 'mode = "digest"\ndigest = "30 7 * * 1-5"\nsend_empty = true\nmute_until = 2026-12-01\n'
        + '[channels.hook]\ntype = "webhook"\nurl = "https://h.example.org/x"\nformat = "discord"\n'
        + 'max_per_hour = 20\nquiet_hours = "22:00-07:00"\nmute_until = "2026-11-30T18:00"\n',
    )
    policy = build_policy(config)
    rule = policy.rules["r"]
    assert rule.send_empty and rule.digest is not None
    assert rule.mute_until == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # midnight in UTC+7
    hook = policy.channels["hook"]
    assert hook.max_per_hour == 20 and str(hook.quiet_hours) == "22:00-07:00"
    assert hook.mute_until == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    assert config.rules["r"].mute_until == date(2026, 12, 1)


def test_config_health_settings(tmp_path):
    text = BASE.replace(
        "[service]\n", '[service]\nfailure_alert_after = 3\nops_channels = ["box"]\n'
    ).replace(
        'url = "https://kt.example.org/feed"\n',
        'url = "https://kt.example.org/feed"\nstale_after = "2d"\n',
    )
    path = write_config_text(tmp_path, text)
    health = build_health_policy(load_config(path, environ={}))
    assert health.failure_alert_after == 3 and health.ops_channels == ("box",)
    assert health.stale_after["kt"].days == 2


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ('mode = "digest"\n', "rules.r.digest", 'required when mode = "digest"'),
        ('digest = "0 8 * * *"\n', "rules.r.digest", 'only used when mode = "digest"'),
        ('mode = "digest"\ndigest = "0 25 * * *"\n', "rules.r.digest", "invalid cron expression"),
        ('mode = "digest"\ndigest = "daily"\n', "rules.r.digest", "expected 5 fields"),
        ('mode = "weekly"\n', "rules.r.mode", "expected one of 'immediate' or 'digest'"),
        ('mute_until = "soon"\n', "rules.r.mute_until", "invalid date 'soon'"),
    ],
)
def test_config_rejects_bad_rule_alert_settings(tmp_path, extra, key, message):
    found = problems(tmp_path, RULE + extra)
    assert message in found[key], found


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ('quiet_hours = "22-7"\n', "channels.box.quiet_hours", 'expected "HH:MM-HH:MM"'),
        ("max_per_hour = 0\n", "channels.box.max_per_hour", "at least 1"),
        ("mute_until = 5\n", "channels.box.mute_until", "invalid date 5"),
    ],
)
def test_config_rejects_bad_channel_limits(tmp_path, extra, key, message):
    found = problems(tmp_path, extra)
    assert message in found[key], found


def test_config_reports_broken_user_templates_at_load(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "digest.txt.j2").write_text("{% for x in y %}\n", encoding="utf-8")
    found = problems(tmp_path, "")
    assert "template digest.txt.j2, line" in found["service.templates"]


def test_config_apprise_without_the_package_is_a_clear_problem(tmp_path):
    path = write_config_text(
        tmp_path, BASE + '[channels.chat]\ntype = "apprise"\nurls = ["json://127.0.0.1:9/x"]\n'
    )
    # A fresh interpreter in which "import apprise" fails, as on a machine without it.
    script = (
        "import sys; sys.modules['apprise'] = None\n"
        "from scheduler.config import load_config\n"
        "from scheduler.errors import ConfigError\n"
        "try:\n    load_config(sys.argv[1], environ={})\n"
        "except ConfigError as exc:\n    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    assert "channels.chat.urls: the apprise package is not installed" in result.stdout
    assert 'pip install "apprise>=1.9,<2"' in result.stdout
