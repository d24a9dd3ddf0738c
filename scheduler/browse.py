"""``newswatch browse``: the database in Datasette, read-only, on 127.0.0.1.

Datasette (an optional extra, ``newswatch[browse]``) opens the file with ``mode=ro``: it
never writes it, so it is safe beside the running service. :func:`browse_metadata` titles
and describes the tables, hides the search index's internals, adds facets by rule and
source, and the canned queries analysts ask for most. Its SQL is read-only and lives here
because it is Datasette's configuration, not a query newswatch runs.
"""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.errors import BrowseUnavailableError

if TYPE_CHECKING:
    from datasette.app import Datasette

HOST = "127.0.0.1"

# Canned queries: name -> (title, description, SQL). Datasette runs them read-only.
CANNED: dict[str, tuple[str, str, str]] = {
    "latest_matches": (
        "Latest matches",
        "The newest 100 matches, with the article each rule matched.",
        """select m.matched_at, m.rule, a.source, a.title, a.url, a.published, a.story_id
from matches m join articles a on a.id = m.article_id
order by m.matched_at desc limit 100""",
    ),
    "matches_by_rule": (
        "Matches by rule",
        "Every match of one rule, newest first.",
        """select m.matched_at, a.source, a.title, a.url, a.published, a.story_id
from matches m join articles a on a.id = m.article_id
where m.rule = :rule order by m.matched_at desc limit 500""",
    ),
    "stories_this_week": (
        "Stories this week",
        "Stories with an article fetched in the last 7 days: their size and outlets.",
        """select s.id, s.title, count(a.id) as articles,
  group_concat(distinct a.source) as outlets, min(a.fetched) as first_seen,
  max(a.fetched) as last_seen
from stories s join articles a on a.story_id = s.id
where s.id in (select story_id from articles where fetched >= datetime('now', '-7 days'))
group by s.id order by last_seen desc limit 200""",
    ),
    "failing_sources": (
        "Failing sources",
        "Sources whose last poll failed, most failures first.",
        """select name, type, url, failures, last_status, last_error, last_poll, last_success
from sources where failures > 0 order by failures desc, name""",
    ),
    "outbox_problems": (
        "Delivery problems",
        "Alerts that failed or are waiting to be retried, with the last error.",
        """select o.id, o.state, o.rule, o.channel, o.attempts, o.next_attempt, o.last_error,
  a.title, a.url
from outbox o left join articles a on a.id = o.article_id
where o.state in ('failed', 'retrying') order by o.id desc limit 500""",
    ),
}

TABLES: dict[str, dict[str, Any]] = {
    "articles": {
        "title": "Articles",
        "description": "Every article stored, one row per revision; text may be blanked by "
        "retention.",
        "facets": ["source", "language"],
        "sort_desc": "fetched",
    },
    "matches": {
        "title": "Matches",
        "description": "Which rule matched which article, when, and the hits (JSON).",
        "facets": ["rule"],
        "sort_desc": "matched_at",
    },
    "outbox": {
        "title": "Outbox",
        "description": "One row per alert and channel: its delivery state and attempts.",
        "facets": ["state", "channel", "rule"],
    },
    "sources": {
        "title": "Sources",
        "description": "Every source ever configured, with its polling state.",
    },
    "stories": {
        "title": "Stories",
        "description": "Near-duplicate articles grouped into one story.",
    },
    "notices": {
        "title": "Notices",
        "description": "Digests and operations alerts, and their delivery state.",
        "facets": ["kind", "state"],
    },
    "mutes": {"title": "Mutes", "description": "Rules and channels muted until a time."},
    "source_health": {
        "title": "Source health",
        "description": "Each source's announced health (broken, recovered).",
    },
}
HIDDEN = (
    "articles_fts",
    "articles_fts_data",
    "articles_fts_idx",
    "articles_fts_config",
    "story_signatures",
    "story_bands",
    "story_briefs",
    "story_meta",
    "digest_runs",
)


def browse_metadata(database_name: str) -> dict[str, Any]:
    """Datasette's metadata for a newswatch database named ``database_name``."""
    tables: dict[str, dict[str, Any]] = {name: dict(table) for name, table in TABLES.items()}
    tables.update({name: {"hidden": True} for name in HIDDEN})
    return {
        "title": "newswatch archive",
        "description": "Articles, matches, stories and deliveries (read-only).",
        "databases": {
            database_name: {
                "tables": tables,
                "queries": {
                    name: {"title": title, "description": description, "sql": sql}
                    for name, (title, description, sql) in CANNED.items()
                },
            }
        },
    }


def make_datasette(path: Path) -> Datasette:
    """A Datasette over the database at ``path``, read-only, with newswatch's metadata."""
    try:
        from datasette.app import Datasette
    except ImportError:
        raise BrowseUnavailableError(
            "newswatch browse needs Datasette, which is not installed",
            hint="pip install 'newswatch[browse]'",
        ) from None
    if not path.is_file():
        raise BrowseUnavailableError(
            f"no database at {path}",
            hint="the service creates it when it first starts; check [service] database",
        )
    return Datasette(
        [str(path)],
        metadata=browse_metadata(path.stem),
        settings={"sql_time_limit_ms": 5000, "facet_time_limit_ms": 1000},
    )


def serve(path: Path, *, port: int, open_browser: bool = False) -> None:
    """Serve Datasette on 127.0.0.1:``port`` until interrupted."""
    import uvicorn

    datasette = make_datasette(path)
    url = f"http://{HOST}:{port}/{path.stem}"
    print(f"Datasette on {url} (read-only); Ctrl-C stops it")
    if open_browser:
        webbrowser.open(url)
    uvicorn.run(datasette.app(), host=HOST, port=port, log_level="warning")
