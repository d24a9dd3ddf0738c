"""Configuration problems: what was wrong, at which dotted key, and how to fix it.

Pydantic's errors are translated into :class:`Problem` records whose messages say what was
expected and what was found, in TOML terms ("expected an integer, found string 'abc'").
Values of secret keys are never repeated in a message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from difflib import get_close_matches
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

SECRET_KEYS = frozenset({"password", "password_hash", "secret", "headers"})
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "an array",
    "tuple_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "path_type": "a file path string",
    "string_too_short": "a non-empty string",
}
_BOUNDS = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration, at a dotted key path like ``sources.kt.url``."""

    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text


def dotted(loc: Iterable[str | int]) -> str:
    """Render a location as ``rules.x.channels[1]``; keys that are not bare TOML keys are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        key = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
        out = f"{out}.{key}" if out else key
    return out


def toml_keys(model: type[BaseModel]) -> list[str]:
    """The keys a TOML table for ``model`` may hold (aliases such as ``from`` included)."""
    # A source's name is its table key, never a key inside the table.
    return [f.alias or name for name, f in model.model_fields.items() if name != "name"]


def describe(value: Any, *, secret: bool = False) -> str:
    """Name a found value in TOML terms; secrets are described by type only."""
    kinds: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "boolean"),
        ((int, float), "number"),
        (str, "string"),
        (datetime, "date-time"),
        ((date, time), "date"),
    ]
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    for kind, name in kinds:
        if isinstance(value, kind):
            if secret:
                return f"a {name}"
            shown = json.dumps(value) if isinstance(value, bool) else repr(value)
            shown = str(value) if isinstance(value, datetime | date | time) else shown
            return f"{name} {shown[:80]}"
    return type(value).__name__


def unknown_key(
    key: str, model: type[BaseModel], family: Mapping[str, type[BaseModel]] | None = None
) -> Problem:
    """Report ``key`` as unknown with the nearest valid key, or the variant it belongs to."""
    keys = toml_keys(model)
    this_type = model.model_fields["type"].default if "type" in model.model_fields else None
    owners = [name for name, other in (family or {}).items() if key in toml_keys(other)]
    if owners and this_type:
        return Problem(
            key,
            f"unknown key for type {this_type!r} ({key!r} belongs to type "
            + " and ".join(repr(owner) for owner in owners)
            + ")",
        )
    close = get_close_matches(key, keys, n=1)
    if close:
        return Problem(key, f"unknown key (did you mean {close[0]!r}?)")
    return Problem(key, "unknown key", f"valid keys here: {', '.join(sorted(keys))}")


def translate(
    errors: Iterable[ErrorDetails],
    prefix: Sequence[str | int],
    model: type[BaseModel],
    family: Mapping[str, type[BaseModel]] | None = None,
) -> list[Problem]:
    """Turn pydantic errors for one table (at ``prefix``) into problems with dotted paths."""
    errors = list(errors)
    problems = []
    for error in errors:
        if error["type"] == "too_short" and _has_item_errors(error["loc"], errors):
            continue  # the bad items explain the short array better than its length does
        loc = [*prefix, *error["loc"]]
        ctx = error.get("ctx") or {}
        if error["type"] == "extra_forbidden":
            found = unknown_key(str(error["loc"][-1]), model, family)
            problems.append(Problem(dotted(loc), found.message, found.hint))
            continue
        if error["type"] == "newswatch" and ctx.get("key"):
            loc.append(ctx["key"])
        secret = any(part in SECRET_KEYS for part in error["loc"])
        hint = ctx.get("hint") or _quoted_hint(error, secret)
        problems.append(Problem(dotted(loc), _message(error, secret), hint))
    return problems


def _parses(kind: type[int] | type[float], text: str) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def _quoted_hint(error: ErrorDetails, secret: bool) -> str | None:
    """For ``enabled = "false"`` or ``port = "8025"``: say to drop the quotes."""
    value, loc = error.get("input"), error["loc"]
    if not isinstance(value, str) or secret or not loc or not isinstance(loc[-1], str):
        return None
    text, kind = value.strip(), error["type"]
    fits = (
        (kind == "bool_type" and text.lower() in ("true", "false"))
        or (kind == "int_type" and _parses(int, text))
        or (kind == "float_type" and _parses(float, text))
    )
    if not fits:
        return None
    shown = text.lower() if kind == "bool_type" else text
    return f"write it without quotes: {loc[-1]} = {shown}"


def _has_item_errors(loc: tuple[str | int, ...], errors: list[ErrorDetails]) -> bool:
    return any(len(e["loc"]) > len(loc) and e["loc"][: len(loc)] == loc for e in errors)


def _message(error: ErrorDetails, secret: bool) -> str:
    """What was expected and what was found, for one pydantic error."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    found = describe(value, secret=secret)
    if kind == "newswatch":
        return str(ctx["reason"])
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"expected one of {ctx['expected']}, found {found}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, found {found}"
    for bound, words in _BOUNDS.items():
        if bound in ctx and kind.endswith(("_than", "_than_equal")):
            return f"expected a number {words} {ctx[bound]}, found {found}"
    if kind == "too_short":
        if ctx["actual_length"] == 0:
            return "expected at least one item, found an empty array"
        return f"expected at least {ctx['min_length']} items, found {ctx['actual_length']}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{message}, found {found}"
