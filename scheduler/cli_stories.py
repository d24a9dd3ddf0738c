"""``newswatch stories``: what was reported, grouped by story."""

from __future__ import annotations

from pathlib import Path

import click

from scheduler.cli import config_option, load, main, require_name, show_time


@main.command()
@config_option
@click.option("--since", default="7d", show_default=True, help="How far back: 7d, 24h, 90m...")
@click.option("--rule", default=None, help="Only stories this rule matched.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def stories(config_path: Path, since: str, rule: str | None, as_json: bool) -> None:
    """List stories (near-duplicate articles grouped together) with their outlets.

    Times are shown in the configured [service] timezone.
    """
    import dataclasses
    import json
    from zoneinfo import ZoneInfo

    from alerts.outbox.matches import list_stories, matched_rules
    from crawler.db import from_iso, open_readonly, utcnow
    from crawler.durations import parse_duration

    config = load(config_path)
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    db = open_readonly(config.service.database)
    try:
        if rule is not None and rule not in config.rules:
            # A rule removed from the config still has its stories in the database.
            require_name("rule", rule, set(config.rules) | matched_rules(db), "--rule")
        found = list_stories(db, since=utcnow() - window, rule=rule)
    finally:
        db.close()
    zone = ZoneInfo(config.service.timezone)

    def local(text: str) -> str:
        moment = from_iso(text)
        return moment.astimezone(zone).isoformat(timespec="seconds") if moment else text

    if as_json:
        rows = [
            {
                **dataclasses.asdict(s),
                "first_seen": local(s.first_seen),
                "last_seen": local(s.last_seen),
            }
            for s in found
        ]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not found:
        matched = f" matched by rule {rule}" if rule else ""
        click.echo(f"no stories{matched} since {since}")
        return
    for story in found:
        rules = f"  rules: {', '.join(story.rules)}" if story.rules else ""
        seen = show_time(from_iso(story.last_seen), zone)
        click.echo(f"{seen}  {story.articles:>3} article(s)  {story.title}")
        click.echo(f"    outlets: {', '.join(story.outlets)}{rules}")
