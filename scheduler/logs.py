"""Logging setup for the command line: human text on stderr by default, or JSON lines.

Text lines show the time in the configured ``[service] timezone`` with the zone's name, as
every time a person reads does; JSON lines carry UTC with its offset, for machines.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# Libraries that are chatty at INFO; their warnings still show.
QUIET_LOGGERS = (
    "scrapy",
    "twisted",
    "apscheduler",
    "trafilatura",
    "htmldate",
    "courlan",
    "uvicorn",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for journald / Loki."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class ZonedFormatter(logging.Formatter):
    """``2026-11-24 16:00:00 +07 INFO ...``: the time in the service's zone, zone shown."""

    def __init__(self, timezone: str = "UTC") -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self.zone = ZoneInfo(timezone)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        moment = datetime.fromtimestamp(record.created, self.zone)
        return f"{moment:%Y-%m-%d %H:%M:%S} {moment.tzname()}"


class SkipMessages(logging.Filter):
    """Drop records whose message ``skip`` accepts."""

    def __init__(self, skip: Callable[[str], bool]) -> None:
        super().__init__()
        self.skip = skip

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.skip(record.getMessage())


def configure_logging(
    level: str = "info",
    fmt: str = "text",
    verbosity: int = 0,
    *,
    timezone: str = "UTC",
    skip: Callable[[str], bool] | None = None,
) -> None:
    """Install the root handler; ``verbosity`` (-v, -vv) overrides ``level``.

    ``skip`` drops messages the command shows another way (``once`` prints poll lines) from
    a text log; a JSON log is read by programs and keeps every record, with its time.
    """
    if verbosity >= 1:
        level = "debug"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ZonedFormatter(timezone))
    if skip is not None and fmt != "json":
        handler.addFilter(SkipMessages(skip))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    # Scrapy reports every failed download at ERROR; the poll summary already says it once,
    # with the source's name.
    if verbosity < 2:
        logging.getLogger("scrapy").setLevel(logging.CRITICAL)
