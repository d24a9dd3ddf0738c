"""Storage has one owner: SQL lives in the store modules, each table is written by its owner.

The schema (every CREATE and ALTER) is in crawler/schema.py. The crawler's store modules
never name an alerts table, so the crawler cannot copy the alerts' knowledge (the outbox
states); the alerts' store modules may read the crawler's tables but write only their own.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("crawler", "alerts", "scheduler")
CRAWLER_TABLES = {
    "sources",
    "articles",
    "articles_fts",
    "stories",
    "story_signatures",
    "story_bands",
    "story_briefs",
    "story_meta",
    "google_news_links",
}
ALERT_TABLES = {"matches", "outbox", "notices", "digest_runs", "mutes", "source_health"}
# Only PostgreSQL has them: the state the workers share.
CLUSTER_TABLES = {"schema_version", "workers", "source_leases", "hosts", "cluster_jobs"}
STORE_MODULES = {
    "crawler/db.py": set(),  # connections, transactions, PRAGMAs: no table
    "crawler/schema.py": CRAWLER_TABLES | ALERT_TABLES,  # declares them all
    "crawler/store.py": {"sources", "articles"},
    "crawler/fulltext.py": {"articles_fts"},  # the search index, kept in step by store.py
    "crawler/link_store.py": {"google_news_links"},
    "crawler/story_store.py": {
        "stories",
        "story_signatures",
        "story_bands",
        "story_briefs",
        "story_meta",
    },
    "alerts/outbox/store.py": {"matches", "outbox"},
    "alerts/outbox/matches.py": set(),  # reads only
    "alerts/outbox/notices.py": {"notices", "digest_runs", "outbox"},  # a digest's alerts
    "alerts/outbox/mutes.py": {"mutes"},
    "alerts/outbox/source_health.py": {"source_health"},
    "alerts/outbox/admin.py": {"outbox", "notices"},  # `alerts retry`
    # PostgreSQL: the same tables declared in its types; the adapter writes what a store
    # module asks it to (table names given by the caller, so none appears here).
    "crawler/pg/schema.py": CRAWLER_TABLES | ALERT_TABLES | CLUSTER_TABLES,
    "crawler/pg/dialect.py": set(),
    "crawler/pg/cluster.py": CLUSTER_TABLES - {"schema_version"},
    # Copies every table the schema names, by name from crawler/pg/schema.py.
    "crawler/pg/migrate.py": set(),
    "crawler/pg/connection.py": set(),
    "scheduler/browse.py": set(),  # Datasette's canned queries, run read-only
}
SQL = re.compile(
    r"\b(SELECT\b.*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|CREATE\s+(UNIQUE\s+)?(TABLE|INDEX)|ALTER\s+TABLE|DROP\s+(TABLE|INDEX)|PRAGMA\s+\w+"
    r"|BEGIN\s+IMMEDIATE)\b",
    re.DOTALL,
)
# "ON CONFLICT ... DO UPDATE SET" names no table: "SET" is dropped below.
# "SELECT ... FOR UPDATE SKIP LOCKED" locks rows; it writes nothing.
WRITES = re.compile(r"\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|DELETE\s+FROM|(?<!FOR )UPDATE)\s+(\w+)")
NAMES = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+(\w+)")
RAW_CALLS = {"execute", "executemany", "executescript", "query"}
TABLE_WRITES = {"insert", "upsert", "update", "delete", "delete_where", "create"}


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def name_of(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def sql_strings(tree: ast.Module) -> list[str]:
    """String constants (f-string parts included) that read as SQL; docstrings left out."""
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            docstrings.add(id(first.value))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and SQL.search(node.value)
    ]


def table_api_writes(tree: ast.Module) -> set[str]:
    """Tables written through sqlite-utils' table API: db["outbox"] or db.table("outbox")."""
    written = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr in TABLE_WRITES):
            continue
        table = node.value
        if isinstance(table, ast.Subscript) and isinstance(table.slice, ast.Constant):
            written.add(table.slice.value)
        elif (
            isinstance(table, ast.Call)
            and isinstance(table.func, ast.Attribute)
            and table.func.attr == "table"
            and table.args
            and isinstance(table.args[0], ast.Constant)
        ):
            written.add(table.args[0].value)
    return written


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def test_storage_sql_is_written_only_in_store_modules():
    offenders = {}
    for path in modules():
        if name_of(path) in STORE_MODULES:
            continue
        tree = parse(path)
        found = sql_strings(tree)
        found += [
            f".{node.func.attr}(...)"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RAW_CALLS
            and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "re")
        ]
        if found:
            offenders[name_of(path)] = found
    assert offenders == {}, "move these queries into a store module (see crawler/schema.py)"


def test_storage_store_modules_write_only_the_tables_they_own():
    wrong = {}
    for name, owned in STORE_MODULES.items():
        tree = parse(ROOT / name)
        written = {t for sql in sql_strings(tree) for t in WRITES.findall(sql)} - {"SET"}
        written |= table_api_writes(tree)
        if written - owned:
            wrong[name] = sorted(written - owned)
    assert wrong == {}


def test_storage_schema_is_declared_in_one_place():
    elsewhere = {
        name_of(path): found
        for path in modules()
        if name_of(path) not in ("crawler/schema.py", "crawler/pg/schema.py")
        and (found := [s for s in sql_strings(parse(path)) if re.search(r"CREATE|ALTER|DROP", s)])
    }
    assert elsewhere == {}


def test_storage_crawler_never_names_an_alerts_table():
    named = {}
    for path in (ROOT / "crawler").rglob("*.py"):
        if name_of(path) in ("crawler/schema.py", "crawler/pg/schema.py"):
            continue
        tables = {t for sql in sql_strings(parse(path)) for t in NAMES.findall(sql)}
        if tables & ALERT_TABLES:
            named[name_of(path)] = sorted(tables & ALERT_TABLES)
    assert named == {}, "ask the alerts side through a callable, as retention does"


def test_storage_checks_see_sql():
    tree = ast.parse(
        '"""SELECT x FROM docstring"""\n'
        'q = f"UPDATE outbox SET state = {s!r} WHERE id = ?"\n'
        'db["articles"].update(1, {})\n'
        'db.table("matches").insert({})\n'
    )
    assert sql_strings(tree) == ["UPDATE outbox SET state = "]
    assert table_api_writes(tree) == {"articles", "matches"}
