"""Logging setup for the command line: human text on stderr by default, or JSON lines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

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


def configure_logging(level: str = "info", fmt: str = "text", verbosity: int = 0) -> None:
    """Install the root handler; ``verbosity`` (-v, -vv) overrides ``level``."""
    if verbosity >= 1:
        level = "debug"
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    # Scrapy reports every failed download at ERROR; the poll summary already says it once,
    # with the source's name.
    if verbosity < 2:
        logging.getLogger("scrapy").setLevel(logging.CRITICAL)
