"""Change ``config.toml`` from a program, keeping its comments and layout.

An edit is a function of the parsed document (tomlkit keeps every comment, blank line
and key order). :func:`edit_config` applies it, validates the result exactly as
``newswatch check`` does (:func:`scheduler.config.load_config`, then the rule warnings),
and writes it only when it is valid: an invalid result raises :class:`ConfigError` with
every problem and leaves the file alone. A *version* (a hash of the file's bytes) read
with the form guards against overwriting a change made meanwhile by someone else.

The file is replaced atomically (a temporary file in the same folder, then a rename);
where that is impossible (a single-file bind mount, a read-only folder) it is rewritten
in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.items import Comment, Item, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

from scheduler.config import Config, load_config
from scheduler.config_types import NAME_PATTERN
from scheduler.errors import ConfigEditError

Edit = Callable[[TOMLDocument], None]


@dataclass(frozen=True, slots=True)
class Saved:
    """A written configuration: what it now says, ``check``'s warnings, its new version."""

    config: Config
    warnings: list[str]
    version: str


def config_version(text: str | bytes) -> str:
    """A short fingerprint of the file's content, sent with a form and checked on save."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def read_config_text(path: Path) -> tuple[str, str]:
    """The file's text and version."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigEditError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return data.decode("utf-8"), config_version(data)


def raw_table(path: Path, section: str, name: str) -> dict[str, Any] | None:
    """One ``[section.name]`` table as written (``${VAR}`` not expanded), or None."""
    text, _ = read_config_text(path)
    table = tomllib.loads(text).get(section, {}).get(name)
    return dict(table) if isinstance(table, dict) else None


def edit_config(
    path: Path,
    edit: Edit,
    *,
    expected_version: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Saved:
    """Apply ``edit`` to the file, validate the result like ``check``, and write it.

    ConfigError (nothing written) when the result is invalid; ConfigEditError when the file
    changed since ``expected_version`` was read, or cannot be written.
    """
    from scheduler.commands import check_config

    text, version = read_config_text(path)
    if expected_version is not None and expected_version != version:
        raise ConfigEditError(
            f"{path.name} was changed by someone else since this page was loaded",
            hint="reload the page to see the current file, then make the change again",
        )
    document = tomlkit.parse(text)
    edit(document)
    new_text = tomlkit.dumps(document)
    config = load_config(path, environ=environ, text=new_text)
    _, warnings = check_config(config)
    _write(path, new_text)
    return Saved(config, warnings, config_version(new_text))


def _write(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    try:
        mode = path.stat().st_mode & 0o7777
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError:
        _write_in_place(path, data)
        return
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        # A bind-mounted file cannot be replaced by a rename (EBUSY); write it where it is.
        _write_in_place(path, data)


def _write_in_place(path: Path, data: bytes) -> None:
    try:
        with path.open("r+b") as out:
            out.write(data)
            out.truncate()
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise ConfigEditError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="the web interface saves config.toml where the service reads it; give the "
            "service write access to that file (docs/web.md)",
        ) from exc


# --- edits ---------------------------------------------------------------------------------


def check_new_name(document: TOMLDocument, section: str, name: str) -> None:
    """ConfigEditError unless ``name`` is a valid, unused table key in ``section``."""
    kind = section.removesuffix("s")
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigEditError(
            f"invalid {kind} name {name!r}",
            hint="letters, digits, '_', '.' and '-', starting with a letter or digit",
        )
    if name in document.get(section, {}):
        raise ConfigEditError(f"a {kind} named {name!r} already exists", hint="pick another name")


def put_table(
    document: TOMLDocument,
    section: str,
    name: str,
    values: Mapping[str, Any],
    *,
    create: bool,
) -> None:
    """Create ``[section.name]`` or update its keys; a value of None removes that key.

    Keys not in ``values`` are left as they are, with their comments.
    """
    if create:
        check_new_name(document, section, name)
        table = tomlkit.table()
        for key, value in values.items():
            if value is not None:
                table.add(key, _item(value))
        table.add(tomlkit.nl())
        if section not in document:
            document.add(tomlkit.nl())
            document[section] = tomlkit.table(is_super_table=True)
        container = document[section]
        container[name] = table
        return
    table = _existing(document, section, name)
    for key, value in values.items():
        if value is None:
            if key in table:
                del table[key]
        elif key not in table:
            _add_key(table, key, _item(value))
        elif table[key] != value:
            table[key] = _item(value)


def set_enabled(document: TOMLDocument, section: str, name: str, enabled: bool) -> None:
    """Pause or resume a rule or source: ``enabled = false``, or no key (the default)."""
    table = _existing(document, section, name)
    if enabled:
        if "enabled" in table:
            del table["enabled"]
    elif "enabled" in table:
        table["enabled"] = False
    else:
        _add_key(table, "enabled", tomlkit.item(False))


def remove_table(document: TOMLDocument, section: str, name: str) -> None:
    """Delete ``[section.name]`` and the comment lines right above it; comments written
    after it (about what follows) stay."""
    table = _existing(document, section, name)
    trailing = _trailing_notes(table)
    previous = _table_before(document, (section, name))
    del document[section][name]
    if previous is None:
        return
    body = previous.value.body
    while body and body[-1][0] is None and isinstance(body[-1][1], Comment):
        body.pop()  # tomlkit keeps a table's heading comments at the end of the one before
    if trailing:
        if body and isinstance(body[-1][1], Whitespace):
            while trailing and isinstance(trailing[0], Whitespace):
                trailing.pop(0)
        for item in trailing:
            body.append((None, item))


def _existing(document: TOMLDocument, section: str, name: str) -> Table:
    table = document.get(section, {}).get(name)
    if not isinstance(table, Table):
        kind = section.removesuffix("s")
        raise ConfigEditError(f"no {kind} named {name!r} in the configuration")
    return table


def _add_key(table: Table, key: str, item: Item) -> None:
    """Add a key after the table's last key, before the blank lines and comments that
    separate it from the next table (``table[key] = ...`` would append after those)."""
    keys = [k for k, _ in table.value.body if k is not None]
    if keys:
        table.value._insert_after(keys[-1], key, item)  # tomlkit has no public "insert"
    else:
        table.add(key, item)


def _item(value: Any) -> Item:
    if isinstance(value, str) and "\n" in value:
        return tomlkit.string(value, multiline=True)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tomlkit.item(list(value))
    return tomlkit.item(value)


def _trailing_notes(table: Table) -> list[Item]:
    """The comments after a table's last key, with the blank lines around them."""
    body = table.value.body
    tail: list[Item] = []
    for key, item in reversed(body):
        if key is not None or not isinstance(item, Comment | Whitespace):
            break
        tail.insert(0, item)
    return tail if any(isinstance(item, Comment) for item in tail) else []


def _tables_in_order(container: Container, path: tuple[str, ...] = ()) -> Iterator[Any]:
    for key, item in container.body:
        if key is None or not isinstance(item, Table):
            continue
        if item.is_super_table():
            yield from _tables_in_order(item.value, (*path, key.key))
        else:
            yield (*path, key.key), item


def _table_before(document: TOMLDocument, path: tuple[str, str]) -> Table | None:
    previous = None
    for where, table in _tables_in_order(document):
        if where == path:
            return previous
        previous = table
    return None
