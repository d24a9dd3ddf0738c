"""The ``newswatch`` command line: each command builds objects and calls one function.

Exit codes: 0 when the command completed (broken sources are reported, not fatal), 2 for
configuration errors and unknown names, 3 when ``once`` polled sources and every one of
them failed, 1 for anything else that stopped the command.

Startup time matters (``newswatch --help``, ``status``): this module and the command
modules import only click at load time; everything heavier is imported inside the command
that needs it.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from crawler.errors import NewswatchError

if TYPE_CHECKING:
    from scheduler.config import Config

# newswatch uses no pydantic plugins. Looking for them reads the entry points of every
# installed package, a noticeable part of the start of commands that load the config.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_ALL_SOURCES_FAILED = 0, 1, 2, 3
CONFIG_ENV_VAR = "NEWSWATCH_CONFIG"
DEFAULT_CONFIG = Path("config.toml")
_CONFIG_HELP = (
    "The configuration file. Also accepted before the command; "
    f"default: ${CONFIG_ENV_VAR}, else ./config.toml."
)


def _resolve_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path:
    """The command's --config, else the one given before the command, else the default."""
    root = ctx.find_root().obj or {}
    if value is not None:
        root["config_given"] = True
        return value
    given = root.get("config_path")
    return Path(given) if given else DEFAULT_CONFIG


def config_option(func: F) -> F:
    """The ``--config PATH`` option every command takes (after the command name)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        callback=_resolve_config,
        help=_CONFIG_HELP,
    )(func)


def config_given(ctx: click.Context) -> bool:
    """Whether the user named a config file (option before or after the command, or env)."""
    return bool((ctx.find_root().obj or {}).get("config_given"))


def fail(error: BaseException, code: int = EXIT_FAILURE) -> NoReturn:
    """Print an error the user can act on (no traceback) and exit."""
    click.echo(f"error: {error}", err=True)
    sys.exit(code)


def load(config_path: Path) -> Config:
    """Load the config or exit 2 with every problem listed."""
    from scheduler.config import load_config
    from scheduler.errors import ConfigError
    from scheduler.heap import building

    try:
        with building():
            config = load_config(config_path)
    except ConfigError as exc:
        fail(exc, EXIT_CONFIG)
    from alerts.rules.query import keep_parsed

    keep_parsed()
    return config


def unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    """Why ``name`` is not a configured ``kind`` (rule, source, channel), with the closest one."""
    known = sorted(known)
    close = get_close_matches(name, known, n=1)
    if close:
        return f"{kind} {name!r} is not configured (did you mean {close[0]!r}?)"
    if not known:
        return f"{kind} {name!r} is not configured (no {kind}s are configured)"
    return f"{kind} {name!r} is not configured (configured {kind}s: {', '.join(known)})"


def require_name(kind: str, name: str, known: Iterable[str], param_hint: str) -> None:
    """Exit 2 with :func:`unknown_name` unless ``name`` is one of ``known``."""
    known = list(known)
    if name not in known:
        raise click.BadParameter(unknown_name(kind, name, known), param_hint=param_hint)


def show_time(moment: datetime | None, zone: tzinfo) -> str:
    """A time as people read it: ``2026-11-24 16:00 +07`` in ``zone``, or ``-``."""
    if moment is None:
        return "-"
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def finish(code: int, threads_left: bool) -> NoReturn:
    """Exit now, even if a network call in a worker thread has not returned yet."""
    if threads_left:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


class NewswatchGroup(click.Group):
    """A command group that turns unexpected errors into one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except NewswatchError as exc:
            fail(exc)
        except Exception as exc:
            if (ctx.obj or {}).get("verbose"):
                traceback.print_exc()
            fail(
                RuntimeError(
                    f"unexpected {type(exc).__name__}: {exc} (run with -v to see the details)"
                )
            )


@click.group(cls=NewswatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=CONFIG_ENV_VAR,
    show_envvar=True,
    help="The configuration file, for every command [default: ./config.toml].",
)
@click.option("-v", "--verbose", count=True, help="More logging (-v debug, -vv library debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log line format on stderr.",
)
@click.version_option(package_name="newswatch")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, verbose: int, log_format: str) -> None:
    """newswatch: watch news feeds and sites, match keyword rules, send alerts."""
    ctx.obj = {
        "verbose": verbose,
        "log_format": log_format,
        "config_path": config_path,
        "config_given": config_path is not None,
    }


def setup_logging(
    ctx: click.Context, config: Config, *, skip: Callable[[str], bool] | None = None
) -> None:
    """Configure logging from the config's level, its timezone and the global options.

    ``skip`` drops log lines whose message it accepts (lines the command prints anyway).
    """
    from scheduler.logs import configure_logging

    opts = ctx.find_root().obj or {}
    configure_logging(
        config.service.log_level,
        opts.get("log_format", "text"),
        opts.get("verbose", 0),
        timezone=config.service.timezone,
        skip=skip,
    )


@main.command()
@config_option
@click.pass_context
def run(ctx: click.Context, config_path: Path) -> None:
    """Run as a service: poll every source on its schedule until SIGTERM or Ctrl-C."""
    from scheduler.commands import run_service

    config = load(config_path)
    setup_logging(ctx, config)
    try:
        code, threads_left = run_service(config)
    except NewswatchError as exc:
        fail(exc)
    finish(code, threads_left)


@main.command()
@config_option
@click.pass_context
def once(ctx: click.Context, config_path: Path) -> None:
    """Poll every source now, match, deliver what is due, and exit (for cron).

    Prints one line per source. Exits 0 even when some sources failed, and 3 when every
    source polled failed (a total outage a cron job should notice).
    """
    from scheduler.commands import run_once

    config = load(config_path)
    prefixes = tuple(f"poll {name}: " for name in config.sources)
    # Each source's poll line is printed on stdout below; the same line logged on stderr
    # would show it twice.
    setup_logging(ctx, config, skip=lambda message: message.startswith(prefixes))
    try:
        report, threads_left = run_once(config)
    except NewswatchError as exc:
        fail(exc)
    for line in report.lines:
        click.echo(line)
    finish(EXIT_ALL_SOURCES_FAILED if report.all_failed else EXIT_OK, threads_left)


@main.command()
@config_option
@click.option(
    "--fetch",
    is_flag=True,
    help="Also fetch every enabled rss and sitemap source once (nothing is stored).",
)
def check(config_path: Path, fetch: bool) -> None:
    """Validate the configuration and warn about rules that look wrong.

    With --fetch, every enabled feed and sitemap is also fetched and read once, as a poll
    would: a source that fails is named with the reason (a web page instead of a feed is
    named with the feeds it advertises), and the command exits 1.
    """
    from scheduler.commands import check_config

    config = load(config_path)
    summary, warnings = check_config(config)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(summary)
    if fetch:
        from scheduler.sources_edit import try_sources

        tried = try_sources(config)
        failed = {name: trial.problem for name, trial in tried.items() if trial.problem}
        for name, problem in failed.items():
            click.echo(f"problem: sources.{name}: {problem}", err=True)
        click.echo(f"fetched {len(tried)} source{'s' * (len(tried) != 1)}, {len(failed)} failed")
        if failed:
            sys.exit(EXIT_FAILURE)


# Command groups in their own modules register themselves on ``main`` when imported.
from scheduler import (  # noqa: E402,F401
    cli_alerts,
    cli_archive,
    cli_ops,
    cli_rules,
    cli_sources,
    cli_stories,
    cli_web,
)
