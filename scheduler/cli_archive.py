"""``newswatch search``, ``export``, ``feed`` and ``browse``: the archive, read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from scheduler.cli import EXIT_CONFIG, config_option, load, main, require_name

if TYPE_CHECKING:
    from crawler.db import Database
    from scheduler.config import Config

F = TypeVar("F", bound=Callable[..., Any])


def _period_options(func: F) -> F:
    func = click.option(
        "--until", default=None, help="Up to (not including): a date, date and time, or 7d."
    )(func)
    func = click.option(
        "--since", default=None, help="From: a date (2026-06-01), a date and time, or 30d back."
    )(func)
    return func


def _moment(text: str | None, zone: tzinfo, now: datetime, hint: str) -> datetime | None:
    from scheduler.archive import parse_moment

    if text is None:
        return None
    try:
        return parse_moment(text, zone, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


def _period(
    since: str | None, until: str | None, zone: tzinfo
) -> tuple[datetime | None, datetime | None]:
    from crawler.db import utcnow

    now = utcnow()
    start = _moment(since, zone, now, "--since")
    end = _moment(until, zone, now, "--until")
    if start is not None and end is not None and end <= start:
        raise click.BadParameter("--until must be later than --since", param_hint="--until")
    return start, end


def _check_sources(config: Config, db: Database, sources: tuple[str, ...]) -> None:
    from crawler.store import source_states

    if any(name not in config.sources for name in sources):
        # A source removed from the config still has its articles in the database.
        known = set(config.sources) | set(source_states(db))
        for name in sources:
            require_name("source", name, known, "--source")


def _check_rule(config: Config, db: Database, rule: str | None) -> None:
    from alerts.outbox.matches import matched_rules

    if rule is not None and rule not in config.rules:
        require_name("rule", rule, set(config.rules) | matched_rules(db), "--rule")


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@main.command()
@config_option
@click.argument("query")
@_period_options
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--rule", default=None, help="Only articles this rule matched.")
@click.option("--limit", default=50, show_default=True, help="Articles at most (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (same as --format json).")
@click.option("--jsonl", "as_jsonl", is_flag=True, help="Print JSON Lines, one article a line.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV, for spreadsheets.")
def search(
    config_path: Path,
    query: str,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...],
    rule: str | None,
    limit: int,
    as_json: bool,
    as_jsonl: bool,
    as_csv: bool,
) -> None:
    """Search the stored articles with the rule query language, newest first.

    QUERY is written as a rule's query ('bavet AND raid*', '"scam compound"', 'ក្រុងព្រះសីហនុ',
    '西港'); a rule's query pasted here finds what the rule matches. '*' lists everything
    (with --rule: what that rule matched). --since and --until compare with when an
    article was fetched. Dates are shown in the configured [service] timezone.
    """
    from zoneinfo import ZoneInfo

    from alerts.outbox.matches import matched_article_ids
    from alerts.rules.archive import SearchFilter
    from crawler.db import open_readonly
    from scheduler.archive import render_records, render_table, search_archive
    from scheduler.cli_rules import draft_rule

    chosen = [name for name, on in (("json", as_json), ("jsonl", as_jsonl), ("csv", as_csv)) if on]
    if len(chosen) > 1:
        raise click.UsageError("choose one of --json, --jsonl and --csv")
    config = load(config_path)
    draft_rule(query)  # exit 2 with the error placed, before opening anything
    zone = ZoneInfo(config.service.timezone)
    start, end = _period(since, until, zone)
    db = open_readonly(config.service.database)
    try:
        _check_sources(config, db, sources)
        _check_rule(config, db, rule)
        only = matched_article_ids(db, rule) if rule is not None else None
        where = SearchFilter(since=start, until=end, sources=sources, only=only)
        outcome = search_archive(db, query, where, limit=limit or None, with_outlets=bool(chosen))
    finally:
        db.close()
    if not outcome.indexed:
        click.echo(
            "note: this database has no search index yet (the service builds it when it next"
            " starts); every article was read",
            err=True,
        )
    if chosen:
        _emit(render_records(outcome.records, chosen[0], zone), None)
        return
    if not outcome.records:
        click.echo(f"no stored article matches {query}")
        return
    click.echo(render_table(outcome.records, zone), nl=False)
    shown = len(outcome.records)
    more = " (--limit reached)" if limit and shown == limit else ""
    click.echo(f"{shown} article(s){more}")


@main.command()
@config_option
@click.option("--rule", default=None, help="Only this rule's matches.")
@click.option("--query", default=None, help="Export a search instead of the matches.")
@_period_options
@click.option("--source", default=None, help="Only this source.")
@click.option("--limit", default=0, show_default=True, help="Rows at most (0: all).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "jsonl"]),
    default="csv",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def export(
    config_path: Path,
    rule: str | None,
    query: str | None,
    since: str | None,
    until: str | None,
    source: str | None,
    limit: int,
    fmt: str,
    output: Path | None,
) -> None:
    """Export matches (or a search, with --query) for spreadsheets and notebooks.

    One row per match, newest first: the rule, when it matched, the article's date,
    source, title, URL, language, snippet and hits, its story and the story's other
    outlets. Times are in the configured [service] timezone, with their offset.
    """
    from zoneinfo import ZoneInfo

    from alerts.outbox.matches import MatchFilter, matched_article_ids
    from alerts.rules.archive import SearchFilter
    from crawler.db import open_readonly
    from scheduler.archive import export_matches, render_records, search_archive
    from scheduler.cli_rules import draft_rule

    config = load(config_path)
    if query is not None:
        draft_rule(query)
    zone = ZoneInfo(config.service.timezone)
    start, end = _period(since, until, zone)
    db = open_readonly(config.service.database)
    try:
        _check_sources(config, db, (source,) if source else ())
        _check_rule(config, db, rule)
        if query is None:
            where = MatchFilter(rule=rule, source=source, since=start, until=end)
            records = export_matches(db, where, limit=limit or None)
        else:
            only = matched_article_ids(db, rule) if rule is not None else None
            sources = (source,) if source else ()
            found = SearchFilter(since=start, until=end, sources=sources, only=only)
            outcome = search_archive(db, query, found, limit=limit or None, with_outlets=True)
            records = outcome.records
    finally:
        db.close()
    _emit(render_records(records, fmt, zone, matches=query is None), output)
    if output is not None:
        click.echo(f"{len(records)} row(s) written to {output}", err=True)


@main.command()
@config_option
@click.argument("rule")
@click.option("--url", default=None, help="The feed's own address (default: from [web] listen).")
def feed(config_path: Path, rule: str, url: str | None) -> None:
    """Print the Atom feed of RULE's newest matches ('all' for every rule).

    The same feed the web server serves at /feeds/RULE.atom: the newest 50 stories, one
    entry per story with its other outlets, snippets as summaries.
    """
    from alerts.render.atom import feed_for
    from crawler.db import open_readonly, utcnow
    from scheduler.config_types import split_address

    config = load(config_path)
    if rule != "all":
        require_name("rule", rule, config.rules, "RULE")
    if url is None:
        host, port = split_address(config.web.listen or "127.0.0.1:8787")
        url = f"http://{host}:{port}/feeds/{rule}.atom"
    db = open_readonly(config.service.database)
    try:
        body = feed_for(db, None if rule == "all" else rule, self_url=url, now=utcnow())
    finally:
        db.close()
    click.echo(body.decode("utf-8"), nl=False)


@main.command()
@config_option
@click.option("--port", default=8001, show_default=True, help="Port on 127.0.0.1.")
@click.option("--open", "open_browser", is_flag=True, help="Open it in a web browser.")
def browse(config_path: Path, port: int, open_browser: bool) -> None:
    """Explore the database in Datasette on 127.0.0.1, read-only.

    Tables are titled and described, with canned queries (latest matches, matches by
    rule, stories this week, failing sources, delivery problems) and facets by rule and
    source. Needs the optional extra: pip install 'newswatch[browse]'.
    """
    from scheduler.browse import BrowseUnavailableError, serve

    config = load(config_path)
    database = config.service.database
    if not isinstance(database, Path):
        click.echo(
            "error: browse opens an SQLite database file; [service] database names a"
            " PostgreSQL server (use its own tools, or newswatch web)",
            err=True,
        )
        raise SystemExit(EXIT_CONFIG)
    try:
        serve(database, port=port, open_browser=open_browser)
    except BrowseUnavailableError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from None
