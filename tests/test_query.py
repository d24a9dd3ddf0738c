"""The rule query language: parsing, errors with positions, printing, rule validation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from alerts.errors import QueryError
from alerts.rules.query import (
    And,
    Field,
    MatchAll,
    Not,
    Or,
    Phrase,
    Proximity,
    Regex,
    Term,
    parse_query,
)
from alerts.rules.query_format import format_query
from alerts.rules.rule import Rule, validate_rule
from crawler.errors import NewswatchError


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("scam", Term("scam")),
        ('"phnom penh"', Phrase("phnom penh")),
        ("scam AND compound", And((Term("scam"), Term("compound")))),
        ("poipet OR bavet", Or((Term("poipet"), Term("bavet")))),
        ("scam compound", And((Term("scam"), Term("compound")))),
        ("scam -casino", And((Term("scam"), Not(Term("casino"))))),
        ("+scam +compound", And((Term("scam"), Term("compound")))),
        ("scam AND NOT casino", And((Term("scam"), Not(Term("casino"))))),
        ("NOT casino", Not(Term("casino"))),
        ("traffick*", Term("traffick", prefix=True)),
        ('"scam compound"~5', Proximity("scam compound", 5)),
        ("title:raid", Field("title", Term("raid"))),
        ("Body:(raid OR rescue)", Field("body", Or((Term("raid"), Term("rescue"))))),
        ("source:vod", Field("source", Term("vod"))),
        ("url:example.com/news", Field("url", Term("example.com/news"))),
        ("/sihanouk\\w+/", Regex("sihanouk\\w+")),
        ("/a\\/b/", Regex("a/b")),
        ("*", MatchAll()),
        ("scam and fraud", And((Term("scam"), Term("and"), Term("fraud")))),
        ("scam or fraud", And((Term("scam"), Term("or"), Term("fraud")))),
        ("ក្រុងព្រះសីហនុ 西港", And((Term("ក្រុងព្រះសីហនុ"), Term("西港")))),
        ("a\\*", Term("a*")),
        ("\\AND", Term("AND")),
    ],
)
def test_parse_query_builds_tree(text: str, tree: object) -> None:
    assert parse_query(text) == tree


def test_parse_query_and_binds_tighter_than_or() -> None:
    assert parse_query("a OR b AND c") == Or((Term("a"), And((Term("b"), Term("c")))))


def test_parse_query_parentheses_group_and_flatten() -> None:
    tree = parse_query('(scam OR fraud) AND (poipet OR (bavet OR "phnom penh"))')
    assert tree == And(
        (
            Or((Term("scam"), Term("fraud"))),
            Or((Term("poipet"), Term("bavet"), Phrase("phnom penh"))),
        )
    )


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("scam AND (b OR c))", "unexpected ')' at position 17", 17),
        ("(scam OR fraud", "unclosed '(' at position 0", 0),
        ("scam AND (fraud OR (x)", "unclosed '(' at position 9", 9),
        ('scam "compound', "unclosed '\"' at position 5", 5),
        ('scam compound"', "unbalanced '\"' at position 13", 13),
        ("scam AND", "unexpected end of query at position 8", 8),
        ("AND scam", "unexpected 'AND' at position 0", 0),
        ("scam /abc", "unclosed regular expression '/' at position 5", 5),
        (
            "x /a(/",
            "invalid regular expression (missing ), unterminated subpattern) at position 4",
            4,
        ),
        ("scam OR foo:bar", "unknown field 'foo' at position 8", 8),
        ("title:body:x", "field 'body' inside field 'title' at position 6", 6),
        ("tr*ck", "wildcards are only supported at the end of a word at position 2", 2),
        ("scam~2", "fuzzy matching 'word~' is not supported at position 0", 0),
        ("scam^2", "boosting '^' is not supported at position 0", 0),
        ("[a TO b]", "range queries '[a TO b]' are not supported at position 0", 0),
        ('"scam compound"~1.5', "proximity distance must be a whole number at position 15", 15),
        ('""', "empty phrase at position 0", 0),
        ("   ", "the query is empty", 0),
    ],
)
def test_parse_query_error_message_and_position(text: str, message: str, position: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    assert caught.value.message == message
    assert caught.value.position == position
    assert caught.value.query == text


def test_query_error_is_newswatch_error_with_hint() -> None:
    with pytest.raises(NewswatchError) as caught:
        parse_query("(scam")
    assert isinstance(caught.value, QueryError)
    assert caught.value.hint == "add the missing ')'"
    assert str(caught.value) == "unclosed '(' at position 0 (hint: add the missing ')')"


def test_parse_query_from_many_threads_gives_same_trees() -> None:
    queries = [
        f'(scam{i} OR "phnom penh") AND NOT casino{i} title:raid "a b"~{i % 5}' for i in range(200)
    ]
    bad = [f"(scam{i} OR x" for i in range(50)]
    expected = [parse_query(q) for q in queries]

    def parse_or_position(text: str) -> object:
        try:
            return parse_query(text)
        except QueryError as exc:
            return exc.position

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(parse_or_position, queries + bad))
    assert got[: len(queries)] == expected
    assert got[len(queries) :] == [0] * len(bad)


@pytest.mark.parametrize(
    "text",
    [
        'scam AND ("phnom penh" OR title:poipet) AND NOT casino',
        "traffick* OR /ក្រុង.?ព្រះ/ OR url:a\\/b",
        '"scam compound"~3 -source:(vod OR rfa)',
        "\\AND OR \\NOT OR a\\:b OR \\(x\\)",
        "NOT NOT *",
    ],
)
def test_format_query_round_trips(text: str) -> None:
    tree = parse_query(text)
    assert parse_query(format_query(tree)) == tree


def test_format_query_escapes_reserved_words() -> None:
    assert format_query(Or((Term("AND"), Term("a:b")))) == "\\AND OR a\\:b"


def test_validate_rule_names_the_failing_part() -> None:
    validate_rule(Rule("ok", "scam", exclude="casino"))
    with pytest.raises(QueryError) as caught:
        validate_rule(Rule("scams", "scam AND"))
    assert caught.value.message.startswith("rule 'scams': query: unexpected end of query")
    with pytest.raises(QueryError) as caught:
        validate_rule(Rule("scams", "scam", exclude="casino)"))
    assert caught.value.message == "rule 'scams': exclude: unexpected ')' at position 6"
    assert caught.value.query == "casino)"
    assert caught.value.position == 6


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (Rule("r", "scam", min_hits=0), "min_hits must be at least 1"),
        (Rule("r", "scam", languages=("english",)), "two-letter ISO 639-1 codes"),
        (Rule(" ", "scam"), "no name"),
    ],
)
def test_validate_rule_rejects_bad_filters(rule: Rule, problem: str) -> None:
    with pytest.raises(QueryError, match=problem):
        validate_rule(rule)
