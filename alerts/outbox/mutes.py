"""Mutes set at run time (``newswatch mute``), kept in the database.

The running service reads this table before every delivery round, so a mute set from the
command line takes effect without a restart. Mutes from the configuration (``mute_until``)
are not stored here; :mod:`alerts.delivery.policy` combines both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from crawler.db import Database, from_iso, to_iso, utcnow, write_transaction

MuteKind = Literal["rule", "channel"]


def set_mute(
    db: Database,
    kind: MuteKind,
    name: str,
    until: datetime,
    now: datetime | None = None,
) -> None:
    """Mute a rule or a channel until ``until`` (replacing an earlier mute of it)."""
    with write_transaction(db):
        db.table("mutes").upsert(
            {
                "kind": kind,
                "name": name,
                "until": to_iso(until),
                "created": to_iso(now or utcnow()),
            },
            pk=("kind", "name"),
        )


def clear_mute(db: Database, kind: MuteKind, name: str) -> bool:
    """Lift a stored mute; returns whether there was one."""
    with write_transaction(db):
        cursor = db.execute("DELETE FROM mutes WHERE kind = ? AND name = ?", [kind, name])
    return cursor.rowcount > 0


def active_mutes(db: Database, now: datetime) -> dict[tuple[str, str], datetime]:
    """``(kind, name) -> until`` for every stored mute still running at ``now``."""
    rows = db.query("SELECT kind, name, until FROM mutes WHERE until > ?", [to_iso(now)])
    found: dict[tuple[str, str], datetime] = {}
    for row in rows:
        until = from_iso(row["until"])
        if until is not None:
            found[(row["kind"], row["name"])] = until
    return found
