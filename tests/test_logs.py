"""Log lines: times in the service's zone with the zone shown; what a command prints is not
logged twice; the service says at start where alerts go."""

from __future__ import annotations

import logging
from pathlib import Path

from scheduler.config import load_config
from scheduler.logs import SkipMessages, ZonedFormatter, configure_logging
from scheduler.summary import destinations
from tests.clirunner import write_config


def record(message: str, created: float) -> logging.LogRecord:
    entry = logging.LogRecord("scheduler.polling", logging.INFO, __file__, 1, message, (), None)
    entry.created = created
    return entry


def test_log_lines_show_the_service_zone():
    moment = 1795510800.0  # 2026-11-24 09:00:00 UTC
    line = ZonedFormatter("Asia/Phnom_Penh").format(record("poll kt: fetched 1", moment))
    assert line.startswith("2026-11-24 16:00:00 +07 INFO    scheduler.polling: poll kt")
    assert ZonedFormatter().format(record("x", moment)).startswith("2026-11-24 09:00:00 UTC ")


def test_log_filter_skips_lines_a_command_prints_itself():
    keep = SkipMessages(lambda message: message.startswith("poll kt: "))
    assert not keep.filter(record("poll kt: fetched 1", 0))
    assert keep.filter(record("poll other: fetched 1", 0))


def test_a_json_log_keeps_the_lines_a_command_prints(capsys):
    """Programs read the JSON log for every source's summary and its time; a person reading
    the terminal sees each line once."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        for fmt in ("text", "json"):
            configure_logging(fmt=fmt, skip=lambda message: message.startswith("poll kt: "))
            logging.getLogger("scheduler.polling").info("poll kt: fetched 1")
            logging.getLogger("scheduler.polling").info("poll other: fetched 2")
            err = capsys.readouterr().err
            assert "poll other: fetched 2" in err
            assert ("poll kt: fetched 1" in err) == (fmt == "json"), fmt
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_destinations_say_where_alerts_go_without_secrets(tmp_path: Path):
    config = load_config(
        write_config(
            tmp_path,
            service={"ops_channels": ["hook"]},
            sources={},
            rules={
                "r": {"query": "raid*", "channels": ["box", "mail"]},
                "off": {"query": "x", "channels": ["unused"], "enabled": False},
            },
            channels={
                "box": {"type": "mbox", "path": "alerts.mbox"},
                "mail": {
                    "type": "email",
                    "host": "smtp.example.org",
                    "from": "n@example.org",
                    "to": ["analyst@example.org"],
                },
                "hook": {"type": "webhook", "url": "https://hooks.example.org/T0/secret-token"},
                "unused": {"type": "mbox", "path": "unused.mbox"},
            },
        ),
        environ={},
    )
    assert destinations(config) == [
        f"alerts go to {tmp_path / 'alerts.mbox'} (channel box)",
        "alerts go to analyst@example.org via smtp.example.org:587 (channel mail)",
        "operations alerts go to https://hooks.example.org/… (json) (channel hook)",
    ]
