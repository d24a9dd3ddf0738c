"""Fault injection, bounded for CI: benchmarks/faults.py with few kills and short outages.

``python benchmarks/faults.py`` runs the full version (25 kills, longer outages). Each
scenario drives ``newswatch run`` in a subprocess against a local feed farm, the SMTP server
and the webhook receiver of tests/peers.py, while items keep being added.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from benchmarks import faults

pytestmark = pytest.mark.slow

SETTLE = 60.0


def assert_nothing_lost(verdict: faults.Verdict) -> None:
    """Integrity, every served item stored once, every match delivered, no new-key copy."""
    verdict.print()  # shown by pytest on failure: the figures, notes and problems
    assert verdict.integrity == "ok"
    assert verdict.served > 0
    assert verdict.missing == []
    assert verdict.stored_twice == []
    assert verdict.matching > 0
    assert verdict.undelivered == {"mail": [], "hook": []}
    assert verdict.duplicates_new_key == {"mail": 0, "hook": 0}


def test_faults_kill_9_at_any_moment_loses_nothing_and_repeats_only_by_key(
    tmp_path: Path, smtp_server, webhook_receiver
):
    verdict = faults.scenario_kills(
        tmp_path, kills=5, seed=11, settle=SETTLE, peers=(smtp_server, webhook_receiver)
    )
    assert_nothing_lost(verdict)
    # The first kills go through the kinds of moment in order; most should be hit (a moment
    # not reached in time is still a kill, at a less interesting time).
    hit = [m for m in verdict.figures["moments"] if m in faults.KILL_MODES]
    assert len(hit) >= 3, verdict.figures["moments"]
    assert verdict.problems == []


def test_faults_smtp_down_then_back_delivers_every_alert(
    tmp_path: Path, smtp_server, webhook_receiver
):
    verdict = faults.scenario_smtp_down(
        tmp_path, down=5, seed=12, settle=SETTLE, peers=(smtp_server, webhook_receiver)
    )
    assert_nothing_lost(verdict)
    assert verdict.problems == []


def can_mount_tmpfs() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not can_mount_tmpfs(), reason="mounting a small tmpfs needs root")
def test_faults_disk_full_is_logged_survived_and_resumed(
    tmp_path: Path, smtp_server, webhook_receiver
):
    verdict = faults.scenario_disk_full(
        tmp_path, full_for=5, seed=13, settle=SETTLE, peers=(smtp_server, webhook_receiver)
    )
    if "skipped" in verdict.figures:
        pytest.skip(str(verdict.figures["skipped"]))
    assert_nothing_lost(verdict)
    assert verdict.figures["alive"], "the service exited when the disk filled up"
    assert verdict.figures["logged"], "no log record says the disk is full"
    assert verdict.figures["lost"] == 0


@pytest.fixture(scope="module")
def trickle_verdict(tmp_path_factory: pytest.TempPathFactory) -> faults.Verdict:
    """One run of the trickle scenario, judged by the tests below."""
    return faults.scenario_trickle(
        tmp_path_factory.mktemp("trickle"), duration=14, seed=14, settle=SETTLE
    )


def test_faults_trickling_feed_times_out_and_loses_nothing(trickle_verdict):
    assert_nothing_lost(trickle_verdict)
    took = trickle_verdict.figures["timed_out_polls"]
    timeout = trickle_verdict.figures["timeout"]
    assert took, "the trickling feed's poll never ended with an error"
    assert max(took) <= 2 * timeout + 2  # one request and its one retry, each cut at timeout


def test_faults_trickling_feed_does_not_starve_other_sources(trickle_verdict):
    interval = trickle_verdict.figures["interval"]
    assert trickle_verdict.figures["worst_gap"] <= interval * 1.1 + 1.5
