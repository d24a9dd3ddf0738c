"""Source schedules: intervals with jitter, cron in the configured timezone, host spacing."""

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
    async def run() -> dict[str, datetime]:
        service.scheduler.start(paused=True)
        service.schedule_sources()
        jobs = {
            job.id.removeprefix("poll:"): job.next_run_time for job in service.scheduler.get_jobs()
        }
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
    trigger = service._trigger("kt", "*/10 7-22 * * *")
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
    trigger = service._trigger("s0", None)
    fires = [trigger.get_next_fire_time(NOW, NOW + timedelta(minutes=10)) for _ in range(50)]
    spread = {abs((f - (NOW + timedelta(minutes=10))).total_seconds()) for f in fires}
    assert max(spread) <= 600 * JITTER
    assert len(spread) > 1  # jitter actually varies
