"""``newswatch check`` warns about configurations that are valid but will not alert."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from scheduler.config import load_config
from scheduler.config_warnings import config_warnings
from tests.clirunner import newswatch, write_config

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
BOX = {"box": {"type": "mbox", "path": "alerts.mbox"}}


def warnings_for(tmp_path, **sections):
    sections = {"sources": {}, "rules": {}, "channels": {}} | sections
    return config_warnings(load_config(write_config(tmp_path, **sections), environ={}), NOW)


def test_config_warnings_empty_config_says_how_to_start(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("", encoding="utf-8")
    (warning,) = config_warnings(load_config(path, environ={}), NOW)
    assert "no sources, rules or channels" in warning and "newswatch init" in warning


def test_config_warnings_source_no_rule_reads(tmp_path):
    found = warnings_for(
        tmp_path,
        sources={
            "kt": {"type": "rss", "url": "https://kt.example.org/feed"},
            "pp": {"type": "rss", "url": "https://pp.example.org/feed"},
        },
        rules={"r": {"query": "raid*", "channels": ["box"], "sources": ["kt"]}},
        channels=BOX,
    )
    assert found == [
        "sources.pp: no rule reads this source (every rule's 'sources' leaves it out), "
        "so its articles never alert"
    ]


def test_config_warnings_rule_without_a_channel_that_can_deliver(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    found = warnings_for(
        tmp_path,
        sources={"kt": {"type": "rss", "url": "https://kt.example.org/feed"}},
        rules={
            "r": {"query": "raid*", "channels": ["muted", "nowhere"]},
            "fine": {"query": "raid*", "channels": ["muted", "box"]},
        },
        channels={
            **BOX,
            "muted": {"type": "mbox", "path": "m.mbox", "mute_until": "2099-01-01"},
            "nowhere": {"type": "mbox", "path": str(blocker / "alerts.mbox")},
        },
    )
    (warning,) = found
    assert warning.startswith("rules.r: none of its channels can deliver: muted (muted until")
    assert f"nowhere ({blocker} is a file, not a folder)" in warning


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_config_warnings_unwritable_mbox_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    found = warnings_for(
        tmp_path,
        sources={"kt": {"type": "rss", "url": "https://kt.example.org/feed"}},
        rules={"r": {"query": "raid*", "channels": ["box"]}},
        channels={"box": {"type": "mbox", "path": str(folder / "a.mbox")}},
    )
    assert len(found) == 1 and "is not writable" in found[0]


@pytest.mark.slow
def test_check_prints_warnings_and_counts_with_plurals(tmp_path):
    config = write_config(
        tmp_path,
        sources={},
        rules={"r": {"query": "raid*", "channels": ["box"]}},
        channels=BOX,
    )
    result = newswatch("check", config=config)
    assert result.returncode == 0, result.stderr
    assert "OK (0 sources, 1 rule, 1 channel)" in result.stdout
    assert "warning: no source is configured and enabled" in result.stderr
