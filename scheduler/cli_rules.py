"""``newswatch rules test`` and ``newswatch rules backtest``: try rules before trusting them."""

from __future__ import annotations

from pathlib import Path

import click

from alerts.errors import QueryError
from alerts.rules.matcher import Document
from alerts.rules.rule import Rule, validate_rule
from alerts.rules.tryout import DRAFT, backtest, highlight, try_rule
from crawler.db import open_readonly, utcnow
from crawler.durations import parse_duration
from crawler.fetch import CrawlManager, FetchSettings
from crawler.sources.probe import read_url
from scheduler.cli import EXIT_FAILURE, config_option, load, main
from scheduler.config_models import DEFAULT_USER_AGENT
from scheduler.runloop import run_async


@main.group()
def rules() -> None:
    """Try rules: on a text, a file or a page, or over the articles already stored."""


def draft_rule(query: str) -> Rule:
    """A rule from a query typed on the command line; exit 2 if it is malformed."""
    rule = Rule(name=DRAFT, query=query)
    try:
        validate_rule(rule)
    except QueryError as exc:
        click.echo(f"error: {exc}", err=True)
        click.echo(f"  {exc.query}\n  {' ' * exc.position}^", err=True)
        raise SystemExit(2) from None
    return rule


@rules.command("test")
@click.argument("query")
@click.option("--text", help="The text to test against.")
@click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A text file to test against.",
)
@click.option("--url", help="A page (its article text is extracted) or a feed (every item).")
@click.option("--title", default="", help="A headline, matched like an article's title.")
def test_query(
    query: str, text: str | None, file_: Path | None, url: str | None, title: str
) -> None:
    """Show whether QUERY matches a text, file or page and where, terms in [brackets]."""
    if sum(x is not None for x in (text, file_, url)) != 1:
        raise click.UsageError("give exactly one of --text, --file or --url")
    rule = draft_rule(query)
    if url is not None:
        docs, _ = run_async(fetch_documents(url))
    elif file_ is not None:
        docs = [Document(title=title, body=file_.read_text(encoding="utf-8"))]
    else:
        docs = [Document(title=title, body=text or "")]
    matched = 0
    for doc in docs:
        matched += show_result(rule, doc, label=doc.url if len(docs) > 1 else "")
    if not matched:
        click.echo("no match")
        raise SystemExit(EXIT_FAILURE)


def show_result(rule: Rule, doc: Document, *, label: str) -> int:
    """Print where ``rule`` matched ``doc``; returns 1 if it matched, else 0."""
    result = try_rule(rule, doc)
    if not result.matched or result.match is None:
        return 0
    terms = sorted({hit.term for hit in result.match.hits})
    where = f" in {label}" if label else ""
    click.echo(f"match{where}: {len(result.match.hits)} hit(s) of {', '.join(terms)}")
    for snippet in result.snippets:
        click.echo(f"  ...{highlight(snippet)}...")
    return 1


async def fetch_documents(url: str) -> list[Document]:
    """Fetch ``url`` the way sources are polled; a feed gives one document per item."""
    crawls = CrawlManager(FetchSettings(user_agent=DEFAULT_USER_AGENT))
    try:
        articles = await read_url(crawls, url)
    finally:
        await crawls.aclose()
    return [Document(a.title, a.body, url=a.url) for a in articles]


@rules.command("backtest")
@config_option
@click.argument("rule_or_query")
@click.option("--since", default="30d", show_default=True, help="How far back: 30d, 12h...")
@click.option("--limit", default=50, show_default=True, help="Articles to list at most.")
def backtest_rule(config_path: Path, rule_or_query: str, since: str, limit: int) -> None:
    """Run a configured RULE (or a draft query) over stored articles; nothing is sent."""
    config = load(config_path)
    settings = config.rules.get(rule_or_query)
    if settings is not None:
        rule = Rule(
            rule_or_query,
            settings.query,
            settings.exclude,
            tuple(settings.languages),
            tuple(settings.sources),
            settings.min_hits,
        )
    else:
        rule = draft_rule(rule_or_query)
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    db = open_readonly(config.service.database)
    try:
        result = backtest(db, rule, since=utcnow() - window)
    finally:
        db.close()
    click.echo(f"{len(result.hits)} of {result.scanned} articles since {since} would have alerted")
    for _, when, source, title, url in result.hits[:limit]:
        click.echo(f"  {when[:16]}  {source}: {title}\n      {url}")
    if result.per_source:
        click.echo(
            "per source: " + ", ".join(f"{s} {n}" for s, n in result.per_source.most_common())
        )
