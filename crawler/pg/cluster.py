"""The state the workers of one PostgreSQL database share, and how they take their turns.

Tables (declared in :mod:`crawler.pg.schema`, part ``cluster``; times are the server's
clock, so the workers' own clocks never matter):

* ``workers``: every ``newswatch run`` process that joined, when it was last seen;
* ``source_leases``: per source, when it is next due cluster-wide, and which worker holds
  it until when. A claim (``FOR UPDATE SKIP LOCKED``) sets the next due time at once
  (claim + interval, should the worker die), and the release sets it again from the end of
  the poll: two requests for a feed are at least its interval apart, whichever workers
  make them. A lease that runs out (its worker died) stops blocking the source, and its
  next due poll goes to any worker;
* ``hosts``: per host, whether a poll of it is running (until when, at the latest) and the
  earliest time the next may start: one poll of a site at a time across the workers,
  ``host_spacing`` apart, counted from the end of the one before;
* ``cluster_jobs``: jobs that run once per cluster at an interval (retention).

Work that must not run in two workers at once (a delivery round, the source-health check)
holds a session advisory lock for its duration (:func:`try_lock`); the server drops it
when the worker's connection ends, even on ``kill -9``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from crawler.pg.connection import PgDatabase, lock_key


@dataclass(frozen=True, slots=True)
class Claim:
    """What one claim got: the sources to poll now, and when to ask again for the rest."""

    sources: tuple[str, ...]
    retry_in: float | None  # seconds until a source held back by its host's spacing may go


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """One worker as ``status`` shows it."""

    id: str
    host: str
    pid: int
    started: datetime
    last_seen: datetime
    polls: int
    stopped: datetime | None
    holding: tuple[str, ...]


def join(db: PgDatabase, worker: str, host: str, pid: int) -> None:
    """Record a worker as started (again, after a restart under the same id)."""
    db.execute(
        "INSERT INTO workers (id, host, pid, started, last_seen) VALUES (?, ?, ?, now(), now())"
        " ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
        " started = now(), last_seen = now(), stopped = NULL",
        [worker, host, pid],
    )


def heartbeat(db: PgDatabase, worker: str, lease_seconds: float, polls: int = 0) -> None:
    """The worker is alive: note it, and extend the leases of the polls it is running."""
    with db.transaction():
        db.execute(
            "UPDATE workers SET last_seen = now(), polls = polls + ? WHERE id = ?",
            [polls, worker],
        )
        db.execute(
            "UPDATE source_leases SET lease_until = now() + make_interval(secs => ?)"
            " WHERE holder = ? AND lease_until > now()",
            [lease_seconds, worker],
        )
        db.execute(
            "UPDATE hosts SET busy_until = now() + make_interval(secs => ?) WHERE host IN"
            " (SELECT host FROM source_leases WHERE holder = ? AND lease_until > now())",
            [lease_seconds, worker],
        )


def leave(db: PgDatabase, worker: str) -> None:
    """A worker stops in order: its leases go at once, not when they run out."""
    with db.transaction():
        db.execute(
            "UPDATE hosts SET busy_until = NULL WHERE host IN"
            " (SELECT host FROM source_leases WHERE holder = ?)",
            [worker],
        )
        db.execute(
            "UPDATE source_leases SET holder = NULL, lease_until = NULL, released = now()"
            " WHERE holder = ?",
            [worker],
        )
        db.execute("UPDATE workers SET stopped = now(), last_seen = now() WHERE id = ?", [worker])


def sync_sources(db: PgDatabase, hosts: Mapping[str, str]) -> None:
    """Make sure every configured source (name -> host) has a lease row and its host a row."""
    if not hosts:
        return
    names, host_names = list(hosts), [hosts[n] for n in hosts]
    with db.transaction():
        db.execute(
            "INSERT INTO source_leases (source, host) SELECT * FROM unnest(?::text[], ?::text[])"
            " ON CONFLICT (source) DO UPDATE SET host = excluded.host"
            " WHERE source_leases.host IS DISTINCT FROM excluded.host",
            [names, host_names],
        )
        db.execute(
            "INSERT INTO hosts (host) SELECT DISTINCT unnest(?::text[]) ON CONFLICT DO NOTHING",
            [sorted(set(host_names))],
        )


def claim(
    db: PgDatabase,
    worker: str,
    intervals: Mapping[str, float],
    *,
    lease_seconds: float,
    host_spacing: float,
) -> Claim:
    """Claim those of ``intervals`` (source -> seconds) that are due and free.

    Rows another worker is claiming at this moment are skipped, not waited for. Of the
    sources due on one host, one is claimed per ``host_spacing`` seconds; ``retry_in``
    says when the next may go.
    """
    if not intervals:
        return Claim((), None)
    with db.transaction():
        rows = list(
            db.query(
                "SELECT source, host,"
                " greatest(extract(epoch FROM next_due - now()), 0)::float8 AS wait,"
                " coalesce(lease_until >= now(), false) AS held"
                " FROM source_leases WHERE source = ANY(?::text[])"
                " ORDER BY next_due, source FOR UPDATE SKIP LOCKED",
                [list(intervals)],
            )
        )
        due = [row for row in rows if row["wait"] <= 0 and not row["held"]]
        free: dict[str, float | None] = {}  # host -> seconds to wait; None: busy
        if due:
            free = {
                row["host"]: row["wait"]
                for row in db.query(
                    "SELECT host, CASE WHEN busy_until > now() THEN NULL ELSE"
                    " greatest(extract(epoch FROM next_allowed - now()), 0)::float8 END"
                    " AS wait FROM hosts WHERE host = ANY(?::text[]) ORDER BY host"
                    " FOR UPDATE SKIP LOCKED",
                    [sorted({row["host"] for row in due})],
                )
            }
        chosen: dict[str, str] = {}  # source -> host
        for row in due:
            host = row["host"]
            wait = free.get(host)
            if wait is not None and wait <= 0 and host not in chosen.values():
                chosen[row["source"]] = host
        names = list(chosen)
        if names:
            db.execute(
                "UPDATE source_leases AS l SET holder = ?, claimed = now(),"
                " lease_until = now() + make_interval(secs => ?),"
                " next_due = now() + make_interval(secs => c.every)"
                " FROM unnest(?::text[], ?::float8[]) AS c(source, every)"
                " WHERE l.source = c.source",
                [worker, lease_seconds, names, [intervals[n] for n in names]],
            )
            db.execute(
                "UPDATE hosts SET next_allowed = now() + make_interval(secs => ?),"
                " busy_until = now() + make_interval(secs => ?) WHERE host = ANY(?::text[])",
                [host_spacing, lease_seconds, sorted(set(chosen.values()))],
            )
    return Claim(tuple(names), _retry_in(rows, chosen, free, host_spacing))


def _retry_in(
    rows: list[dict[str, Any]],
    chosen: Mapping[str, str],
    free: Mapping[str, float | None],
    spacing: float,
) -> float | None:
    """Seconds until the earliest source not claimed may be (None: all were claimed).

    A source not due yet may be at its next due time; one held back by its host's spacing
    when the spacing has passed (or was just restarted by this claim).
    """
    waits = []
    for row in rows:
        if row["source"] in chosen:
            continue
        if row["wait"] > 0:
            waits.append(float(row["wait"]))
        elif not row["held"]:
            wait = free.get(row["host"])
            # Busy (a poll of it runs, here or elsewhere), or just claimed: try again later.
            waits.append(spacing if wait is None or row["host"] in chosen.values() else wait)
    return max(min(waits), 0.05) if waits else None


def release(
    db: PgDatabase, worker: str, intervals: Mapping[str, float], *, host_spacing: float
) -> None:
    """The polls of ``intervals`` (source -> seconds) are done: their leases end, each is
    next due an interval from now, and their hosts are free after ``host_spacing``."""
    if not intervals:
        return
    names = list(intervals)
    with db.transaction():
        db.execute(
            "UPDATE hosts SET busy_until = NULL,"
            " next_allowed = greatest(next_allowed, now() + make_interval(secs => ?))"
            " WHERE host IN (SELECT host FROM source_leases WHERE source = ANY(?::text[])"
            " AND holder = ?)",
            [host_spacing, names, worker],
        )
        db.execute(
            "UPDATE source_leases AS l SET holder = NULL, lease_until = NULL, released = now(),"
            " next_due = greatest(l.next_due, now() + make_interval(secs => c.every))"
            " FROM unnest(?::text[], ?::float8[]) AS c(source, every)"
            " WHERE l.source = c.source AND l.holder = ?",
            [names, [intervals[n] for n in names], worker],
        )


def take_job(db: PgDatabase, job: str, worker: str, every_seconds: float) -> bool:
    """Whether this worker runs ``job`` now: nobody ran it in the last ``every_seconds``."""
    db.execute("INSERT INTO cluster_jobs (name) VALUES (?) ON CONFLICT DO NOTHING", [job])
    rows = db.query(
        "UPDATE cluster_jobs SET holder = ?, last_run = now() WHERE name = ?"
        " AND (last_run IS NULL OR last_run <= now() - make_interval(secs => ?)) RETURNING name",
        [worker, job, every_seconds],
    )
    return next(iter(rows), None) is not None


@contextlib.contextmanager
def try_lock(db: PgDatabase, name: str) -> Iterator[bool]:
    """Hold the cluster-wide lock ``name`` for the block if no other worker holds it.

    Yields False (and runs the block anyway, for the caller to skip its work) when it is
    taken. A session lock on a connection kept for the block: it survives the block's own
    transactions, and ends with the connection if the process dies.
    """
    with db.pool.connection() as conn:
        cursor = conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", [lock_key(name)])
        row = cast("dict[str, bool] | None", cursor.fetchone())
        got = bool(row and row["ok"])
        try:
            yield got
        finally:
            if got:
                conn.execute("SELECT pg_advisory_unlock(%s)", [lock_key(name)])


def workers(db: PgDatabase) -> list[WorkerRow]:
    """Every worker that joined, most recently seen first, with the sources it holds."""
    held: dict[str, list[str]] = {}
    for row in db.query(
        "SELECT holder, source FROM source_leases WHERE holder IS NOT NULL"
        " AND lease_until > now() ORDER BY source"
    ):
        held.setdefault(row["holder"], []).append(row["source"])
    return [
        WorkerRow(
            id=row["id"],
            host=row["host"],
            pid=row["pid"],
            started=row["started"],
            last_seen=row["last_seen"],
            polls=row["polls"],
            stopped=row["stopped"],
            holding=tuple(held.get(row["id"], ())),
        )
        for row in db.query("SELECT * FROM workers ORDER BY last_seen DESC, id")
    ]
