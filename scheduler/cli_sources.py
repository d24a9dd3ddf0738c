"""``newswatch sources``: list the sources, add one from a site's address, OPML in and out.

Imported at the end of :mod:`scheduler.cli` so the commands register on its ``main`` group.
Every change to ``config.toml`` keeps its comments and layout and is validated as
``newswatch check`` validates; an invalid result is not written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from crawler.errors import NewswatchError
from scheduler.cli import EXIT_CONFIG, config_option, fail, load, main, require_name

if TYPE_CHECKING:
    from crawler.discovery import FeedCandidate
    from scheduler.config import Config


@main.group()
def sources() -> None:
    """List, add, import and export the sources of config.toml."""


def display_titles(config: Config) -> dict[str, str]:
    """Each source's display name: its ``title``, else the feed's own (from the database,
    when there is one), else its name."""
    from crawler.db import PostgresUrl, open_readonly
    from crawler.store import source_titles

    titles = {name: s.title for name, s in config.sources.items() if s.title}
    unknown = [name for name in config.sources if name not in titles]
    database = config.service.database
    if unknown and (isinstance(database, PostgresUrl) or database.exists()):
        try:
            db = open_readonly(config.service.database)
        except NewswatchError:
            return {name: titles.get(name, name) for name in config.sources}
        try:
            titles.update(source_titles(db, unknown))
        finally:
            db.close()
    return {name: titles.get(name, name) for name in config.sources}


@sources.command("list")
@config_option
@click.argument("names", nargs=-1)
def list_sources(config_path: Path, names: tuple[str, ...]) -> None:
    """List the configured sources (or only NAMES): name, type, display name, address."""
    config = load(config_path)
    for name in names:
        require_name("source", name, config.sources, "NAMES")
    if not config.sources:
        click.echo(f"no sources in {config.path}; add one with: newswatch sources add URL")
        return
    titles = display_titles(config)
    shown = names or tuple(config.sources)
    width = max(len(name) for name in shown)
    for name in shown:
        settings = config.sources[name]
        paused = "" if settings.enabled else "  (paused)"
        title = f"  {titles[name]}" if titles[name] != name else ""
        click.echo(f"{name:<{width}}  {settings.type:<7}{title}{paused}".rstrip())
        click.echo(f"{'':<{width}}  {settings.url}")


def _choose(found: list[FeedCandidate], number: int | None) -> FeedCandidate:
    """The candidate numbered ``number`` (from 1); asks when several and stdin is a terminal,
    else takes the first (feeds come before sitemaps)."""
    if number is not None:
        if not 1 <= number <= len(found):
            raise click.BadParameter(
                f"{number} is not one of the {len(found)} found (1 to {len(found)})",
                param_hint="--pick",
            )
        return found[number - 1]
    if len(found) == 1:
        return found[0]
    if sys.stdin.isatty():
        number = click.prompt(
            "Which one?", type=click.IntRange(1, len(found)), default=1, show_default=True
        )
        return found[number - 1]
    click.echo("several found; took the first (pass --pick N to choose another)", err=True)
    return found[0]


@sources.command("add")
@config_option
@click.argument("url")
@click.option("--name", default=None, help="The source's name [default: from its title].")
@click.option(
    "--type",
    "kind",
    type=click.Choice(["rss", "sitemap"]),
    default=None,
    help="Only feeds (rss) or only sitemaps [default: either, feeds first].",
)
@click.option("--title", default=None, help="A display name [default: the feed's own title].")
@click.option("--pick", "number", type=int, default=None, help="Take the Nth feed found.")
def add(
    config_path: Path,
    url: str,
    name: str | None,
    kind: str | None,
    title: str | None,
    number: int | None,
) -> None:
    """Find the feeds of the site at URL and add one as a source to config.toml.

    Looks at URL itself, the feeds its page advertises, the usual feed paths and the
    site's sitemaps; lists what works, with titles and item counts, and adds the one
    chosen (asked for when several are found, else --pick N, else the first).
    """
    from crawler.discovery import site_address
    from scheduler.errors import ConfigError
    from scheduler.sources_edit import (
        add_source,
        configured_urls,
        discover,
        pick,
        source_table,
        suggest_name,
    )

    config = load(config_path)
    try:
        address = site_address(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="URL") from None
    if kind == "html":
        chosen_url, chosen_kind, feed_title = address, "html", None
    else:
        discovery = discover(config, address)
        found = pick(discovery.candidates, kind)
        if not found:
            what = {"rss": "feed", "sitemap": "sitemap"}.get(kind or "", "feed or sitemap")
            problems = "; ".join(discovery.problems) or f"no {what} found"
            fail(NewswatchError(f"{address}: {problems}"))
        for n, candidate in enumerate(found, 1):
            label = candidate.title or "(untitled)"
            unit = "item" if candidate.kind == "rss" else "page"
            count = f"{candidate.items} {unit}{'s' * (candidate.items != 1)}"
            click.echo(f"{n}. {label}  [{candidate.kind}, {count}, {candidate.found}]")
            click.echo(f"   {candidate.url}")
        chosen = _choose(found, number)
        chosen_url, chosen_kind, feed_title = chosen.url, chosen.kind, chosen.title
    from crawler.canonical import canonicalize_url

    already = configured_urls(config).get(canonicalize_url(chosen_url))
    if already is not None:
        fail(NewswatchError(f"{chosen_url} is already configured as source {already!r}"))
    name = name or suggest_name(chosen_url, title or feed_title, set(config.sources))
    try:
        saved = add_source(config, name, source_table(chosen_url, chosen_kind, title))
    except ConfigError as exc:
        fail(exc, EXIT_CONFIG)
    for warning in saved.warnings:
        click.echo(f"warning: {warning}", err=True)
    shown = title or feed_title
    click.echo(f"added source {name} ({chosen_kind}{', ' + shown if shown else ''}): {chosen_url}")
    click.echo(f"in {config.path}; a running service reads it on reload (SIGHUP)")


@sources.command("import")
@config_option
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(config_path: Path, opml_file: Path) -> None:
    """Add the feeds of an OPML file (a feed reader's export) as rss sources.

    Each feed becomes a source named after its title, with that title; feeds already
    configured (same address) are skipped. Nothing is written if the result is invalid.
    """
    from scheduler.errors import ConfigError
    from scheduler.opml import read_opml
    from scheduler.sources_edit import import_feeds

    config = load(config_path)
    feeds = read_opml(opml_file.read_bytes(), where=str(opml_file))
    if not feeds:
        fail(NewswatchError(f"{opml_file} lists no feeds (no <outline> has an xmlUrl)"))
    try:
        report = import_feeds(config, feeds)
    except ConfigError as exc:
        fail(exc, EXIT_CONFIG)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    for name, feed in report.added:
        category = f"  [{' / '.join(feed.categories)}]" if feed.categories else ""
        click.echo(f"added   {name}: {feed.url}{category}")
    for feed, why in report.skipped:
        click.echo(f"skipped {feed.title or feed.url}: {feed.url} ({why})")
    added, skipped = len(report.added), len(report.skipped)
    click.echo(
        f"{added} source{'s' * (added != 1)} added, {skipped} skipped"
        + (f"; written to {config.path}" if added else "")
    )


@sources.command("export")
@config_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file [default: standard output].",
)
def export(config_path: Path, output: Path | None) -> None:
    """Write the rss sources as an OPML 2.0 file, for a feed reader."""
    from crawler.db import utcnow
    from scheduler.opml import write_opml
    from scheduler.sources_edit import export_feeds

    config = load(config_path)
    feeds, left_out = export_feeds(config, display_titles(config))
    text = write_opml(feeds, title=f"newswatch sources ({config.path.name})", created=utcnow())
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(NewswatchError(f"cannot write {output}: {exc.strerror or exc}"))
        click.echo(f"wrote {len(feeds)} feed{'s' * (len(feeds) != 1)} to {output}", err=True)
    if left_out:
        click.echo(
            f"left out (not feeds, a feed reader cannot read them): {', '.join(left_out)}",
            err=True,
        )
