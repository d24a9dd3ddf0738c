"""Alerting inside ``newswatch run``: source-health alerts, mutes set while it runs, digest jobs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from alerts.delivery.schedule import next_fire
from crawler.db import utcnow
from scheduler.config import load_config
from scheduler.service import Service
from scheduler.wiring import build_policy, build_runtime
from tests.alertkit import read_mbox
from tests.clirunner import (
    db_rows,
    newswatch,
    start_service,
    stop_service,
    write_config,
)
from tests.httpserver import FeedServer, rss, rss_item
from tests.waiting import wait_until


@pytest.mark.slow
def test_run_alerts_once_per_source_state_change_and_obeys_a_mute_set_meanwhile(
    tmp_path: Path, http_server: FeedServer
):
    http_server.add("/a", rss([rss_item(1, "Police raid in Bavet")]))
    http_server.add("/broken", "down", status=500)
    config = write_config(
        tmp_path,
        service={"interval": "1s", "ops_channels": ["ops"], "failure_alert_after": 2},
        sources={
            "a": {"type": "rss", "url": http_server.url("/a")},
            "broken": {"type": "rss", "url": http_server.url("/broken")},
        },
        rules={"scam": {"query": "raid", "channels": ["box"]}},
        channels={
            "box": {"type": "mbox", "path": "box.mbox"},
            "ops": {"type": "mbox", "path": "ops.mbox"},
        },
    )
    db = tmp_path / "newswatch.db"
    proc = start_service(config)
    try:
        wait_until(lambda: len(read_mbox(tmp_path / "box.mbox")) == 1, what="first alert")
        wait_until(lambda: len(read_mbox(tmp_path / "ops.mbox")) == 1, what="ops alert")
        failures = lambda: db_rows(db, "SELECT failures FROM sources WHERE name = 'broken'")  # noqa: E731
        # The failing source keeps failing (with backoff) without another alert.
        wait_until(lambda: failures()[0]["failures"] >= 4, timeout=60, what="more failures")
        assert len(read_mbox(tmp_path / "ops.mbox")) == 1

        muted = newswatch("mute", "scam", "--for", "1h", config=config)
        assert muted.returncode == 0, muted.stderr
        http_server.add(
            "/a", rss([rss_item(2, "Second raid in Poipet"), rss_item(1, "Police raid in Bavet")])
        )
        wait_until(
            lambda: any(r["state"] == "muted" for r in db_rows(db, "SELECT state FROM outbox")),
            what="muted match",
        )
        assert len(read_mbox(tmp_path / "box.mbox")) == 1

        http_server.add("/broken", rss([rss_item(3, "Weather")]))
        wait_until(lambda: len(read_mbox(tmp_path / "ops.mbox")) == 2, timeout=60, what="recovery")
    finally:
        code, _, err = stop_service(proc)
    assert code == 0, err
    subjects = [m["Subject"] for m in read_mbox(tmp_path / "ops.mbox")]
    assert subjects == [
        "[newswatch] Source broken is not working",
        "[newswatch] Source broken is working again",
    ]


def test_service_schedules_one_digest_job_per_digest_rule(tmp_path: Path, http_server):
    config_path = write_config(
        tmp_path,
        service={"timezone": "Asia/Phnom_Penh"},
        sources={"a": {"type": "rss", "url": http_server.url("/a")}},
        rules={
            "morning": {
                "query": "raid",
                "channels": ["box"],
                "mode": "digest",
                "digest": "0 8 * * 1-5",
            },
            "instant": {"query": "rescued", "channels": ["box"]},
        },
        channels={"box": {"type": "mbox", "path": "box.mbox"}},
    )
    config = load_config(config_path, environ={})

    async def scheduled() -> list[tuple[str, object]]:
        service = Service(build_runtime(config))
        service.scheduler.start()
        try:
            service.schedule_digests()
            service.schedule_digests()  # a reload replaces, never duplicates
            return [(job.id, job.next_run_time) for job in service.scheduler.get_jobs()]
        finally:
            service.scheduler.shutdown(wait=False)
            await service.runtime.aclose()

    jobs = asyncio.run(scheduled())
    assert [job_id for job_id, _ in jobs] == ["digest:morning"]
    trigger = build_policy(config).rules["morning"].digest
    assert trigger is not None
    assert abs(jobs[0][1] - next_fire(trigger, utcnow())) < timedelta(seconds=1)
