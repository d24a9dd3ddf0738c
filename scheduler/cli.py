"""The ``newswatch`` command line: each command builds objects and calls one function.

Exit codes: 0 when the command completed (broken sources are reported, not fatal), 2 for
configuration errors, 1 for anything else that stopped the command.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from crawler.errors import NewswatchError
from scheduler.config import Config, load_config
from scheduler.errors import ConfigError
from scheduler.logs import configure_logging

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def config_option(func: F) -> F:
    """The ``--config PATH`` option every command takes."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="NEWSWATCH_CONFIG",
        default="config.toml",
        show_default=True,
        show_envvar=True,
        help="The configuration file.",
    )(func)


def fail(error: BaseException, code: int = EXIT_FAILURE) -> NoReturn:
    """Print an error the user can act on (no traceback) and exit."""
    click.echo(f"error: {error}", err=True)
    sys.exit(code)


def load(config_path: Path) -> Config:
    """Load the config or exit 2 with every problem listed."""
    try:
        return load_config(config_path)
    except ConfigError as exc:
        fail(exc, EXIT_CONFIG)


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
def main(ctx: click.Context, verbose: int, log_format: str) -> None:
    """newswatch: watch news feeds and sites, match keyword rules, send alerts."""
    ctx.obj = {"verbose": verbose, "log_format": log_format}


def setup_logging(ctx: click.Context, config: Config) -> None:
    """Configure logging from the config's level and the global options."""
    opts = ctx.find_root().obj or {}
    configure_logging(
        config.service.log_level, opts.get("log_format", "text"), opts.get("verbose", 0)
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
    """Poll every source now, match, deliver what is due, and exit (for cron)."""
    from scheduler.commands import run_once

    config = load(config_path)
    setup_logging(ctx, config)
    try:
        report, threads_left = run_once(config)
    except NewswatchError as exc:
        fail(exc)
    for line in report:
        click.echo(line)
    finish(EXIT_OK, threads_left)


@main.command()
@config_option
def check(config_path: Path) -> None:
    """Validate the configuration and warn about rules that look wrong."""
    from scheduler.commands import check_config

    config = load(config_path)
    summary, warnings = check_config(config)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(summary)


# Command groups in their own modules register themselves on ``main`` when imported.
from scheduler import cli_alerts, cli_ops, cli_rules, cli_stories, cli_web  # noqa: E402,F401
