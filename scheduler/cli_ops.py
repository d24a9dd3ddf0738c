"""Operator commands: ``newswatch status`` and ``newswatch init``.

Imported at the end of :mod:`scheduler.cli` so the commands register on its ``main`` group.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click

from crawler.errors import NewswatchError
from scheduler.cli import config_option, fail, load, main

STARTER_CONFIG = "starter_config.toml"


def write_starter_config(folder: Path, *, force: bool = False) -> Path:
    """Write the commented starter ``config.toml`` into ``folder``; FileExistsError if present."""
    text = files("scheduler").joinpath(STARTER_CONFIG).read_text(encoding="utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    # "x" refuses an existing file atomically, so two inits cannot both write.
    with path.open("w" if force else "x", encoding="utf-8") as out:
        out.write(text)
    return path


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(config_path: Path, as_json: bool) -> None:
    """Show each source's last poll, rule matches, the outbox and the database size.

    Safe while the service runs: the database is opened read-only. Times are shown in
    the configured [service] timezone.
    """
    from crawler.db import utcnow
    from scheduler.status import gather_status, render_json, render_table

    config = load(config_path)
    try:
        snapshot = gather_status(config, utcnow())
    except NewswatchError as exc:
        fail(exc)
    click.echo(render_json(snapshot) if as_json else render_table(snapshot))


@main.command()
@click.argument(
    "folder", default=".", type=click.Path(file_okay=False, path_type=Path), required=False
)
@click.option("--force", is_flag=True, help="Overwrite an existing config.toml.")
def init(folder: Path, force: bool) -> None:
    """Write a commented starter config.toml into FOLDER (default: current folder).

    An existing config.toml is left alone unless --force is given.
    """
    try:
        path = write_starter_config(folder, force=force)
    except FileExistsError:
        fail(
            NewswatchError(
                f"{folder / 'config.toml'} already exists; not overwriting it",
                hint="pass --force to replace it, or choose another folder",
            )
        )
    except OSError as exc:
        fail(NewswatchError(f"cannot write {folder / 'config.toml'}: {exc.strerror or exc}"))
    click.echo(f"wrote {path}")
    click.echo(f"next: edit its sources and rules, then run: newswatch check --config {path}")


@main.command()
@config_option
@click.option(
    "--to",
    "target",
    required=True,
    metavar="postgresql://USER@HOST:PORT/NAME",
    help="The PostgreSQL database to copy into (created tables, kept rows).",
)
def migrate(config_path: Path, target: str) -> None:
    """Copy the SQLite database of [service] database into PostgreSQL.

    Articles, stories, matches, the outbox, notices, mutes and the sources' state are
    copied with their ids; running it again (after an interruption, or to catch up)
    copies what is missing and updates what changed, never duplicating a row. Stop the
    service first, then point [service] database at the new address (docs/scaling.md).
    """
    from crawler.db import PostgresUrl, postgres_url

    config = load(config_path)
    source = config.service.database
    url = postgres_url(target)
    if isinstance(source, PostgresUrl):
        fail(NewswatchError(f"[service] database is already PostgreSQL ({source.redacted})"))
    if url is None:
        fail(NewswatchError(f"--to {target!r} is not a postgresql:// address"))
    try:
        from crawler.pg.migrate import migrate as copy
    except ImportError:
        fail(
            NewswatchError(
                "PostgreSQL support is not installed: pip install 'newswatch[postgresql]'"
            )
        )
    click.echo(f"copying {source} into {url.redacted}")
    try:
        report = copy(source, str(url))
    except NewswatchError as exc:
        fail(exc)
    for table in report.tables:
        mark = "" if table.complete else "  (differs: is the service still running?)"
        click.echo(
            f"  {table.table}: {table.source_rows} rows, {table.target_rows} in PostgreSQL{mark}"
        )
    if not report.complete:
        fail(NewswatchError("row counts differ; run the command again with the service stopped"))
    click.echo("done: set [service] database to the new address and start the workers")
