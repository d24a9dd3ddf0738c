"""SQLite's spelling of a store module's query, rewritten for PostgreSQL.

The store modules write their queries once, in SQL both engines run the same way; what
SQLite spells its own way is rewritten here, outside quoted strings and identifiers:

* ``?`` and ``:name`` parameters become psycopg's ``%s`` and ``%(name)s``;
* ``INSERT OR IGNORE INTO ...`` becomes ``INSERT INTO ... ON CONFLICT DO NOTHING``;
* ``x IS NOT ?`` / ``x IS ?`` compare as ``IS [NOT] DISTINCT FROM``;
* a unary ``+`` before a column (SQLite's "do not use an index on this" hint) is dropped;
* ``group_concat(x)`` becomes ``string_agg(x, ',')``;
* ``date(column, ?)`` with a ``'+N minutes'`` shift becomes the same day in PostgreSQL.

Anything else must already be common SQL; a query PostgreSQL rejects fails loudly.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Quoted strings and identifiers pass through untouched.
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_IGNORE = re.compile(r"\bINSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_IS_NOT = re.compile(r"\bIS\s+NOT\s+(?=%s)", re.IGNORECASE)
_IS = re.compile(r"\bIS\s+(?=%s)", re.IGNORECASE)
_HINT = re.compile(r"(\bBY\s+|,\s*|\bAND\s+|\bWHERE\s+|\(\s*)\+(?=[A-Za-z_])", re.IGNORECASE)
_GROUP_CONCAT = re.compile(r"\bgroup_concat\(([^()]*)\)", re.IGNORECASE)
_DATE_SHIFT = re.compile(r"\bdate\(([\w.]+),\s*%s\)", re.IGNORECASE)


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The PostgreSQL text of a store module's query (cached: queries repeat)."""
    parts: list[str] = []
    position = 0
    for quoted in _QUOTED.finditer(sql):
        parts.append(_translate_bare(sql[position : quoted.start()]))
        parts.append(quoted.group(0).replace("%", "%%"))
        position = quoted.end()
    parts.append(_translate_bare(sql[position:]))
    text = "".join(parts)
    if _IGNORE.search(text):
        text = _IGNORE.sub("INSERT INTO", text)
        returning = _RETURNING.search(text)
        if returning:
            at = returning.start()
            text = f"{text[:at]}ON CONFLICT DO NOTHING {text[at:]}"
        else:
            text = f"{text.rstrip()} ON CONFLICT DO NOTHING"
    return text


def _translate_bare(chunk: str) -> str:
    chunk = chunk.replace("%", "%%").replace("?", "%s")
    chunk = _NAMED.sub(r"%(\1)s", chunk)
    chunk = _IS_NOT.sub("IS DISTINCT FROM ", chunk)
    chunk = _IS.sub("IS NOT DISTINCT FROM ", chunk)
    chunk = _HINT.sub(r"\1", chunk)
    chunk = _GROUP_CONCAT.sub(r"string_agg(\1, ',')", chunk)
    return _DATE_SHIFT.sub(r"to_char((\1)::timestamptz + (%s)::interval, 'YYYY-MM-DD')", chunk)
