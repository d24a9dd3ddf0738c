"""``newswatch search``, ``export`` and ``feed`` over a filled archive: golden output,
the formats, filters, and clear errors for wrong names and periods."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from click.testing import CliRunner

from crawler.db import open_database
from scheduler.cli import main
from tests.archivekit import GOLDEN, RULES, fill_archive, validate
from tests.clirunner import newswatch, write_config

REGEN = os.environ.get("NEWSWATCH_REGEN_GOLDEN") == "1"
SOURCES = ("khmer-times", "phnom-penh-post", "cna", "khmer-news", "sin-chew")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed (NEWSWATCH_REGEN_GOLDEN=1)"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archive")
    config = write_config(
        folder,
        sources={
            name: {"type": "rss", "url": f"https://{name}.example.org/feed"} for name in SOURCES
        },
        rules={name: {"query": rule.query, "channels": ["box"]} for name, rule in RULES.items()},
        channels={"box": {"type": "mbox", "path": str(folder / "alerts.mbox")}},
        service={"timezone": "Asia/Phnom_Penh", "database": str(folder / "newswatch.db")},
    )
    db = open_database(folder / "newswatch.db")
    fill_archive(db)
    db.close()
    return config


def run(config, *args):
    result = CliRunner().invoke(main, [*args, "--config", str(config)])
    return result


def test_archive_search_table_matches_golden(archive):
    result = run(archive, "search", "scam* OR 西港 OR ក្រុងព្រះសីហនុ")
    assert result.exit_code == 0, result.output
    check_golden("search.txt", result.output)
    assert "+07" in result.output and "**西港**" in result.output


def test_archive_search_formats_agree(archive):
    query = '"scam compound"'
    rows = json.loads(run(archive, "search", query, "--json").output)
    lines = [
        json.loads(line) for line in run(archive, "search", query, "--jsonl").output.splitlines()
    ]
    table = list(csv.DictReader(io.StringIO(run(archive, "search", query, "--csv").output)))
    assert rows == lines
    assert [r["url"] for r in table] == [r["url"] for r in rows]
    assert [r["title"] for r in rows][-1] == "Scam compound raided in Bavet"
    bavet = rows[-1]
    assert bavet["other_outlets"] == ["phnom-penh-post", "cna"]
    assert bavet["date"].endswith("+07:00") and bavet["hits"] == ["scam compound"]
    check_golden("search.json", json.dumps(rows, ensure_ascii=False, indent=2) + "\n")


def test_archive_search_filters(archive):
    def found(*args):
        rows = json.loads(run(archive, "search", *args, "--json").output)
        return [(r["source"], r["url"]) for r in rows]

    def urls(*args):
        return [url for _, url in found(*args)]

    every = found("raid* OR casino")
    assert len(every) >= 5
    assert found("raid* OR casino", "--source", "cna") == [f for f in every if f[0] == "cna"]
    assert found("raid* OR casino", "--limit", "2") == every[:2]
    assert found("raid* OR casino", "--since", "2026-11-21") == []
    # 17:30 in Phnom Penh is 10:30 UTC: articles 1 and 2 had been fetched (09:00, 10:00).
    assert urls("raid* OR casino", "--until", "2026-11-20T17:30") == [
        "https://phnom-penh-post.example.org/news/2",
        "https://khmer-times.example.org/news/1",
    ]
    assert urls("*", "--rule", "casino") == [
        "https://phnom-penh-post.example.org/news/7",
        "https://cna.example.org/news/3",
        "https://phnom-penh-post.example.org/news/2",
        "https://khmer-times.example.org/news/1",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "raid", "--rule", "scma"], "did you mean 'scam'"),
        (["search", "raid", "--source", "khmer-time"], "did you mean 'khmer-times'"),
        (["search", "raid", "--since", "June"], "neither a date"),
        (["search", "raid", "--since", "2d", "--until", "5d"], "later than --since"),
        (["search", "raid AND (bavet"], "error:"),
        (["export", "--rule", "casnio"], "did you mean 'casino'"),
        (["feed", "scma"], "did you mean 'scam'"),
    ],
)
def test_archive_wrong_names_and_periods_are_clear_errors(archive, args, message):
    result = run(archive, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_archive_search_finds_nothing_politely(archive):
    result = run(archive, "search", "volcano")
    assert result.exit_code == 0 and "no stored article matches volcano" in result.output


def test_archive_export_of_matches(archive):
    rows = list(csv.DictReader(io.StringIO(run(archive, "export").output)))
    assert len(rows) == 10  # every match, newest first
    assert rows[0]["rule"] == "scam" and rows[0]["matched_at"].startswith("2026-11-21T00:00")
    casino = [r for r in rows if r["rule"] == "casino"]
    assert [r["source"] for r in casino] == [
        "phnom-penh-post",
        "cna",
        "phnom-penh-post",
        "khmer-times",
    ]
    assert casino[-1]["other_outlets"] == "phnom-penh-post; cna"
    data = json.loads(run(archive, "export", "--rule", "scam", "--format", "json").output)
    check_golden("export-scam.json", json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    lines = run(archive, "export", "--rule", "scam", "--format", "jsonl").output.splitlines()
    assert [json.loads(line) for line in lines] == data


def test_archive_export_of_a_search_to_a_file(archive, tmp_path):
    target = tmp_path / "bavet.csv"
    result = run(archive, "export", "--query", "bavet", "--output", str(target))
    assert result.exit_code == 0 and "3 row(s) written" in result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [r["source"] for r in rows] == ["cna", "phnom-penh-post", "khmer-times"]
    assert "rule" not in rows[0]


def test_archive_feed_command_prints_valid_atom(archive):
    result = run(archive, "feed", "scam")
    assert result.exit_code == 0
    root = validate(result.output.encode())
    assert (
        root.findtext("{http://www.w3.org/2005/Atom}id") == "http://127.0.0.1:8787/feeds/scam.atom"
    )
    validate(run(archive, "feed", "all").output.encode())


@pytest.mark.slow
def test_archive_search_command_in_a_subprocess(archive):
    done = newswatch("search", "西港", "--jsonl", config=archive)
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["source"] == "sin-chew" and "**西港**" in row["snippet"]
    done = newswatch("export", "--rule", "nope", config=archive)
    assert done.returncode == 2 and "rule 'nope' is not configured" in done.stderr


def test_archive_empty_answers_keep_their_columns(archive):
    header = run(archive, "search", "volcano", "--csv").output.splitlines()
    assert header == [
        "date,source,title,url,language,snippet,hits,article_id,fetched,story_id,other_outlets"
    ]
    empty = run(archive, "export", "--rule", "casino", "--since", "1d").output.splitlines()
    assert len(empty) == 1 and empty[0].startswith("rule,matched_at,date,")
    assert json.loads(run(archive, "search", "volcano", "--json").output) == []


def test_archive_search_reads_a_database_from_before_the_index(tmp_path):
    """A copy of a database an older release wrote (no index, never upgraded: read-only)
    is searched by reading every article, with a note saying so."""
    import shutil
    from pathlib import Path

    database = tmp_path / "old.db"
    shutil.copyfile(Path(__file__).parent / "data" / "store" / "release-dfa0e51.db", database)
    config = write_config(
        tmp_path,
        sources={name: {"type": "rss", "url": f"https://{name}.example/"} for name in ("kt", "pp")},
        rules={"scam": {"query": "compound", "channels": ["box"]}},
        channels={"box": {"type": "mbox", "path": str(tmp_path / "box.mbox")}},
        service={"database": str(database)},
    )
    result = CliRunner().invoke(
        main, ["search", "sihanoukville", "--since", "3650d", "--json", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "no search index yet" in result.stderr
    titles = [row["title"] for row in json.loads(result.stdout)]
    assert sorted(titles) == [
        "Hundreds freed from Sihanoukville compound",
        "Police raid scam compound in Sihanoukville",
    ]
