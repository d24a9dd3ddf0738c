"""Parsed rule queries kept on disk, so a config of thousands of rules loads quickly.

luqum parses a query in about 0.2-0.5 ms: 10,000 rules cost seconds at every ``check``,
``once`` and ``run`` start. The trees of the queries a config was loaded with are kept in
``$XDG_CACHE_HOME/newswatch`` (``~/.cache/newswatch``) as JSON, in a file whose name is a
hash of the parser's code and luqum's version: a changed parser never reads trees made by
another. The file holds plain data, checked node by node on reading; anything unexpected
and the file is ignored (queries are parsed again). It is only a cache: a folder that
cannot be written leaves everything working as without it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import typing
from importlib import metadata
from pathlib import Path
from typing import Any

from alerts.rules import query_ast
from alerts.rules.query_ast import Node

logger = logging.getLogger(__name__)

MAX_ENTRIES = 50_000
Trees = dict[str, Node]  # parsed trees by query text
_NODE_TYPES: dict[str, type] = {kind.__name__: kind for kind in typing.get_args(Node)}
_SCALARS: dict[str, type] = {"str": str, "bool": bool, "int": int}


class _Invalid(ValueError):
    """The file does not hold what this version writes."""


def encode(node: Node) -> list[Any]:
    """A node as JSON-ready data: ``[type name, field values...]``, children encoded too."""
    values: list[Any] = [type(node).__name__]
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if field.type == "Node":
            value = encode(value)
        elif field.type == "tuple[Node, ...]":
            value = [encode(child) for child in value]
        values.append(value)
    return values


# Per node type: its class and, per field, "node", "nodes" or the scalar type it holds.
_SPECS: dict[str, tuple[type, tuple[str | type, ...]]] = {
    name: (
        kind,
        tuple(
            "node"
            if field.type == "Node"
            else "nodes"
            if field.type == "tuple[Node, ...]"
            else _SCALARS[str(field.type)]
            for field in dataclasses.fields(kind)
        ),
    )
    for name, kind in _NODE_TYPES.items()
}


def decode(data: Any) -> Node:
    """The node :func:`encode` gave ``data`` for; :class:`_Invalid` if it is not such data."""
    if type(data) is not list or not data:
        raise _Invalid(f"not a query node: {data!r:.80}")
    spec = _SPECS.get(data[0])
    if spec is None or len(data) != len(spec[1]) + 1:
        raise _Invalid(f"not a query node: {data!r:.80}")
    kind, fields = spec
    values: list[Any] = []
    for field, value in zip(fields, data[1:], strict=True):
        if field == "node":
            values.append(decode(value))
        elif field == "nodes":
            if type(value) is not list:
                raise _Invalid(f"{data[0]}: children are not a list")
            values.append(tuple(decode(child) for child in value))
        elif type(value) is field:
            values.append(value)
        else:
            raise _Invalid(f"{data[0]}: {value!r:.40} is not a {field}")
    return typing.cast(Node, kind(*values))


def cache_file() -> Path:
    """Where the trees are kept for this parser version."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newswatch" / f"queries-{_code_version()}.json"


def _code_version() -> str:
    from alerts.rules import query

    digest = hashlib.sha256()
    for module in (query, query_ast):
        digest.update(Path(module.__file__ or "").read_bytes())
    with contextlib.suppress(metadata.PackageNotFoundError):
        digest.update(metadata.version("luqum").encode())
    return digest.hexdigest()[:16]


def load() -> Trees:
    """The kept trees by query text; empty when there is no usable file."""
    try:
        path = cache_file()
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise _Invalid("not an object")
        return {text: decode(data) for text, data in raw.items() if isinstance(text, str)}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as exc:  # _Invalid, JSON errors included
        logger.debug("query cache ignored: %s", exc)
        return {}


def save(known: Trees, new: Trees) -> None:
    """Keep ``new`` trees with the ``known`` ones (the newest MAX_ENTRIES), atomically."""
    entries = {**known, **new}
    texts = list(entries)[-MAX_ENTRIES:]
    try:
        path = cache_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({text: encode(entries[text]) for text in texts}, ensure_ascii=False)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=".queries-", delete=False
        ) as out:
            out.write(payload)
        os.replace(out.name, path)
    except OSError as exc:
        logger.debug("query cache not written: %s", exc)
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(out.name)
