"""Matching rules against documents: the compiled matcher and the reference agree on each case."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from alerts.errors import QueryError
from alerts.records import Hit
from alerts.rules.matcher import Document, Matcher, RuleMatch
from alerts.rules.reference import reference_match
from alerts.rules.rule import Rule
from alerts.rules.snippets import ELLIPSIS, make_snippets
from tests.corpus import corpus_text

Engine = Callable[[list[Rule], Document], list[RuleMatch]]

ARTICLE = Document(
    title="Scam compound raided in Sihanoukville",
    body=(
        "Police in Preah Sihanouk province raided a scam compound on Tuesday and rescued\n"
        "more than 300 foreign workers, some of them victims of human trafficking.\n"
        "The workers were moved to Phnom\nPenh. A casino nearby was not searched."
    ),
    source="Khmer Times",
    url="https://www.khmertimeskh.com/501234/scam-compound-raided/",
    language="en",
)


def _compiled(rules: list[Rule], doc: Document) -> list[RuleMatch]:
    return Matcher.build(rules).match(doc)


@pytest.fixture(params=[_compiled, reference_match], ids=["compiled", "reference"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.param


def _matches(engine: Engine, query: str, doc: Document = ARTICLE, **rule: object) -> bool:
    return bool(engine([Rule("r", query, **rule)], doc))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("scam", True),
        ("SCAM", True),
        ("raid", False),  # only "raided"
        ("raided", True),
        ("aid", False),
        ("rai*", True),
        ("aided*", False),
        ('"scam compound"', True),
        ('"compound scam"', False),
        ('"phnom penh"', True),  # across a line break
        ("scam AND casino", True),
        ("scam AND NOT casino", False),
        ("scam -casino", False),
        ("poipet OR bavet", False),
        ("poipet OR trafficking", True),
        ("scam compound", True),
        ("+scam +poipet", False),
        ("NOT poipet", True),
        ("NOT scam", False),
        ('"raided rescued"~8', True),
        ('"rescued raided"~8', True),  # any order
        ('"raided rescued"~3', False),
        ("title:casino", False),
        ("body:casino", True),
        ("title:(raided AND sihanoukville)", True),
        ("source:khmer", True),
        ('source:"khmer times"', True),
        ("source:vod", False),
        ("url:khmertimeskh.com/501234", True),
        ("url:timeskh", True),  # substring inside the URL
        ("timeskh", False),  # unfielded terms do not search the URL
        ("url:poipet", False),
        ("/rescued\\s+more/", True),
        ("/preah\\s+sihanouk\\b/", True),
        ("/bavet|poipet/", False),
        ("*", True),
        ("(scam OR fraud) AND (sihanoukville OR poipet) AND NOT football", True),
    ],
)
def test_match_query_syntax(engine: Engine, query: str, expected: bool) -> None:
    assert _matches(engine, query) is expected


@pytest.mark.parametrize(
    "title",
    [
        "Sihanoukville",
        "SIHANOUKVILLE",
        "Sihanoukvílle",
        "sihanoukvi\u0301lle",
        "ＳＩＨＡＮＯＵＫＶＩＬＬＥ",
    ],
)
def test_match_is_case_and_accent_insensitive(engine: Engine, title: str) -> None:
    doc = Document(title=f"News from {title} today", body="")
    assert _matches(engine, "sihanoukville", doc)
    assert _matches(engine, "Sihanoukvílle", doc)
    assert not _matches(engine, "sihanouk", doc)


def test_match_whole_words_only(engine: Engine) -> None:
    doc = Document(title="", body="She wore a braid; the raid-team left. Raids continue.")
    hits = engine([Rule("r", "raid")], doc)[0].hits
    assert [doc.body[h.start : h.end] for h in hits] == ["raid"]
    assert _matches(engine, "raid*", doc)
    assert not _matches(engine, "aid", doc)


def test_match_typographic_apostrophe_and_dash(engine: Engine) -> None:
    doc = Document(title="", body="Raid near O\u2019Smach \u2014 Cambodia\u2019s border")
    assert _matches(engine, "o'smach", doc)
    assert _matches(engine, '"cambodia\'s border"', doc)
    assert _matches(engine, "O\u2019Smach", Document(title="", body="o'smach"))


def test_match_min_hits_counts_occurrences(engine: Engine) -> None:
    doc = Document(title="Scam", body="A scam, then another scam. Police.")
    assert _matches(engine, "scam", doc, min_hits=3)
    assert not _matches(engine, "scam", doc, min_hits=4)
    assert _matches(engine, "scam OR police", doc, min_hits=4)
    # A query with nothing positive to count is not held to min_hits.
    assert _matches(engine, "NOT casino", doc, min_hits=5)


def test_match_languages_filter(engine: Engine) -> None:
    assert _matches(engine, "scam", languages=("en", "km"))
    assert not _matches(engine, "scam", languages=("km",))
    unknown = Document(title="Scam", body="", language=None)
    assert _matches(engine, "scam", unknown, languages=("km",))
    regional = Document(title="Scam", body="", language="en-GB")
    assert _matches(engine, "scam", regional, languages=("en",))


def test_match_sources_filter(engine: Engine) -> None:
    assert _matches(engine, "scam", sources=("khmer times", "VOD"))
    assert not _matches(engine, "scam", sources=("VOD",))


def test_match_exclude_vetoes(engine: Engine) -> None:
    assert not _matches(engine, "scam", exclude="casino")
    assert _matches(engine, "scam", exclude="football OR title:casino")


def test_match_hits_point_into_original_text(engine: Engine) -> None:
    rules = [Rule("r", 'title:sihanoukville OR "phnom penh" OR traffick* OR url:scam-compound')]
    (found,) = engine(rules, ARTICLE)
    texts = {"title": ARTICLE.title, "body": ARTICLE.body, "url": ARTICLE.url}
    seen = {(h.field, texts[h.field][h.start : h.end], h.term) for h in found.hits}
    assert seen == {
        ("title", "Sihanoukville", "sihanoukville"),
        ("body", "Phnom\nPenh", "phnom penh"),
        ("body", "trafficking", "traffick*"),
        ("url", "scam-compound", "scam-compound"),
    }


def test_match_hits_only_from_parts_that_matched(engine: Engine) -> None:
    (found,) = engine([Rule("r", "(scam AND poipet) OR casino")], ARTICLE)
    assert {h.term for h in found.hits} == {"casino"}


def test_match_hits_offsets_with_accents_and_invisible_characters(engine: Engine) -> None:
    doc = Document(title="", body="À Sihanoukvi\u0301lle, l'esc\u00adroquerie…")
    (found,) = engine([Rule("r", "sihanoukville OR escroquerie")], doc)
    assert [doc.body[h.start : h.end] for h in found.hits] == [
        "Sihanoukvi\u0301lle",
        "esc\u00adroquerie",
    ]


def test_match_returns_rules_in_given_order(engine: Engine) -> None:
    rules = [Rule("b", "casino"), Rule("a", "poipet"), Rule("c", "NOT poipet"), Rule("d", "scam")]
    assert [m.rule for m in engine(rules, ARTICLE)] == ["b", "c", "d"]


def test_matcher_build_names_the_bad_rule() -> None:
    with pytest.raises(QueryError) as caught:
        Matcher.build([Rule("good", "scam"), Rule("broken", "scam AND (x")])
    assert caught.value.message == "rule 'broken': query: unclosed '(' at position 9"
    assert caught.value.position == 9


def test_matcher_rule_names_and_empty_rules() -> None:
    matcher = Matcher.build([Rule("one", "scam"), Rule("two", "/x+/")])
    assert matcher.rule_names == ("one", "two")
    assert Matcher.build([]).match(ARTICLE) == []


def test_matcher_is_thread_safe() -> None:
    rules = [Rule(f"r{i}", q) for i, q in enumerate(["scam", "poipet", '"phnom penh"', "NOT x"])]
    matcher = Matcher.build(rules)
    docs = [
        Document(title=f"doc {i}", body=("scam in Phnom Penh " if i % 2 else "Poipet x ") * 50)
        for i in range(40)
    ]
    expected = [matcher.match(d) for d in docs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(matcher.match, docs * 5))
    assert got == expected * 5


def test_match_khmer_term_inside_real_article(engine: Engine) -> None:
    text = corpus_text("khmer/km/khmer-nltk__samples_input.txt")
    doc = Document(title="", body=text, language="km")
    # Present with no spaces around it: "...កិច្ចព្រមព្រៀងទីក្រុងប៉ារីស ស្តីពី..."
    assert _matches(engine, "ប៉ារីស", doc)
    assert _matches(engine, "អង្គការសហប្រជាជាតិ AND ធនាគារ", doc)
    assert not _matches(engine, "ក្រុងព្រះសីហនុ", doc)
    assert not _matches(engine, "កាស៊ីណូ", doc)
    # Spliced between two Khmer letters of the article, it is found and highlighted exactly.
    cut = text.index("ទីក្រុងប៉ារីស")
    spliced = text[:cut] + "ក្រុងព្រះសីហនុ" + text[cut:]
    (found,) = engine([Rule("r", "ក្រុងព្រះសីហនុ")], Document(title="", body=spliced))
    assert [(h.start, h.end) for h in found.hits] == [(cut, cut + len("ក្រុងព្រះសីហនុ"))]


@pytest.mark.parametrize(
    ("relative", "present", "absent"),
    [
        ("khmer/th/newspaper4k__thai_article.txt", "นครพนม", "กัมพูชา"),
        ("khmer/th/newspaper4k__thai_article.txt", "ประเทศไทย", "ค้ามนุษย์"),
        ("khmer/zh/newspaper4k__chinese_article.txt", "梁振英", "西港"),
        ("khmer/zh/newspaper4k__chinese_article.txt", "违章建筑", "诈骗"),
        ("khmer/zh/newspaper4k__chinese_article_001.txt", "中美合作", "柬埔寨"),
        ("khmer/my/newspaper4k__burmese_article.txt", "သတင်းစာ", "ကမ္ဘောဒီးယား"),
    ],
)
def test_match_terms_in_real_articles(
    engine: Engine, relative: str, present: str, absent: str
) -> None:
    text = corpus_text(relative)
    assert present in text and absent not in text
    doc = Document(title="", body=text)
    (found,) = engine([Rule("r", present)], doc)
    assert {text[h.start : h.end] for h in found.hits} == {present}
    assert not _matches(engine, absent, doc)
    assert not _matches(engine, f"{present} AND {absent}", doc)


def test_match_mixed_scripts(engine: Engine) -> None:
    doc = Document(
        title="西港诈骗园区 raid",
        body="Police in ក្រុងព្រះសីហនុ (Sihanoukville) raided a compound; 诈骗集团 members fled.",
    )
    assert _matches(engine, "西港 AND 诈骗", doc)
    assert _matches(engine, "title:诈骗", doc)
    assert _matches(engine, '"ក្រុងព្រះសីហនុ sihanoukville"~1', doc)
    assert _matches(engine, "ក្រុង*", doc)
    assert not _matches(engine, "金边", doc)
    assert not _matches(engine, "title:ក្រុងព្រះសីហនុ", doc)


def test_make_snippets_highlights_hits() -> None:
    body = (
        "Officials said on Monday that hundreds of workers had been freed. " * 3
        + "Police raided a scam compound in Sihanoukville,\nwhere victims of trafficking "
        + "were held. "
        + "The markets were busy and the weather was fine that week. " * 6
        + "Another raid in Poipet freed 40 workers from a scam operation."
    )
    doc = Document(title="Scam compound raided", body=body)
    rule = Rule("r", "scam OR poipet OR traffick* OR sihanoukville")
    (found,) = Matcher.build([rule]).match(doc)
    snippets = make_snippets(doc, found.hits, width=120)
    words = [[s.text[a:b] for a, b in s.highlights] for s in snippets]
    assert words == [["Scam"], ["scam", "Sihanoukville", "trafficking"], ["Poipet", "scam"]]
    assert snippets[1].text.startswith(ELLIPSIS) and snippets[1].text.endswith(ELLIPSIS)
    assert "\n" not in snippets[1].text
    assert all(len(s.text) <= 122 for s in snippets)


def test_make_snippets_limit_keeps_densest_windows() -> None:
    body = "x " * 200 + "scam " + "y " * 200 + "scam scam scam " + "z " * 200
    hits = [Hit("body", i, i + 4, "scam") for i in range(len(body)) if body.startswith("scam", i)]
    (snippet,) = make_snippets(Document(title="", body=body), hits, width=60, limit=1)
    assert len(snippet.highlights) == 3


def test_make_snippets_without_hits_uses_opening() -> None:
    doc = Document(title="Title", body="First sentence of the article. Second sentence here.")
    (snippet,) = make_snippets(doc, [], width=35, whole=0)
    assert snippet.text == "First sentence of the article." + ELLIPSIS
    assert snippet.highlights == ()
    assert make_snippets(Document(title="", body=""), []) == []


FEED_SUMMARY = (
    "Police in Preah Sihanouk province on Tuesday rescued 40 Indonesian nationals who said"
    " they had been trafficked from Indonesia and forced to work for an online scam operation"
    " in Ochheuteal commune."
)


def test_make_snippets_shows_a_short_summary_whole() -> None:
    # Issue 11: a 180-character summary was cut at "trafficked from Indonesia and…".
    doc = Document(title="Police rescue 40 Indonesians", body=FEED_SUMMARY)
    rule = Rule("r", "traffick* AND scam")
    (found,) = Matcher.build([rule]).match(doc)
    (snippet,) = make_snippets(doc, found.hits)
    assert snippet.text == FEED_SUMMARY
    assert [snippet.text[a:b] for a, b in snippet.highlights] == ["trafficked", "scam"]
    long_doc = Document(title="t", body=FEED_SUMMARY + " Filler sentence." * 40)
    (found,) = Matcher.build([rule]).match(long_doc)
    assert all(len(s.text) <= 162 for s in make_snippets(long_doc, found.hits))


def test_make_snippets_can_leave_the_headline_out() -> None:
    # Alerts show the headline already; a snippet of it would show it twice.
    doc = Document(title="Police rescue 40 Indonesians", body=FEED_SUMMARY)
    rule = Rule("r", "police OR scam")
    (found,) = Matcher.build([rule]).match(doc)
    assert make_snippets(doc, found.hits)[0].text == "Police rescue 40 Indonesians"
    (snippet,) = make_snippets(doc, found.hits, fields=("body",))
    assert snippet.text == FEED_SUMMARY
    title_only = Document(title="Police rescue 40 Indonesians", body="")
    (found,) = Matcher.build([rule]).match(title_only)
    assert make_snippets(title_only, found.hits, fields=("body",)) == []


@pytest.mark.parametrize("ending", ["...", "…", " […]", " [...]", "....", "…..."])
def test_make_snippets_end_in_one_ellipsis(ending: str) -> None:
    body = ("Workers said they were beaten and held for months" + ending + " ") * 12
    hits = [
        Hit("body", i, i + 6, "beaten") for i in range(len(body)) if body.startswith("beaten", i)
    ]
    for snippet in make_snippets(Document(title="", body=body), hits, width=60, whole=0):
        piled = r"(?:\.|…|\])\s*…$|…\s*(?:\.|…|\[)$|^…\s*(?:\.|…|\[)"
        assert not re.search(piled, snippet.text), snippet.text
        assert [snippet.text[a:b] for a, b in snippet.highlights][0] == "beaten"
    (whole,) = make_snippets(Document(title="", body="Workers were held" + ending), [])
    assert whole.text == "Workers were held…"
