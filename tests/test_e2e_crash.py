"""``kill -9`` at awkward moments loses nothing and sends nothing twice (except by key)."""

from __future__ import annotations

import signal

import pytest

from tests.clirunner import db_rows, start_service, stop_service, write_config
from tests.httpserver import rss
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # every test here runs newswatch in a subprocess


def test_kill_9_during_delivery_then_restart_delivers_each_alert_once_by_key(
    tmp_path, http_server, webhook_receiver
):
    items = [
        {"title": f"Raid number {n} in Poipet", "link": f"https://n.example/{n}", "guid": str(n)}
        for n in range(5)
    ]
    http_server.add("/a", rss(items))
    config = write_config(
        tmp_path,
        service={"interval": "1h"},
        sources={"a": {"type": "rss", "url": http_server.url("/a")}},
        rules={"poipet": {"query": "raid AND Poipet", "channels": ["hook"]}},
        channels={"hook": {"type": "webhook", "url": webhook_receiver.url, "timeout": "30s"}},
    )
    webhook_receiver.hang()  # the first delivery is received but never answered
    proc = start_service(config)
    try:
        webhook_receiver.wait_for(1, timeout=30)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    db = tmp_path / "newswatch.db"
    assert len(db_rows(db, "SELECT * FROM articles")) == 5
    assert {r["state"] for r in db_rows(db, "SELECT state FROM outbox")} == {"pending"}

    proc = start_service(config)
    try:
        wait_until(
            lambda: {r["state"] for r in db_rows(db, "SELECT state FROM outbox")} == {"sent"},
            what="all deliveries sent after the restart",
        )
    finally:
        code, _, err = stop_service(proc)
    assert code == 0, err
    keys = [r.headers["idempotency-key"] for r in webhook_receiver.requests]
    # Five alerts; the one in flight at the crash was sent again with the same key.
    assert len(set(keys)) == 5
    assert len(keys) == 6
    assert len(db_rows(db, "SELECT * FROM outbox")) == 5
