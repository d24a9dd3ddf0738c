"""Config reload while ``newswatch run`` is running: file edits and SIGHUP."""

from __future__ import annotations

import signal

import pytest

from tests.alertkit import mbox_subjects
from tests.clirunner import start_service, stop_service, write_config
from tests.httpserver import rss, rss_item
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # every test here runs newswatch in a subprocess


def test_reload_new_rule_alerts_and_broken_edit_keeps_running_config(tmp_path, http_server):
    http_server.add("/a", rss([rss_item(1, "Raid in Poipet")]))
    rules = {"poipet": {"query": "Poipet", "channels": ["box"]}}
    args = dict(
        service={"interval": "1s"},
        sources={"a": {"type": "rss", "url": http_server.url("/a")}},
        channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
    )
    config = write_config(tmp_path, rules=rules, **args)
    proc = start_service(config)
    try:
        wait_until(lambda: len(mbox_subjects(tmp_path / "alerts.mbox")) == 1, what="first alert")
        # Add a rule by editing the file: it applies to articles stored from now on.
        rules["bavet"] = {"query": "Bavet", "channels": ["box"]}
        write_config(tmp_path, rules=rules, **args)
        wait_until(
            lambda: b"config reloaded" in _stderr_so_far(proc, tmp_path), what="reload logged"
        )
        http_server.add(
            "/a", rss([rss_item(2, "Casino raid in Bavet"), rss_item(1, "Raid in Poipet")])
        )
        wait_until(
            lambda: any("bavet" in s for s in mbox_subjects(tmp_path / "alerts.mbox")),
            what="new rule alert",
        )

        # A broken edit is rejected with the key named; the running rules keep working.
        config.write_text(config.read_text().replace('query = "Poipet"', 'query = "(Poipet"'))
        wait_until(
            lambda: b"rules.poipet.query" in _stderr_so_far(proc, tmp_path),
            what="rejection logged",
        )
        http_server.add(
            "/a",
            rss(
                [
                    rss_item(3, "Second Poipet raid"),
                    rss_item(2, "Casino raid in Bavet"),
                    rss_item(1, "x"),
                ]
            ),
        )
        wait_until(
            lambda: len(mbox_subjects(tmp_path / "alerts.mbox")) == 3,
            what="old rule still alerting",
        )

        # SIGHUP reloads at once (here: back to the valid file).
        write_config(tmp_path, rules=rules, **args)
        proc.send_signal(signal.SIGHUP)
        wait_until(
            lambda: _stderr_so_far(proc, tmp_path).count(b"config reloaded") >= 2,
            what="second reload",
        )
    finally:
        code, _, err = stop_service(proc)
    assert code == 0, err
    assert "Traceback" not in err


_buffers: dict[int, bytearray] = {}


def _stderr_so_far(proc, tmp_path) -> bytes:
    """Read what the service has logged so far without blocking."""
    import os

    buf = _buffers.setdefault(proc.pid, bytearray())
    fd = proc.stderr.fileno()
    os.set_blocking(fd, False)
    try:
        while chunk := os.read(fd, 65536):
            buf += chunk
    except BlockingIOError:
        pass
    return bytes(buf)
