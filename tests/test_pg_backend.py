"""PostgreSQL as the database: the address in the config, the schema and its versions,
and the rewriting of the store modules' queries (the stores themselves run on both
backends in their own tests, through tests/pgkit.py)."""

from __future__ import annotations

import pytest

from crawler.db import PostgresUrl, open_database, open_readonly, schema_version, write_transaction
from crawler.errors import StoreError
from crawler.pg import schema as pg_schema
from crawler.pg.dialect import translate
from crawler.schema import LATEST
from tests.clirunner import write_config_text


def test_pg_dialect_rewrites_sqlite_spellings_outside_quotes():
    assert translate("INSERT OR IGNORE INTO story_meta (key, value) VALUES ('a?%', ?)") == (
        "INSERT INTO story_meta (key, value) VALUES ('a?%%', %s) ON CONFLICT DO NOTHING"
    )
    assert translate("UPDATE s SET t = ? WHERE n = :name AND t IS NOT ?") == (
        "UPDATE s SET t = %s WHERE n = %(name)s AND t IS DISTINCT FROM %s"
    )
    assert translate("SELECT rule, count(*) FROM m WHERE a.x::int = 1 GROUP BY +rule") == (
        "SELECT rule, count(*) FROM m WHERE a.x::int = 1 GROUP BY rule"
    )
    assert "string_agg(DISTINCT a.source, ',')" in translate(
        "SELECT group_concat(DISTINCT a.source) FROM articles a"
    )
    assert translate("SELECT date(fetched, ?) AS day FROM articles") == (
        "SELECT to_char((fetched)::timestamptz + (%s)::interval, 'YYYY-MM-DD') AS day FROM articles"
    )


def test_pg_config_takes_an_address_with_the_password_from_the_environment(tmp_path):
    from scheduler.config import load_config

    path = write_config_text(
        tmp_path, '[service]\ndatabase = "postgresql://nw:${PGPW}@db.internal:5432/newswatch"\n'
    )
    config = load_config(path, environ={"PGPW": "s3cret", "HOME": str(tmp_path)})
    database = config.service.database
    assert isinstance(database, PostgresUrl)
    assert str(database) == "postgresql://nw:s3cret@db.internal:5432/newswatch"
    assert database.redacted == "postgresql://nw:***@db.internal:5432/newswatch"
    assert "s3cret" not in repr(database)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("postgresql://db.internal:5432", "needs a host and a database name"),
        ("postgresql://db.internal:port/x", "invalid PostgreSQL address"),
        ("mysql://db/newswatch", "unknown database address"),
    ],
)
def test_pg_config_rejects_a_bad_address_naming_the_key(tmp_path, value, message):
    from scheduler.config import load_config
    from scheduler.errors import ConfigError

    path = write_config_text(tmp_path, f'[service]\ndatabase = "{value}"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert problem.path == "service.database"
    assert message in problem.message


def test_pg_schema_has_the_sqlite_version_and_upgrades_once(pg_url):
    db = open_database(pg_url)
    assert schema_version(db) == LATEST == pg_schema.LATEST
    db.close()
    # Opening again runs nothing: the tables exist and stay as they were.
    db = open_database(pg_url)
    assert schema_version(db) == LATEST
    rows = {r["part"]: r["version"] for r in db.query("SELECT part, version FROM schema_version")}
    assert rows == {pg_schema.SHARED: LATEST, pg_schema.CLUSTER: pg_schema.CLUSTER_LATEST}
    db.close()


def test_pg_database_from_a_newer_release_is_refused(pg_url):
    db = open_database(pg_url)
    db.execute("UPDATE schema_version SET version = ? WHERE part = ?", [LATEST + 1, "newswatch"])
    db.close()
    with pytest.raises(StoreError) as caught:
        open_database(pg_url)
    assert f"schema version {LATEST + 1}" in str(caught.value)
    assert caught.value.hint is not None and "newer newswatch" in caught.value.hint


def test_pg_read_only_database_refuses_writes_and_does_not_upgrade(pg_url):
    reader = open_readonly(PostgresUrl(pg_url))
    assert schema_version(reader) == 0  # never opened read-write: nothing created
    reader.close()
    open_database(pg_url).close()
    reader = open_readonly(PostgresUrl(pg_url))
    with pytest.raises(StoreError, match="read-only"):
        reader.execute("INSERT INTO mutes (kind, name, until) VALUES ('rule', 'r', 'x')")
    reader.close()


def test_pg_transaction_rolls_back_as_one(store_db):
    class Stop(Exception):
        pass

    with pytest.raises(Stop), write_transaction(store_db):
        store_db.execute("INSERT INTO mutes (kind, name, until) VALUES ('rule', 'a', 'x')")
        raise Stop
    with write_transaction(store_db, serialize="articles"):
        store_db.execute("INSERT INTO mutes (kind, name, until) VALUES ('rule', 'b', 'x')")
    assert [r["name"] for r in store_db.query("SELECT name FROM mutes")] == ["b"]


def test_pg_unreachable_server_is_a_clear_error():
    with pytest.raises(StoreError) as caught:
        open_database("postgresql://nobody:pw@127.0.0.1:9/newswatch")
    assert "cannot open database postgresql://nobody:***@127.0.0.1:9/newswatch" in str(caught.value)
    assert "pw@" not in str(caught.value)


def test_pg_search_feeds_and_exports_agree_with_the_matcher(pg_url):
    """PostgreSQL has no FTS5 index: a search reads every article, and still finds exactly
    what the matcher finds; a rule's feed is valid Atom."""
    from alerts.render.atom import feed_for
    from alerts.rules.archive import SearchFilter, search
    from alerts.rules.rule import Rule
    from tests.archivekit import START, fill_archive, scanned, validate

    db = open_database(pg_url)
    fill_archive(db)
    for query in ("bavet", "西港", "ក្រុងព្រះសីហនុ", '"scam compound" AND NOT casino'):
        rule = Rule("s", query)
        found = [f.article_id for f in search(db, rule, SearchFilter(since=START))]
        assert found and found == scanned(db, rule), query
    validate(feed_for(db, "scam", self_url="http://127.0.0.1/feeds/scam.atom", now=START))
    db.close()
