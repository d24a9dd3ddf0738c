"""Source schedules: intervals counted from the last poll, with jitter that only adds; cron
in the configured timezone; host spacing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import time_machine

from scheduler.config import load_config
from scheduler.service import HOST_SPACING_SECONDS, JITTER, Service
from scheduler.wiring import build_runtime
from tests.clirunner import write_config

NOW = datetime(2026, 11, 24, 23, 55, tzinfo=UTC)  # 06:55 in Phnom Penh (UTC+7)


def make_service(tmp_path, sources):
    config = write_config(
        tmp_path,
        service={"interval": "10m", "timezone": "Asia/Phnom_Penh"},
        sources=sources,
        rules={"r": {"query": "raid", "channels": ["box"]}},
        channels={"box": {"type": "mbox", "path": "a.mbox"}},
    )
    return Service(build_runtime(load_config(config)))


def scheduled(service: Service) -> dict[str, datetime]:
    """Next run of each source's job; also keeps the jobs' settings on ``job_settings``."""

    async def run() -> dict[str, datetime]:
        service.scheduler.start(paused=True)
        service.schedule_sources()
        polls = [job for job in service.scheduler.get_jobs() if job.id.startswith("poll:")]
        service.job_settings = [(j.coalesce, j.misfire_grace_time, j.max_instances) for j in polls]
        service.job_triggers = {job.id.removeprefix("poll:"): job.trigger for job in polls}
        jobs = {job.id.removeprefix("poll:"): job.next_run_time for job in polls}
        service.scheduler.shutdown(wait=False)
        return jobs

    return asyncio.run(run())


@time_machine.travel(NOW, tick=False)
def test_schedule_cron_uses_the_service_timezone(tmp_path):
    service = make_service(
        tmp_path, {"kt": {"type": "rss", "url": "http://127.0.0.1:9/f", "cron": "*/10 7-22 * * *"}}
    )
    jobs = scheduled(service)
    # The first slot at or after 07:00 local time, i.e. 00:00 UTC.
    assert jobs["kt"].astimezone(UTC) == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    trigger = service.job_triggers["kt"]
    late = datetime(2026, 11, 25, 15, 55, tzinfo=UTC)  # 22:55 local: next is 07:00 tomorrow
    assert trigger.get_next_fire_time(None, late) == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


@time_machine.travel(NOW, tick=False)
def test_schedule_sources_on_one_host_are_spaced_and_intervals_jittered(tmp_path):
    sources = {f"s{i}": {"type": "rss", "url": f"http://127.0.0.1:9/f{i}"} for i in range(5)}
    sources["other"] = {"type": "rss", "url": "http://localhost:9/f"}
    service = make_service(tmp_path, sources)
    jobs = scheduled(service)
    same_host = sorted(jobs[f"s{i}"] for i in range(5))
    gaps = {(b - a).total_seconds() for a, b in zip(same_host, same_host[1:], strict=False)}
    assert gaps == {HOST_SPACING_SECONDS}
    assert jobs["other"] == same_host[0]  # another host is not held back

    # When a poll ends, the next one is armed an interval later; jitter only ever adds.
    async def rearmed() -> list[datetime]:
        service.scheduler.start(paused=True)
        fires = []
        for _ in range(50):
            service._rearm("s0")
            fires.append(service.scheduler.get_job("poll:s0").next_run_time)
        service.scheduler.shutdown(wait=False)
        return fires

    spread = {(f - NOW).total_seconds() - 600 for f in asyncio.run(rearmed())}
    assert min(spread) >= 0 and max(spread) <= 600 * JITTER
    assert len(spread) > 1  # jitter actually varies


@time_machine.travel(NOW, tick=False)
def test_schedule_after_a_long_stop_polls_once_not_a_burst(tmp_path):
    from crawler.store import record_poll

    service = make_service(tmp_path, {"kt": {"type": "rss", "url": "http://127.0.0.1:9/f"}})
    # Last polled three hours ago at a 10 minute interval: 18 polls were missed.
    record_poll(service.runtime.db, "kt", status=200, error=None, when=NOW - timedelta(hours=3))
    jobs = scheduled(service)
    assert jobs == {"kt": NOW}
    (tmp_path / "b").mkdir()
    recent = make_service(tmp_path / "b", {"kt": {"type": "rss", "url": "http://127.0.0.1:9/f"}})
    record_poll(recent.runtime.db, "kt", status=200, error=None, when=NOW - timedelta(minutes=4))
    assert scheduled(recent) == {"kt": NOW + timedelta(minutes=6)}
    # Missed runs are coalesced into one; never two polls of a source at once.
    assert recent.job_settings == [(True, None, 1)]
