"""Properties: the compiled matcher answers exactly like the reference evaluator."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.rules.lint import lint_rule
from alerts.rules.matcher import Document, Matcher
from alerts.rules.query import parse_query
from alerts.rules.query_format import format_query
from alerts.rules.reference import reference_match
from alerts.rules.rule import Rule
from crawler.textnorm import normalise

WORDS = [
    "scam",
    "scams",
    "compound",
    "phnom",
    "penh",
    "raid",
    "braid",
    "police",
    "sihanoukville",
    "Sihanoukvílle",
    "SIHANOUKVILLE",
    "casino",
    "trafficking",
    "traffickers",
    "a",
    "and",
    "ក្រុងព្រះសីហនុ",
    "ក្រុង",
    "ព្រះ",
    "西港",
    "诈骗",
    "กัมพูชา",
    "ที่",
    "42",
]
SEPARATORS = [" ", " ", " ", "\n", ", ", "", "-", "\u200b", "  ", ". "]
PREFIXES = ["traffick*", "scam*", "sihanouk*", "ក្រុង*", "poli*", "a*"]
REGEXES = ["/sc[a-z]m/", r"/\d+/", r"/phnom\s+penh/", "/ក្រុង.?ព្រះ/", "/x*/"]
FIELDS = ["title:", "body:", "source:", "url:"]

# A few words recur often so that rules really match; the rest keep the vocabulary varied.
COMMON = ["scam", "compound", "phnom", "penh", "ក្រុងព្រះសីហនុ", "西港", "raid"]
words = st.sampled_from(WORDS)
text_words = st.one_of(st.sampled_from(COMMON), words)


@st.composite
def texts(draw: st.DrawFn, min_words: int = 0, max_words: int = 30) -> str:
    pairs = st.tuples(text_words, st.sampled_from(SEPARATORS))
    parts = draw(st.lists(pairs, min_size=min_words, max_size=max_words))
    return "".join(w + s for w, s in parts)


def _phrase(ws: list[str]) -> str:
    return '"' + " ".join(ws) + '"'


leaf = st.one_of(
    text_words,
    st.sampled_from(PREFIXES),
    st.lists(words, min_size=1, max_size=3).map(_phrase),
    st.tuples(st.lists(words, min_size=2, max_size=3), st.integers(0, 4)).map(
        lambda t: f"{_phrase(t[0])}~{t[1]}"
    ),
    st.sampled_from(REGEXES),
    st.just("*"),
)
fielded = st.one_of(leaf, st.tuples(st.sampled_from(FIELDS), leaf).map("".join))


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    # Negations are rarer than conjunctions so that most rules need some term to match.
    return st.one_of(
        pair.map(lambda p: f"({p[0]} AND {p[1]})"),
        pair.map(lambda p: f"({p[0]} OR {p[1]})"),
        pair.map(lambda p: f"({p[0]} OR {p[1]})"),
        pair.map(lambda p: f"({p[0]} {p[1]})"),
        pair.map(lambda p: f"({p[0]} AND NOT {p[1]})"),
        pair.map(lambda p: f"({p[0]} -{p[1]})"),
        children.map(lambda c: f"NOT {c}"),
        children.map(lambda c: f"+{c}"),
    )


queries = st.one_of(fielded, _combine(fielded), st.recursive(fielded, _combine, max_leaves=6))

rules = st.lists(
    st.builds(
        Rule,
        name=st.just(""),
        query=queries,
        exclude=st.one_of(st.none(), queries),
        languages=st.sampled_from([(), (), ("en",), ("km", "th")]),
        sources=st.sampled_from([(), (), ("Khmer Times",), ("vod",)]),
        min_hits=st.sampled_from([1, 1, 2, 3]),
    ),
    min_size=1,
    max_size=5,
).map(
    lambda rs: [
        Rule(f"r{i}", r.query, r.exclude, r.languages, r.sources, r.min_hits)
        for i, r in enumerate(rs)
    ]
)

documents = st.builds(
    Document,
    title=texts(max_words=6),
    body=texts(min_words=4),
    source=st.sampled_from(["", "Khmer Times", "VOD", "scam watch"]),
    url=st.sampled_from(["", "https://example.com/scam-compound", "https://vod.com/ក្រុង/42"]),
    language=st.sampled_from([None, "en", "km", "en-US", "th"]),
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=rules, doc=documents)
def test_matcher_agrees_with_reference(rules: list[Rule], doc: Document) -> None:
    assert Matcher.build(rules).match(doc) == reference_match(rules, doc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=rules, doc=documents)
def test_lint_never_match_is_never_wrong(rules: list[Rule], doc: Document) -> None:
    hopeless = [r for r in rules if any(w.startswith("can never match") for w in lint_rule(r))]
    assert Matcher.build(hopeless).match(doc) == []


@settings(max_examples=300, deadline=None)
@given(query=queries)
def test_format_query_round_trip(query: str) -> None:
    tree = parse_query(query)
    printed = format_query(tree)
    assert parse_query(printed) == tree
    assert format_query(parse_query(printed)) == printed


@settings(max_examples=300, deadline=None)
@given(text=texts())
def test_normalise_idempotent_and_maps_into_original(text: str) -> None:
    norm = normalise(text)
    assert normalise(norm.text).text == norm.text
    for i in range(len(norm.text)):
        start, end = norm.original_span(i, i + 1)
        assert 0 <= start < end <= len(text)
