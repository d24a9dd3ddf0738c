"""``newswatch web`` (the pages over a database, read-only) and ``newswatch hash-password``."""

from __future__ import annotations

from pathlib import Path

import click

from crawler.errors import NewswatchError
from scheduler.cli import EXIT_CONFIG, config_option, fail, finish, load, main, setup_logging


@main.command()
@config_option
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Where to serve (default: [web] listen, else 127.0.0.1:8787).",
)
@click.pass_context
def web(ctx: click.Context, config_path: Path, listen: str | None) -> None:
    """Serve the web interface read-only over the database, without the service.

    For a copy of the database on a laptop, or a stopped service's archive: every page
    can be read, nothing can be changed. Stop it with Ctrl-C.
    """
    from scheduler.runloop import run_async
    from scheduler.web.standalone import listen_address, serve_readonly

    config = load(config_path)
    setup_logging(ctx, config)
    try:
        host, port = listen_address(config, listen)
    except NewswatchError as exc:
        fail(exc, EXIT_CONFIG)
    try:
        _, threads_left = run_async(serve_readonly(config, host, port))
    except NewswatchError as exc:
        fail(exc)
    finish(0, threads_left)


@main.command("hash-password")
@click.password_option(
    "--password", prompt="Password for the web interface", help="Read from a prompt if not given."
)
def hash_password_command(password: str) -> None:
    """Print the [web] password_hash line for a password (scrypt, salted)."""
    from scheduler.web.passwords import hash_password

    click.echo(f'password_hash = "{hash_password(password)}"')
