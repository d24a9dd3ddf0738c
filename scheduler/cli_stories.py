"""``newswatch stories``: what was reported, grouped by story."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from alerts.outbox.matches import list_stories
from crawler.db import open_readonly, utcnow
from crawler.durations import parse_duration
from scheduler.cli import config_option, load, main


@main.command()
@config_option
@click.option("--since", default="7d", show_default=True, help="How far back: 7d, 24h, 90m...")
@click.option("--rule", default=None, help="Only stories this rule matched.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def stories(config_path: Path, since: str, rule: str | None, as_json: bool) -> None:
    """List stories (near-duplicate articles grouped together) with their outlets."""
    config = load(config_path)
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    db = open_readonly(config.service.database)
    try:
        found = list_stories(db, since=utcnow() - window, rule=rule)
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(s) for s in found], ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo(f"no stories since {since}")
        return
    for story in found:
        rules = f"  rules: {', '.join(story.rules)}" if story.rules else ""
        click.echo(f"{story.last_seen[:16]}  {story.articles:>3} article(s)  {story.title}")
        click.echo(f"    outlets: {', '.join(story.outlets)}{rules}")
