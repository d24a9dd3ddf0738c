"""Time rules for alerts: digest schedules (cron), quiet hours and mute deadlines.

Everything here is pure: functions take the moment they reason about (``now``) and the
time zone explicitly, so the schedule logic can be tested at any instant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

# crontab numbers weekdays from Sunday = 0 (7 is Sunday too); APScheduler 3 from Monday = 0.
_CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_PART = re.compile(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
CRON_EXAMPLE = '"0 8 * * *" (every day at 08:00) or "30 7 * * 1-5" (weekdays at 07:30)'


def parse_cron(expr: str, timezone: str | tzinfo = "UTC") -> CronTrigger:
    """A trigger for a five-field crontab line (minute hour day month weekday).

    Weekday numbers keep their crontab meaning (0 and 7 are Sunday, 1-5 Monday to Friday);
    APScheduler alone would shift them by one day. Raises ValueError naming the problem.
    """
    # Imported here: loading a config without cron lines (``newswatch status``) skips it.
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(
            f"invalid cron expression {expr!r}: expected 5 fields (minute hour day month "
            f"weekday), found {len(fields)}"
        )
    fields[4] = _weekday_names(expr, fields[4])
    try:
        return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None


def _weekday_names(expr: str, field: str) -> str:
    """Rewrite numeric crontab weekdays ("1-5", "*/2", "0,6") as day names."""
    parts = []
    for part in field.lower().split(","):
        match = _DAY_PART.fullmatch(part)
        if match is None or part == "*":
            parts.append(part)  # names ("mon-fri") and "*" mean the same to both
            continue
        first, last, step = match.groups()
        low = 0 if first == "*" else int(first)
        high = 6 if first == "*" else int(last if last is not None else first)
        if step is not None and last is None and first != "*":
            high = 6  # "1/2" is "1-6/2" in crontab
        if not 0 <= low <= high <= 7 or step == "0":
            raise ValueError(
                f"invalid cron expression {expr!r}: weekday {part!r} is not within 0-7 "
                "(0 and 7 are Sunday)"
            )
        days = _CRONTAB_DAYS[low : high + 1 : int(step or 1)]
        parts.extend(dict.fromkeys(days))
    return ",".join(dict.fromkeys(parts))


def next_fire(trigger: CronTrigger, after: datetime) -> datetime:
    """The first time ``trigger`` fires at or after ``after`` (aware, UTC)."""
    fire = trigger.get_next_fire_time(None, after)
    if fire is None:  # pragma: no cover - a crontab line without end date always fires again
        raise ValueError("the digest schedule never fires again")
    return fire.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily period ("22:00-07:00") during which a channel sends nothing."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """Read ``"HH:MM-HH:MM"``; the period may run over midnight. ValueError if malformed."""
        pieces = text.replace(" ", "").split("-")
        clocks = [_CLOCK.fullmatch(p) for p in pieces]
        if len(pieces) != 2 or not all(clocks):
            raise ValueError(
                f'invalid quiet hours {text!r} (expected "HH:MM-HH:MM", e.g. "22:00-07:00")'
            )
        start, end = (time(int(m.group(1)), int(m.group(2))) for m in clocks if m)
        if start == end:
            raise ValueError(f"invalid quiet hours {text!r} (start and end are the same time)")
        return cls(start, end)

    def contains(self, moment: datetime, zone: tzinfo) -> bool:
        """Whether ``moment`` falls in the quiet period, in local time of ``zone``."""
        local = moment.astimezone(zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, moment: datetime, zone: tzinfo) -> datetime:
        """When the quiet period holding ``moment`` ends (the next ``end`` o'clock), in UTC."""
        local = moment.astimezone(zone)
        end = datetime.combine(local.date(), self.end, tzinfo=zone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=zone)
        return end.astimezone(UTC)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def mute_deadline(value: date | datetime | None, zone: tzinfo) -> datetime | None:
    """The end of a mute as an aware UTC time.

    A date means the start of that day and a time without offset is a time in ``zone``:
    ``mute_until = 2026-12-01`` sends again from midnight on 1 December, local time.
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def parse_mute_until(value: object) -> date | datetime:
    """A TOML date / date-time or an ISO string ("2026-12-01", "2026-12-01T08:00")."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(
        f"invalid date {value!r} (expected a date like 2026-12-01 or a date and time "
        "like 2026-12-01T08:00)"
    )
