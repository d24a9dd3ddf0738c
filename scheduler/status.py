"""What the service is doing, read from its database without disturbing it.

``newswatch status`` and the metrics endpoint read the database through :func:`open_readonly`:
a ``mode=ro`` connection never creates the database, never writes it and never checkpoints
its write-ahead log, so it is safe while the service runs. (SQLite may create the empty
``-wal`` / ``-shm`` side files of a database that no process has open; it gives them the
database file's owner when run as root.)

Everything here takes ``now`` as an argument so the output is reproducible.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alerts.delivery.schedule import parse_cron
from alerts.outbox.matches import rule_match_counts
from alerts.outbox.store import FAILED, PENDING, RETRYING, SENT, outbox_counts
from crawler.db import (
    Database,
    DatabaseError,
    DatabaseTarget,
    PostgresUrl,
    database_bytes,
    describe,
    is_postgres,
    open_readonly,
    schema_version,
    table_names,
)
from crawler.errors import StoreError
from crawler.store import SourceState, new_articles_per_source, source_states
from scheduler.config import Config

DAY = timedelta(days=1)
# A worker that has not been heard from for this long is shown as silent.
WORKER_SILENT_AFTER = timedelta(seconds=30)
# Workers last seen longer ago than this are left out.
WORKERS_SHOWN_FOR = timedelta(days=1)
WEEK = timedelta(days=7)
OUTBOX_STATES = (PENDING, RETRYING, FAILED, SENT)
ERROR_WIDTH = 40


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One configured source as the database last saw it.

    ``title`` is its display name: the configured ``title``, else the feed's own (None when
    neither is known yet).
    """

    name: str
    title: str | None
    type: str
    enabled: bool
    interval: timedelta
    cron: str | None
    last_poll: datetime | None
    last_status: int | None
    last_error: str | None
    new_24h: int
    failures: int
    next_poll: datetime | None
    backing_off: bool

    @property
    def result(self) -> str:
        """The outcome of the last poll in a few words."""
        if not self.enabled:
            return "disabled"
        if self.last_poll is None:
            return "never polled"
        if self.last_error:
            return f"error: {self.last_error}"
        if self.last_status == 304:
            return "304 not modified"
        return f"{self.last_status} OK" if self.last_status else "OK"


@dataclass(frozen=True, slots=True)
class RuleStatus:
    """How often one configured rule matched recently."""

    name: str
    enabled: bool
    matches_24h: int
    matches_7d: int


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One ``newswatch run`` worker of a PostgreSQL database."""

    id: str
    last_seen: datetime
    started: datetime
    polls: int
    stopped: datetime | None
    holding: tuple[str, ...]

    def state(self, now: datetime) -> str:
        """``running``, ``stopped``, or ``silent`` (no heartbeat: killed, or cut off)."""
        if self.stopped is not None:
            return "stopped"
        return "running" if now - self.last_seen <= WORKER_SILENT_AFTER else "silent"


@dataclass(frozen=True, slots=True)
class Status:
    """A snapshot of the whole service, as ``newswatch status`` shows it."""

    now: datetime
    timezone: str
    database: DatabaseTarget
    database_bytes: int
    wal_bytes: int
    schema_version: int
    sources: tuple[SourceStatus, ...]
    rules: tuple[RuleStatus, ...]
    outbox: dict[str, int]
    workers: tuple[WorkerStatus, ...] = ()


def gather_status(config: Config, now: datetime) -> Status:
    """Read the state of every configured source, rule and the outbox at ``now``."""
    path = config.service.database
    db = open_readonly(path)
    try:
        return status_of(db, config, now)
    except DatabaseError as exc:
        raise StoreError(f"cannot read database {describe(path)}: {exc}") from exc
    finally:
        db.close()


def status_of(db: Database, config: Config, now: datetime) -> Status:
    """:func:`gather_status` over an open (read-only) connection."""
    path = config.service.database
    tables = table_names(db)
    outbox = outbox_counts(db) if "outbox" in tables else dict.fromkeys(OUTBOX_STATES, 0)
    return Status(
        now=now,
        timezone=config.service.timezone,
        database=path,
        database_bytes=database_bytes(db) if isinstance(path, PostgresUrl) else _size(path),
        wal_bytes=0 if isinstance(path, PostgresUrl) else _size(path.with_name(path.name + "-wal")),
        schema_version=schema_version(db),
        sources=tuple(_sources(db, config, tables, now)),
        rules=tuple(_rules(db, config, tables, now)),
        outbox={state: outbox.get(state, 0) for state in OUTBOX_STATES},
        workers=tuple(_workers(db, tables, now)),
    )


def _workers(db: Database, tables: set[str], now: datetime) -> list[WorkerStatus]:
    """The workers of a PostgreSQL database seen in the last day (none on SQLite)."""
    if not is_postgres(db) or "workers" not in tables:
        return []
    from crawler.pg.cluster import workers

    return [
        WorkerStatus(w.id, w.last_seen, w.started, w.polls, w.stopped, w.holding)
        for w in workers(db)  # type: ignore[arg-type]
        if now - w.last_seen <= WORKERS_SHOWN_FOR
    ]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _sources(
    db: Database, config: Config, tables: set[str], now: datetime
) -> Iterable[SourceStatus]:
    states = source_states(db) if "sources" in tables else {}
    new = new_articles_per_source(db, now - DAY) if "articles" in tables else {}
    for name in config.sources:
        state = states.get(name) or SourceState(name=name)
        yield _source_status(name, config, state, new.get(name, 0), now)


def _source_status(
    name: str, config: Config, state: SourceState, new_24h: int, now: datetime
) -> SourceStatus:
    settings = config.sources[name]
    interval = config.interval_for(name)
    cron = getattr(settings, "cron", None)
    last_poll = state.last_poll
    failures = state.failures
    next_due = state.next_due
    # A failed poll whose next try is its ordinary interval away is not backing off: only a
    # wait longer than usual (after repeated failures, or a Retry-After) is.
    usual = last_poll + interval + timedelta(seconds=1) if last_poll is not None else None
    backing_off = bool(failures and next_due and (usual is None or next_due > usual))
    next_poll = None
    if settings.enabled and (backing_off or (failures and next_due and not cron)):
        next_poll = next_due
    elif settings.enabled and cron:
        # The service polls a cron source at its slots only, the first one included.
        after = last_poll + timedelta(seconds=1) if last_poll else now
        next_poll = next_cron_time(cron, config.service.timezone, after)
    elif settings.enabled and last_poll is not None:
        next_poll = last_poll + interval
    return SourceStatus(
        name=name,
        title=settings.title or state.feed_title,
        type=settings.type,
        enabled=settings.enabled,
        interval=interval,
        cron=cron,
        last_poll=last_poll,
        last_status=state.last_status,
        last_error=state.last_error,
        new_24h=new_24h,
        failures=failures,
        next_poll=next_poll,
        backing_off=backing_off,
    )


def next_cron_time(cron: str, timezone: str, after: datetime) -> datetime | None:
    """The first time at or after ``after`` that the crontab line ``cron`` fires."""
    trigger = parse_cron(cron, ZoneInfo(timezone))
    fire = trigger.get_next_fire_time(None, after.astimezone(ZoneInfo(timezone)))
    return fire.astimezone(UTC) if fire else None


def _rules(db: Database, config: Config, tables: set[str], now: datetime) -> Iterable[RuleStatus]:
    counts: dict[str, tuple[int, int]] = {}
    if "matches" in tables:
        counts = rule_match_counts(db, day_since=now - DAY, week_since=now - WEEK)
    for name, settings in config.rules.items():
        day, week = counts.get(name, (0, 0))
        yield RuleStatus(name, settings.enabled, day, week)


# --- rendering ---------------------------------------------------------------------------


def status_dict(status: Status) -> dict[str, Any]:
    """The snapshot as plain JSON-ready data; times are ISO 8601 in the configured zone.

    ``workers`` is there for a PostgreSQL database, whose workers share the work.
    """
    zone = ZoneInfo(status.timezone)

    def when(value: datetime | None) -> str | None:
        return value.astimezone(zone).isoformat(timespec="seconds") if value else None

    data: dict[str, Any] = {
        "now": when(status.now),
        "timezone": status.timezone,
        "database": {
            "path": describe(status.database),
            "bytes": status.database_bytes,
            "wal_bytes": status.wal_bytes,
            "schema_version": status.schema_version,
        },
        "sources": [
            {
                "name": s.name,
                "title": s.title,
                "type": s.type,
                "enabled": s.enabled,
                "interval_seconds": None if s.cron else s.interval.total_seconds(),
                "cron": s.cron,
                "last_poll": when(s.last_poll),
                "last_status": s.last_status,
                "last_error": s.last_error,
                "new_24h": s.new_24h,
                "consecutive_failures": s.failures,
                "backing_off": s.backing_off,
                "next_poll": when(s.next_poll),
            }
            for s in status.sources
        ],
        "rules": [
            {
                "name": r.name,
                "enabled": r.enabled,
                "matches_24h": r.matches_24h,
                "matches_7d": r.matches_7d,
            }
            for r in status.rules
        ],
        "outbox": dict(status.outbox),
    }
    if status.workers:
        data["workers"] = [
            {
                "id": w.id,
                "state": w.state(status.now),
                "started": when(w.started),
                "last_seen": when(w.last_seen),
                "polls": w.polls,
                "holding": list(w.holding),
            }
            for w in status.workers
        ]
    return data


def render_json(status: Status) -> str:
    """The snapshot as indented JSON, for scripts."""
    return json.dumps(status_dict(status), indent=2, ensure_ascii=False)


def render_table(status: Status) -> str:
    """The snapshot as aligned text tables for a terminal."""
    zone = ZoneInfo(status.timezone)
    size = human_size(status.database_bytes)
    if status.wal_bytes:
        size += f" (+ {human_size(status.wal_bytes)} write-ahead log)"
    lines = [
        f"newswatch status at {_clock(status.now, zone)} ({status.timezone})",
        f"database: {describe(status.database)}, {size}, schema version {status.schema_version}",
        "",
    ]
    lines += _table(
        ["SOURCE", "LAST POLL", "RESULT", "NEW 24H", "FAILURES", "NEXT POLL"],
        [_source_cells(s, status.now, zone) for s in status.sources],
        right={3, 4},
        empty="no sources configured",
    )
    lines.append("")
    lines += _table(
        ["RULE", "MATCHES 24H", "MATCHES 7D"],
        [
            [r.name + ("" if r.enabled else " (disabled)"), str(r.matches_24h), str(r.matches_7d)]
            for r in status.rules
        ],
        right={1, 2},
        empty="no rules configured",
    )
    lines.append("")
    counts = ", ".join(f"{state} {status.outbox[state]}" for state in OUTBOX_STATES)
    lines.append(f"OUTBOX: {counts}")
    if status.workers:
        lines.append("")
        lines += _table(
            ["WORKER", "STATE", "LAST SEEN", "POLLS", "HOLDING"],
            [_worker_cells(w, status.now, zone) for w in status.workers],
            right={3},
            empty="",
        )
    return "\n".join(lines)


def _worker_cells(worker: WorkerStatus, now: datetime, zone: ZoneInfo) -> list[str]:
    seen = f"{_clock(worker.last_seen, zone)} ({_ago(now - worker.last_seen)})"
    held = ", ".join(worker.holding[:3]) + (" ..." if len(worker.holding) > 3 else "")
    return [worker.id, worker.state(now), seen, str(worker.polls), held or "-"]


def _source_cells(source: SourceStatus, now: datetime, zone: ZoneInfo) -> list[str]:
    last = "-"
    if source.last_poll is not None:
        last = f"{_clock(source.last_poll, zone)} ({_ago(now - source.last_poll)})"
    if not source.enabled:
        next_poll = "-"
    elif source.next_poll is None:
        next_poll = "when the service starts"
    else:
        next_poll = f"{_clock(source.next_poll, zone)} ({_until(source.next_poll - now)})"
        if source.backing_off:
            next_poll += " backing off"
    shown = source.name
    if source.title and source.title != source.name:
        shown += f" ({printable(source.title)})"
    return [
        shown,
        last,
        _shorten(printable(source.result), ERROR_WIDTH),
        str(source.new_24h),
        str(source.failures),
        next_poll,
    ]


def _table(headers: list[str], rows: list[list[str]], *, right: set[int], empty: str) -> list[str]:
    if not rows:
        return [headers[0], f"  ({empty})"]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(padded).rstrip()

    return [line(headers), *(line(row) for row in rows)]


def _clock(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _ago(delta: timedelta) -> str:
    return "just now" if delta < timedelta(seconds=1) else f"{approximate(delta)} ago"


def _until(delta: timedelta) -> str:
    if delta < -timedelta(seconds=1):
        return f"overdue by {approximate(-delta)}"
    return "now" if delta < timedelta(seconds=1) else f"in {approximate(delta)}"


def approximate(delta: timedelta) -> str:
    """A duration rounded to its largest one or two units, e.g. "3h12m", "45s", "2d4h"."""
    seconds = int(abs(delta).total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs and minutes < 10 else f"{minutes}m"
    return f"{secs}s"


def human_size(size: int) -> str:
    """A byte count for people: "812 B", "4.0 KiB", "12.3 MiB"."""
    if size < 1024:
        return f"{size} B"
    value, unit = size / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def printable(text: str) -> str:
    """Text from a feed or server made safe for a terminal: control characters become spaces."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
