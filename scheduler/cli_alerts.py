"""Alert commands: ``newswatch alerts list | retry | test`` and ``newswatch mute``.

Imported at the end of :mod:`scheduler.cli` so the commands register on its ``main``
group. They work while the service runs: the database is shared in WAL mode, and the
service reads mutes and re-queued alerts before each delivery round.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from crawler.errors import NewswatchError
from scheduler.cli import EXIT_FAILURE, config_option, fail, finish, load, main, require_name
from scheduler.cli import show_time as zoned_time

if TYPE_CHECKING:
    from alerts.outbox.admin import QueueEntry
    from crawler.db import Database
    from scheduler.config import Config

STATES = ("pending", "retrying", "digest", "bundled", "sent", "failed", "muted")
SHORT_ERROR, SHORT_TITLE = 60, 48


def open_alert_db(config: Config, *, create: bool = True) -> Database | None:
    """The database, upgraded; None when it does not exist and ``create`` is off."""
    from crawler.db import open_database

    path = config.service.database
    if not create and isinstance(path, Path) and not path.exists():
        return None
    return open_database(path)


def show_time(moment: datetime | None, config: Config) -> str:
    """``2026-11-24 08:00 +07`` in the configured zone, or ``-``."""
    from zoneinfo import ZoneInfo

    return zoned_time(moment, ZoneInfo(config.service.timezone))


def _cut(text: str | None, width: int, full: bool) -> str:
    text = " ".join((text or "-").split())
    return text if full or len(text) <= width else text[: width - 1] + "…"


def format_entries(entries: list[QueueEntry], config: Config, *, full: bool = False) -> str:
    """An aligned table of queue entries, one per line."""
    header = ("ID", "STATE", "TRIES", "NEXT TRY", "RULE", "CHANNEL", "TITLE", "LAST ERROR")
    rows = [header] + [
        (
            e.id,
            e.state,
            str(e.attempts),
            show_time(e.next_try, config),
            e.rule,
            e.channel,
            _cut(e.title, SHORT_TITLE, full),
            _cut(e.last_error, SHORT_ERROR, full),
        )
        for e in entries
    ]
    # The last column (the error) is not padded: it may be long and ends the line.
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in rows
    )


@main.group()
def alerts() -> None:
    """Inspect, retry and test alert deliveries (works while the service runs)."""


@alerts.command("list")
@config_option
@click.option("--state", type=click.Choice(STATES), help="Only alerts in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--full", is_flag=True, help="Do not shorten titles and errors.")
def list_alerts(config_path: Path, state: str | None, limit: int, full: bool) -> None:
    """List alerts, digests (n...) and operations alerts, newest first.

    Shows the id, state, attempts, next try, rule, channel, article title and last error.
    """
    from alerts.outbox.admin import list_entries

    config = load(config_path)
    db = open_alert_db(config, create=False)
    if db is None:
        click.echo(f"no alerts yet: {config.service.database} does not exist")
        return
    try:
        entries = list_entries(db, state=state, limit=limit)
    finally:
        db.close()
    if not entries:
        click.echo(f"no {state} alerts" if state else "no alerts yet")
        return
    click.echo(format_entries(entries, config, full=full))


@alerts.command()
@config_option
@click.argument("ids", nargs=-1)
@click.option("--all-failed", is_flag=True, help="Queue every failed alert again.")
def retry(config_path: Path, ids: tuple[str, ...], all_failed: bool) -> None:
    """Queue failed alerts again, due now: IDS from `newswatch alerts list`, or --all-failed."""
    from alerts.outbox.admin import retry as retry_ids
    from alerts.outbox.admin import retry_all_failed
    from crawler.db import utcnow

    if not ids and not all_failed:
        raise click.UsageError("give the IDs of failed alerts, or --all-failed")
    config = load(config_path)
    db = open_alert_db(config)
    assert db is not None
    try:
        if all_failed:
            count = retry_all_failed(db, utcnow())
            click.echo(f"queued {count} failed alert{'s' * (count != 1)} again")
            return
        result = retry_ids(db, list(ids), utcnow())
    finally:
        db.close()
    if result.retried:
        click.echo(f"queued again: {', '.join(result.retried)}")
    for problem in result.refused:
        click.echo(f"not queued: {problem}", err=True)
    if result.refused:
        raise SystemExit(EXIT_FAILURE)


@alerts.command("test")
@config_option
@click.argument("channel")
def send_sample(config_path: Path, channel: str) -> None:
    """Send a sample alert through CHANNEL and say whether it arrived, or the exact error."""
    from alerts.delivery.rounds import send_test
    from alerts.errors import DeliveryError
    from scheduler.runloop import run_async
    from scheduler.wiring import build_channel

    config = load(config_path)
    require_name("channel", channel, config.channels, "CHANNEL")
    try:
        target = build_channel(channel, config.channels[channel], config)
    except ValueError as exc:
        fail(NewswatchError(str(exc)))

    async def attempt() -> str | DeliveryError:
        try:
            return await send_test(target)
        except DeliveryError as exc:
            return exc
        finally:
            await target.aclose()

    outcome, threads_left = run_async(attempt())
    if isinstance(outcome, DeliveryError):
        click.echo(f"error: test alert through {channel} failed: {outcome}", err=True)
        finish(EXIT_FAILURE, threads_left)
    click.echo(f"sent a test alert through {channel} (key {outcome})")
    finish(0, threads_left)


@main.command()
@config_option
@click.argument("name", required=False)
@click.option("--for", "duration", metavar="DURATION", help='How long, e.g. "2d" or "6h".')
@click.option("--until", metavar="DATE", help="Until a date or time, e.g. 2026-12-01.")
@click.option("--clear", is_flag=True, help="Lift the mute set with this command.")
@click.option("--channel", "is_channel", is_flag=True, help="NAME is a channel, not a rule.")
def mute(
    config_path: Path,
    name: str | None,
    duration: str | None,
    until: str | None,
    clear: bool,
    is_channel: bool,
) -> None:
    """Stop sending a rule's (or --channel's) alerts for a while; without NAME, list mutes.

    Muted matches are still recorded, in state "muted", and never sent later. The mute is
    kept in the database, so a running service obeys it at once.
    """
    from alerts.outbox.mutes import MuteKind, clear_mute, set_mute

    config = load(config_path)
    if name is None:
        _list_mutes(config)
        return
    kind: MuteKind = "channel" if is_channel else "rule"
    if not is_channel and name not in config.rules and name in config.channels:
        raise click.BadParameter(f"{name!r} is a channel: add --channel", param_hint="NAME")
    require_name(kind, name, config.channels if is_channel else config.rules, "NAME")
    if sum(bool(x) for x in (duration, until, clear)) != 1:
        raise click.UsageError("give exactly one of --for, --until or --clear")
    db = open_alert_db(config)
    assert db is not None
    try:
        if clear:
            lifted = clear_mute(db, kind, name)
            click.echo(f"{kind} {name}: mute lifted" if lifted else f"{kind} {name} was not muted")
            return
        deadline = _deadline(config, duration, until)
        set_mute(db, kind, name, deadline)
    finally:
        db.close()
    click.echo(
        f"{kind} {name} muted until {show_time(deadline, config)} "
        f"({config.service.timezone}); "
        f"its matches are recorded as muted, not sent. Undo: newswatch mute {name} --clear"
        + (" --channel" if is_channel else "")
    )


def _deadline(config: Config, duration: str | None, until: str | None) -> datetime:
    from zoneinfo import ZoneInfo

    from alerts.delivery.schedule import mute_deadline, parse_mute_until
    from crawler.db import utcnow
    from crawler.durations import parse_duration

    now = utcnow()
    try:
        if duration is not None:
            return now + parse_duration(duration)
        moment = mute_deadline(parse_mute_until(until), ZoneInfo(config.service.timezone))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    assert moment is not None
    if moment <= now:
        raise click.BadParameter(f"{until} is already past")
    return moment


def _list_mutes(config: Config) -> None:
    from zoneinfo import ZoneInfo

    from alerts.delivery.schedule import mute_deadline
    from alerts.outbox.mutes import active_mutes
    from crawler.db import utcnow

    now = utcnow()
    zone = ZoneInfo(config.service.timezone)
    found: dict[tuple[str, str], tuple[datetime, str]] = {}
    for section, kind in ((config.rules, "rule"), (config.channels, "channel")):
        for name, settings in section.items():
            deadline = mute_deadline(settings.mute_until, zone)
            if deadline is not None and deadline > now:
                found[(kind, name)] = (deadline, "config.toml mute_until")
    db = open_alert_db(config, create=False)
    if db is not None:
        try:
            for key, deadline in active_mutes(db, now).items():
                if key not in found or found[key][0] < deadline:
                    found[key] = (deadline, "newswatch mute")
        finally:
            db.close()
    if not found:
        click.echo("nothing is muted")
        return
    for (kind, name), (deadline, origin) in sorted(found.items()):
        click.echo(f"{kind} {name}: muted until {show_time(deadline, config)} ({origin})")
