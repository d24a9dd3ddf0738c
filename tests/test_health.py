"""Health endpoint, Prometheus metrics and the event-loop lag monitor, over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts.outbox import store as outbox
from crawler.db import open_database, write_transaction
from crawler.errors import NewswatchError
from crawler.models import Article
from crawler.store import store_articles
from scheduler.config import load_config
from scheduler.health import (
    HealthState,
    loop_health,
    parse_address,
    poll_health,
    service_probe,
)
from scheduler.looplag import LoopLagMonitor, percentile
from scheduler.metrics import Metrics
from scheduler.polling import PollSummary
from scheduler.service import Service
from scheduler.wiring import build_runtime
from tests.clirunner import write_config
from tests.webkit import health_server

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture
def server(loop_thread):
    state = {"value": HealthState(True, "ok: last poll 3s ago")}
    metrics = Metrics(sources=["kt"], rules=["scam"])
    with health_server(loop_thread, lambda: state["value"], metrics) as running:
        yield running, state, metrics


def test_health_200_when_the_probe_says_alive(server):
    running, _, _ = server
    assert running.port != 0
    assert get(running.url("/healthz")) == (200, "ok: last poll 3s ago\n")


def test_health_503_with_the_reason_when_polls_stopped(server):
    running, state, _ = server
    state["value"] = poll_health(
        now=NOW,
        started_at=NOW - timedelta(hours=2),
        last_poll_at=NOW - timedelta(minutes=20),
        shortest_interval=timedelta(minutes=1),
    )
    status, body = get(running.url("/healthz"))
    assert status == 503
    assert body == "no poll has finished for 1200s (allowed: 300s)\n"


def test_health_broken_probe_is_a_503_not_a_crash(loop_thread):
    def probe() -> HealthState:
        raise RuntimeError("database gone")

    with health_server(loop_thread, probe) as running:
        status, body = get(running.url("/healthz"))
        assert status == 503 and "database gone" in body
        assert get(running.url("/metrics"))[0] == 404


def test_health_unknown_path_is_404(server):
    running, _, _ = server
    status, body = get(running.url("/nothing"))
    assert status == 404 and "/healthz" in body


def test_health_metrics_carry_the_recorded_values(server):
    running, _, metrics = server
    metrics.record_poll(PollSummary("kt", fetched=5, new=2), 0.4, when=NOW)
    metrics.record_poll(PollSummary("kt", not_modified=True), 0.02, when=NOW)
    metrics.record_poll(PollSummary("down", error="HTTP 503"), 3.0, when=NOW)
    metrics.record_match("scam")
    metrics.record_match("scam", 2)
    status, text = get(running.url("/metrics"))
    assert status == 200
    found = samples(text)
    assert found[("newswatch_polls_total", (("result", "ok"), ("source", "kt")))] == 1
    assert found[("newswatch_polls_total", (("result", "not_modified"), ("source", "kt")))] == 1
    assert found[("newswatch_polls_total", (("result", "error"), ("source", "down")))] == 1
    assert found[("newswatch_poll_errors_total", (("source", "down"),))] == 1
    assert found[("newswatch_poll_errors_total", (("source", "kt"),))] == 0  # declared at zero
    assert found[("newswatch_articles_total", (("source", "kt"),))] == 2
    assert found[("newswatch_matches_total", (("rule", "scam"),))] == 3
    assert found[("newswatch_poll_duration_seconds_count", ())] == 3
    assert found[("newswatch_poll_duration_seconds_sum", ())] == pytest.approx(3.42)
    assert found[("newswatch_poll_duration_seconds_bucket", (("le", "0.5"),))] == 2
    assert found[("newswatch_last_poll_timestamp_seconds", ())] == NOW.timestamp()


def test_health_metrics_registries_are_separate():
    first, second = Metrics(), Metrics()
    first.record_match("scam")
    assert samples(first.render().decode())[("newswatch_matches_total", (("rule", "scam"),))] == 1
    assert ("newswatch_matches_total", (("rule", "scam"),)) not in samples(second.render().decode())


def test_health_deliveries_gauge_is_read_from_the_outbox(tmp_path, loop_thread):
    db_path = tmp_path / "n.db"
    metrics = Metrics(db_path)
    # No database yet: the scrape still works, without the gauge.
    assert "newswatch_deliveries{" not in metrics.render().decode()
    db = open_database(db_path)
    ids = store_articles(
        db, [Article(f"https://a.org/{n}", "kt", "t", "s", None, NOW, f"g{n}") for n in (1, 2)]
    )
    with write_transaction(db):
        for article_id in ids:
            outbox.record_match(db, rule="r", article_id=article_id, hits=[], channels=["box"])
    outbox.mark_sent(db, outbox.due_deliveries(db)[0].id)
    db.close()
    with health_server(loop_thread, lambda: HealthState(True, "ok"), metrics) as running:
        _, text = get(running.url("/metrics"))
    found = samples(text)
    assert found[("newswatch_deliveries", (("state", "pending"),))] == 1
    assert found[("newswatch_deliveries", (("state", "sent"),))] == 1
    assert found[("newswatch_deliveries", (("state", "failed"),))] == 0


def test_health_server_stops_cleanly_and_frees_the_port(loop_thread):
    with health_server(loop_thread, lambda: HealthState(True, "ok")) as running:
        port = running.port
        assert get(running.url("/healthz"))[0] == 200
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    # The same port can be served again at once.
    with health_server(loop_thread, lambda: HealthState(True, "again"), port=port) as again:
        assert get(again.url("/healthz")) == (200, "again\n")


def test_health_port_in_use_is_a_clear_error(loop_thread):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(NewswatchError, match=r"cannot listen on 127\.0\.0\.1"),
            health_server(loop_thread, lambda: HealthState(True, ""), port=port),
        ):
            pass


@pytest.mark.parametrize(
    ("last_poll_ago", "started_ago", "interval", "alive"),
    [
        (timedelta(seconds=30), timedelta(days=1), timedelta(minutes=15), True),
        (timedelta(minutes=44), timedelta(days=1), timedelta(minutes=15), True),
        (timedelta(minutes=46), timedelta(days=1), timedelta(minutes=15), False),
        (timedelta(minutes=4), timedelta(days=1), timedelta(seconds=10), True),  # 5 min floor
        (timedelta(minutes=6), timedelta(days=1), timedelta(seconds=10), False),
        (None, timedelta(minutes=2), timedelta(minutes=1), True),  # just started
        (None, timedelta(minutes=6), timedelta(minutes=1), False),
    ],
)
def test_health_poll_health_window(last_poll_ago, started_ago, interval, alive):
    state = poll_health(
        now=NOW,
        started_at=NOW - started_ago,
        last_poll_at=None if last_poll_ago is None else NOW - last_poll_ago,
        shortest_interval=interval,
    )
    assert state.alive is alive and state.reason


def test_health_poll_health_scheduler_stopped_and_no_sources():
    assert not poll_health(
        now=NOW,
        started_at=NOW,
        last_poll_at=NOW,
        shortest_interval=timedelta(minutes=1),
        scheduler_running=False,
    ).alive
    state = poll_health(now=NOW, started_at=NOW, last_poll_at=None, shortest_interval=None)
    assert state.alive and "no source" in state.reason


def test_health_service_probe_follows_the_real_service(tmp_path):
    config = load_config(
        write_config(
            tmp_path,
            service={"interval": "1m"},
            sources={"kt": {"type": "rss", "url": "http://127.0.0.1:9/feed"}},
            rules={"r": {"query": "raid", "channels": ["box"]}},
            channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
        )
    )
    clock = {"now": NOW}

    async def scenario() -> list[HealthState]:
        service = Service(build_runtime(config))
        probe = service_probe(service, started_at=NOW, clock=lambda: clock["now"])
        states = [probe()]  # scheduler not started yet
        service.scheduler.start(paused=True)
        states.append(probe())  # starting
        clock["now"] = NOW + timedelta(minutes=10)
        states.append(probe())  # ten minutes without a poll
        service.last_poll_at = NOW + timedelta(minutes=9)
        states.append(probe())
        service.scheduler.shutdown(wait=False)
        await service.runtime.aclose()
        return states

    states = asyncio.run(scenario())
    assert [s.alive for s in states] == [False, True, False, True]
    assert "not running" in states[0].reason and "no poll" in states[2].reason


def test_health_loop_stall_is_reported():
    monitor = LoopLagMonitor()
    assert loop_health(monitor) is None  # no sample yet: nothing to judge
    monitor.add_sample(0.001, at=100.0)
    assert loop_health(monitor, now=110.0) is None
    stalled = loop_health(monitor, now=160.0)
    assert stalled is not None and not stalled.alive and "blocked for 60s" in stalled.reason


def test_health_loop_lag_monitor_measures_a_blocking_call():
    async def scenario() -> float:
        monitor = LoopLagMonitor(interval=0.01)
        monitor.start()
        while monitor.snapshot().samples < 3:
            await asyncio.sleep(0.01)
        time.sleep(0.3)  # the stimulus: block the loop as a slow parse would
        while monitor.snapshot().samples < 6:
            await asyncio.sleep(0.01)
        await monitor.stop()
        return monitor.snapshot().max

    assert asyncio.run(scenario()) >= 0.25


def test_health_loop_lag_is_exported_as_a_metric():
    monitor = LoopLagMonitor()
    for lag in (0.001, 0.002, 0.5):
        monitor.add_sample(lag)
    found = samples(Metrics(loop_lag=monitor).render().decode())
    assert found[("newswatch_event_loop_lag_seconds", (("stat", "max"),))] == 0.5
    assert found[("newswatch_event_loop_lag_seconds", (("stat", "p50"),))] == 0.002


def test_health_percentile_nearest_rank():
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert percentile([], 0.99) == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8787", ("127.0.0.1", 8787)),
        (":9100", ("127.0.0.1", 9100)),
        ("[::1]:8787", ("::1", 8787)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
    ],
)
def test_health_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["8787", "localhost", "127.0.0.1:http", "127.0.0.1:70000", ""])
def test_health_parse_address_rejects_bad_values(text):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address(text)
