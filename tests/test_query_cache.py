"""Parsed queries kept on disk: the same trees come back, and a bad file is ignored."""

from __future__ import annotations

import json
import typing

import pytest

from alerts.rules import query, query_cache
from alerts.rules.query_ast import Node
from tests.test_query_walkers import SAMPLES

QUERIES = [
    "raid",
    'traffick* AND "scam compound"~5 AND NOT title:rumour',
    '(Sihanoukville OR Poipet OR "Bavet city") -gambling +rescued',
    "url:casino AND /fraud\\w*/",
    "*",
    "ការជួញដូរមនុស្ស OR 诈骗园区",
]


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """A cache folder of its own, and a parser that has kept and parsed nothing yet."""

    def reset() -> None:
        query.parse_query.cache_clear()
        monkeypatch.setattr(query, "_kept", None)
        monkeypatch.setattr(query, "_parsed", {})

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    reset()
    yield reset
    query.parse_query.cache_clear()


def test_query_cache_round_trips_every_node_type():
    assert set(SAMPLES) == set(typing.get_args(Node))
    for node in SAMPLES.values():
        assert query_cache.decode(json.loads(json.dumps(query_cache.encode(node)))) == node
    for text in QUERIES:
        node = query.parse_query(text)
        assert query_cache.decode(json.loads(json.dumps(query_cache.encode(node)))) == node


def test_query_cache_trees_kept_by_one_run_are_read_by_the_next(fresh_cache, tmp_path):
    parsed = {text: query.parse_query(text) for text in QUERIES}
    query.keep_parsed()
    (kept,) = (tmp_path / "newswatch").glob("queries-*.json")
    assert set(json.loads(kept.read_text(encoding="utf-8"))) == set(QUERIES)
    fresh_cache()  # the next process
    assert {text: query.parse_query(text) for text in QUERIES} == parsed
    assert query._parsed == {}  # every tree came from the file, none from luqum
    query.parse_query("a new query")
    assert list(query._parsed) == ["a new query"]


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        json.dumps({"raid": ["Term", 5, False]}),  # a text that is not a string
        json.dumps({"raid": ["Eval", "os.system"]}),  # not a node type
        json.dumps({"raid": ["And", "Term"]}),  # children that are not a list
        json.dumps({"raid": ["Term", "raid"]}),  # a value missing
    ],
)
def test_query_cache_a_file_it_did_not_write_is_ignored(fresh_cache, content):
    path = query_cache.cache_file()
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    assert query_cache.load() == {}
    assert query.parse_query("raid") == query.parse_query.__wrapped__("raid")
    assert query._parsed == {"raid": query.parse_query("raid")}  # parsed again


def test_query_cache_a_folder_that_cannot_be_written_changes_nothing(fresh_cache, tmp_path):
    (tmp_path / "newswatch").write_text("a file where the folder should be")
    query.parse_query("raid")
    query.keep_parsed()  # no error
    assert query.parse_query("raid") == query.parse_query.__wrapped__("raid")
