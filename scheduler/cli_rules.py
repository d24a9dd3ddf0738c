"""``newswatch rules test`` and ``newswatch rules backtest``: try rules before trusting them."""

from __future__ import annotations

import re
from dataclasses import replace
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scheduler.cli import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    config_given,
    config_option,
    finish,
    load,
    main,
    require_name,
    show_time,
    unknown_name,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from alerts.rules.matcher import Document, RuleMatch
    from alerts.rules.rule import Rule
    from scheduler.config import Config

# A query that is one name-like word could be meant as a rule's name.
_NAME_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@main.group()
def rules() -> None:
    """Try rules: on a text, a file or a page, or over the articles already stored."""


def draft_rule(query: str) -> Rule:
    """A rule from a query typed on the command line; exit 2 if it is malformed."""
    from alerts.errors import QueryError
    from alerts.rules.rule import Rule, validate_rule
    from alerts.rules.tryout import DRAFT
    from scheduler.config_types import line_column

    rule = Rule(name=DRAFT, query=query)
    try:
        validate_rule(rule)
    except QueryError as exc:
        click.echo(f"error: {exc}", err=True)
        line, column = line_column(exc.query, exc.position)
        text = exc.query.splitlines()[line - 1] if exc.query.strip() else exc.query
        where = f"line {line}: " if "\n" in exc.query.strip() else ""
        click.echo(f"  {where}{text}\n  {' ' * (len(where) + column - 1)}^", err=True)
        raise SystemExit(EXIT_CONFIG) from None
    return rule


def _close_rule(word: str, config: Config | None) -> str | None:
    """The configured rule a bare word was probably meant to name, if any."""
    if config is None or not _NAME_LIKE.fullmatch(word):
        return None
    close = get_close_matches(word, list(config.rules), n=1)
    return close[0] if close else None


def _optional_config(ctx: click.Context, config_path: Path, *, needed: bool) -> Config | None:
    """The config when one was named or ./config.toml exists; exit 2 if it is needed and bad.

    A draft query needs no config: a broken ./config.toml nobody named is only mentioned.
    """
    from scheduler.config import load_config
    from scheduler.errors import ConfigError

    if needed or config_given(ctx):
        return load(config_path)
    if not config_path.exists():
        return None
    try:
        return load_config(config_path)
    except ConfigError as exc:
        count = len(exc.problems)
        click.echo(
            f"note: not reading rules from {config_path}: {count} problem"
            f"{'s' * (count != 1)} (newswatch check lists them)",
            err=True,
        )
        return None


@rules.command("test")
@config_option
@click.argument("args", nargs=-1, metavar="[QUERY] [FILE]...")
@click.option(
    "--rule",
    "rule_names",
    multiple=True,
    metavar="NAME",
    help="A configured rule to test (repeat for several).",
)
@click.option("--text", help="The text to test against.")
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A text file to test against; several may follow (--file seed/*.txt).",
)
@click.option("--url", help="A page (its article text is extracted) or a feed (every item).")
@click.option("--title", default="", help="A headline, matched like an article's title.")
@click.pass_context
def test_query(
    ctx: click.Context,
    config_path: Path,
    args: tuple[str, ...],
    rule_names: tuple[str, ...],
    text: str | None,
    files: tuple[Path, ...],
    url: str | None,
    title: str,
) -> None:
    """Show which rules match a text, files or a page, where, and why not.

    QUERY is a draft query, or the name of a configured rule. --rule NAME tests configured
    rules; with neither, every enabled rule of the config is tested. Terms are shown in
    [brackets]. Exits 0 if something matched, 1 if nothing did.
    """
    query, files = _split_args(args, files)
    if sum(bool(x) for x in (text is not None, files, url is not None)) != 1:
        raise click.UsageError("give exactly one of --text, --file or --url")
    config = _optional_config(ctx, config_path, needed=bool(rule_names))
    tested = _rules_to_test(query, rule_names, config)
    docs = _documents(text, files, url, title)
    matched = sum(_test_rule(rule, docs, named, query, config) for rule, named in tested)
    if not matched:
        raise SystemExit(EXIT_FAILURE)


def _split_args(
    args: tuple[str, ...], files: tuple[Path, ...]
) -> tuple[str | None, tuple[Path, ...]]:
    """The query, and the files: a shell pattern after --file gives several arguments."""
    extra = [Path(a) for a in args if files and Path(a).is_file()]
    words = [a for a in args if not (files and Path(a).is_file())]
    if len(words) > 1:
        raise click.UsageError(
            f"got {len(words)} queries ({', '.join(map(repr, words))}); "
            "quote a query that has spaces, e.g. 'raid AND Poipet'"
        )
    return (words[0] if words else None), (*files, *extra)


def _rules_to_test(
    query: str | None, names: tuple[str, ...], config: Config | None
) -> list[tuple[Rule, bool]]:
    """The rules to try, each with whether it is a configured (named) rule."""
    tested: list[tuple[Rule, bool]] = []
    if query is not None:
        if config is not None and query in config.rules:
            # A rule's name is not searched as a word: that would print a confident "no match".
            click.echo(
                f"testing rule {query} from {config.path.name}; to search for the word itself, "
                f"quote it: '\"{query}\"'",
                err=True,
            )
            names = (query, *names)
        else:
            tested.append((draft_rule(query), False))
    for name in dict.fromkeys(names):
        assert config is not None
        require_name("rule", name, config.rules, "--rule")
        tested.append((_file_rule(config, name), True))
    if tested:
        return tested
    if config is None:
        raise click.UsageError(
            "give a QUERY, or --rule NAME, or --config FILE to test every configured rule"
        )
    enabled = [name for name, rule in config.rules.items() if rule.enabled]
    if not enabled:
        raise click.UsageError(f"{config.path.name} has no enabled rule to test")
    return [(_file_rule(config, name), True) for name in enabled]


def _file_rule(config: Config, name: str) -> Rule:
    """A configured rule to run on files and pages, which come from no configured source."""
    rule = config.rules[name].to_rule(name)
    if rule.sources:
        click.echo(
            f"note: rule {name} reads only {', '.join(rule.sources)}; "
            "that limit is not applied here",
            err=True,
        )
    return replace(rule, sources=())


def _documents(
    text: str | None, files: tuple[Path, ...], url: str | None, title: str
) -> list[tuple[str, Document]]:
    """(label, document) pairs to test; the label names the file or feed item."""
    from alerts.rules.matcher import Document
    from scheduler.runloop import run_async

    if url is not None:
        docs, _ = run_async(fetch_documents(url))
        return [(doc.url, doc) for doc in docs]
    if files:
        return [(str(f), Document(title=title, body=f.read_text(encoding="utf-8"))) for f in files]
    return [("text", Document(title=title, body=text or ""))]


def _test_rule(
    rule: Rule,
    docs: list[tuple[str, Document]],
    named: bool,
    query: str | None,
    config: Config | None,
) -> int:
    """Print where ``rule`` matches each document, or why it does not; returns the matches."""
    from alerts.rules.tryout import explain_miss

    subject = f"rule {rule.name}: " if named else ""
    several = len(docs) > 1
    matched = sum(
        show_result(rule, doc, label=label if several else "", subject=subject)
        for label, doc in docs
    )
    if matched:
        return matched
    click.echo(f"{subject}no match" + (f" in any of {len(docs)} documents" if several else ""))
    for label, doc in docs:
        for reason in explain_miss(rule, doc):
            click.echo(f"  {label}: {reason}" if several else f"  {reason}")
    close = None if named or query is None else _close_rule(query, config)
    if close is not None:
        click.echo(f"  {query!r} was searched as a word; to test rule {close}: --rule {close}")
    return 0


def show_result(rule: Rule, doc: Document, *, label: str, subject: str = "") -> int:
    """Print where ``rule`` matched ``doc``; returns 1 if it matched, else 0."""
    from alerts.rules.tryout import highlight, try_rule

    result = try_rule(rule, doc)
    if not result.matched or result.match is None:
        return 0
    terms = sorted({hit.term for hit in result.match.hits})
    where = f" in {label}" if label else ""
    click.echo(f"{subject}match{where}: {len(result.match.hits)} hit(s) of {', '.join(terms)}")
    for snippet in result.snippets:
        click.echo(f"  ...{highlight(snippet)}...")
    return 1


async def fetch_documents(url: str) -> list[Document]:
    """Fetch ``url`` the way sources are polled; a feed gives one document per item."""
    from alerts.rules.matcher import Document
    from crawler.fetch import CrawlManager, FetchSettings
    from crawler.sources.probe import read_url
    from scheduler.config_models import DEFAULT_USER_AGENT

    crawls = CrawlManager(FetchSettings(user_agent=DEFAULT_USER_AGENT))
    try:
        articles = await read_url(crawls, url)
    finally:
        await crawls.aclose()
    return [Document(a.title, a.body, url=a.url) for a in articles]


def _backtest_rule(config: Config, rule_or_query: str) -> tuple[Rule, bool]:
    """The configured rule named ``rule_or_query``, else a draft query; exit 2 on a near-miss."""
    if rule_or_query in config.rules:
        return config.rules[rule_or_query].to_rule(rule_or_query), True
    if _close_rule(rule_or_query, config) is not None:
        # "scam-compund" is a misspelt rule, not a word to search for: say so, not "0 of 6".
        raise click.BadParameter(
            unknown_name("rule", rule_or_query, config.rules)
            + f"; to search for the word itself, quote it: '\"{rule_or_query}\"'",
            param_hint="RULE",
        )
    return draft_rule(rule_or_query), False


@rules.command("backtest")
@config_option
@click.argument("rule_or_query", metavar="RULE")
@click.option("--since", default="30d", show_default=True, help="How far back: 30d, 12h...")
@click.option("--limit", default=50, show_default=True, help="Articles to list at most.")
@click.option(
    "--send",
    is_flag=True,
    help="Queue what the configured RULE would have alerted, through its channels.",
)
def backtest_rule(
    config_path: Path, rule_or_query: str, since: str, limit: int, send: bool
) -> None:
    """Run a configured RULE (or a draft query) over stored articles.

    Nothing is sent unless --send is given: then each article the rule would have alerted
    on is queued like a live match (once per story and channel; running it again queues
    nothing twice) and delivered now, or by the running service.
    """
    from zoneinfo import ZoneInfo

    from alerts.rules.tryout import backtest
    from crawler.db import from_iso, open_readonly, utcnow
    from crawler.durations import parse_duration

    config = load(config_path)
    rule, configured = _backtest_rule(config, rule_or_query)
    if send and not configured:
        raise click.UsageError(f"--send needs a configured rule; {rule_or_query!r} is a query")
    if send and not config.rules[rule.name].enabled:
        raise click.UsageError(f"rule {rule.name} is disabled; enable it before --send")
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    db = open_readonly(config.service.database)
    try:
        result = backtest(db, rule, since=utcnow() - window)
    finally:
        db.close()
    what = f"rule {rule.name}" if configured else f"the query {rule_or_query!r}"
    click.echo(
        f"{len(result.hits)} of {result.scanned} articles since {since} would have alerted "
        f"for {what}"
    )
    zone = ZoneInfo(config.service.timezone)
    for _, when, source, title, url in result.hits[:limit]:
        click.echo(f"  {show_time(from_iso(when), zone)}  {source}: {title}\n      {url}")
    if result.per_source:
        click.echo(
            "per source: " + ", ".join(f"{s} {n}" for s, n in result.per_source.most_common())
        )
    if send:
        _send_backtest(config, rule.name, result.matches)


def _send_backtest(config: Config, rule: str, matches: Mapping[int, RuleMatch]) -> None:
    """Queue a backtest's matches in the outbox, then deliver them unless the service runs."""
    from scheduler.commands import deliver_now, queue_backtest

    queued, skipped, mark = queue_backtest(config, rule, matches)
    again = f" ({skipped} already queued before, or their story already alerted)" if skipped else ""
    click.echo(f"queued {queued} alert{'s' * (queued != 1)} for rule {rule}{again}")
    if not queued:
        return
    lines, threads_left = deliver_now(config, mark)
    for line in lines or ["the running service (newswatch run) delivers them"]:
        click.echo(line)
    finish(0, threads_left)
