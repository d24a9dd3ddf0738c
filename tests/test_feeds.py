"""parse_feed on hand-written fixtures: formats, fields, hostile and broken bodies."""

from __future__ import annotations

import codecs
import gzip
import io
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from crawler.defuse import repair_double_utf8
from crawler.errors import ParseError
from crawler.feeds import MAX_SUMMARY_CHARS, FeedResult, html_to_text, parse_feed
from crawler.models import Article

DATA = Path(__file__).parent / "data" / "feeds"
FEED_URL = "https://news.example.org/feeds/main.xml"
FETCHED = datetime(2024, 3, 9, 12, 0, tzinfo=UTC)


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def parse(body: bytes, **kwargs: object) -> FeedResult:
    options: dict[str, object] = {"source": "mekong-wire", "url": FEED_URL, "fetched": FETCHED}
    options.update(kwargs)
    return parse_feed(body, **options)  # type: ignore[arg-type]


def total_text(result: FeedResult) -> int:
    return len(result.title or "") + sum(len(a.title) + len(a.summary) for a in result.articles)


# --- formats and fields -----------------------------------------------------------------


def test_parse_feed_rss20_fields() -> None:
    result = parse(fixture("rss20.xml"))
    assert result.title == "Mekong Wire & Partners"
    assert result.warning is None
    first, khmer, undated = result.articles
    assert first == Article(
        url="https://news.example.org/2024/03/raid.html",
        source="mekong-wire",
        title="Police raid scam compound in Sihanoukville & rescue 40",
        summary="Officers entered the compound at dawn.\nForty workers were freed.\n"
        "Investigations continue.",
        published=datetime(2024, 3, 5, 1, 30, tzinfo=UTC),
        fetched=FETCHED,
        guid="mekong-wire-1001",
        author="Sok Dara",
        language="en",
        date_source="feed",
    )
    # Khmer text keeps its zero-width spaces (word separators); content:encoded wins over
    # the shorter description.
    assert khmer.title == "ការជួញដូរមនុស្ស\u200bនៅ\u200bខេត្ត\u200bព្រះសីហនុ"
    assert khmer.summary.splitlines()[1] == "ការស៊ើបអង្កេត\u200bកំពុង\u200bបន្ត។"
    assert khmer.guid == khmer.url == "https://news.example.org/km/2024/03/trafficking"
    assert undated.published is None
    assert undated.date_source == "fetched"


def test_parse_feed_rss091_with_netscape_doctype_and_html_entities() -> None:
    result = parse(fixture("rss091.xml"))
    assert result.title == "Café Chronicle"
    assert [a.title for a in result.articles] == [
        "Ouverture d'un café à Phnom Penh",
        "Marché de nuit",
    ]
    assert {a.language for a in result.articles} == {"fr"}
    # The DTD that declared &eacute; is gone, so expat refuses and the lenient parser is used.
    assert result.warning is not None and "parsed leniently" in result.warning


def test_parse_feed_rss10_rdf() -> None:
    result = parse(fixture("rss10.rdf"))
    assert result.title == "RDF Site Summary"
    a, b = result.articles
    assert (a.url, a.title, a.author, a.language) == (
        "https://rdf.example.net/a", "Grenzübergang geschlossen", "Redaktion", "de"
    )  # fmt: skip
    assert a.published == datetime(2024, 3, 5, 9, 15, tzinfo=UTC)
    assert b.published == datetime(2024, 3, 5, 11, 0, tzinfo=UTC)


def test_parse_feed_atom() -> None:
    result = parse(fixture("atom.xml"))
    thai, english = result.articles
    assert thai.url == "https://borderwatch.example/th/rescue"
    assert thai.title == "ช่วยเหลือแรงงานที่ชายแดน"
    assert thai.summary == "เจ้าหน้าที่ช่วยเหลือแรงงาน 12 คน"
    assert thai.published == datetime(2024, 3, 7, 8, 30, tzinfo=UTC)
    assert (thai.author, thai.language, thai.guid) == (
        "Somchai P.", "th", "tag:borderwatch.example,2024:1"
    )  # fmt: skip
    # Only <updated>: it is the date; xhtml content keeps its paragraphs.
    assert english.published == datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
    assert english.summary == "First paragraph.\nSecond paragraph."
    assert english.language == "en"


def test_parse_feed_crlf_and_tabs_in_titles_collapse() -> None:
    result = parse(fixture("crlf_titles.xml"))
    assert result.title == "Line Breaks"
    assert [a.title for a in result.articles] == ["Gambling ring broken up", "Tabs and entities"]
    assert result.articles[0].summary == "First line.\nSecond paragraph."


def test_parse_feed_google_alerts_links_unwrap_and_markup_is_dropped() -> None:
    (article,) = parse(fixture("google_alerts.xml")).articles
    assert article.url == "https://www.example-news.com/asia/freed"
    assert article.title == "Thousands freed from scam compound in Myawaddy"
    assert article.summary == "Police say the scam compound held workers from 12 countries."


def test_parse_feed_script_in_description_never_reaches_text() -> None:
    summary = parse(fixture("rss20.xml")).articles[0].summary
    assert "alert" not in summary


def test_parse_feed_summary_is_capped() -> None:
    words = "trafficking " * (MAX_SUMMARY_CHARS // 6)
    body = (
        '<rss version="2.0"><channel><title>Long</title><item><title>t</title>'
        f"<link>https://long.example/1</link><description>{words}</description>"
        "</item></channel></rss>"
    ).encode()
    summary = parse(body).articles[0].summary
    assert len(summary) <= MAX_SUMMARY_CHARS
    assert summary.startswith("trafficking trafficking")


@pytest.mark.parametrize(
    ("declared", "expected"),
    [("en-US", "en"), ("KM", "km"), ("zh_Hant_TW", "zh"), ("English", None), ("fil", None)],
)
def test_parse_feed_language_is_iso639_1(declared: str, expected: str | None) -> None:
    body = (
        f'<rss version="2.0"><channel><title>L</title><language>{declared}</language>'
        "<item><title>t</title><link>https://lang.example/1</link></item></channel></rss>"
    ).encode()
    assert parse(body).articles[0].language == expected


# --- identity: links, duplicates, tracking ----------------------------------------------


def test_parse_feed_duplicate_items_give_one_article() -> None:
    result = parse(fixture("duplicates.xml"))
    assert [a.url for a in result.articles] == [
        "https://echo.example/story/77",
        "https://echo.example/story/78",
    ]
    assert result.articles[0].title == "Original headline"


def test_parse_feed_tracking_variants_give_one_article() -> None:
    result = parse(fixture("tracking.xml"))
    assert [a.url for a in result.articles] == [
        "https://track.example/news/kidnapping?id=5&lang=en"
    ]


def test_parse_feed_relative_links_resolve_against_feed_url() -> None:
    result = parse(fixture("relative_links.xml"))
    assert [a.url for a in result.articles] == [
        "https://news.example.org/news/2024/raid",
        "https://news.example.org/feeds/stories/rescue.html",
        "https://news.example.org/archive/old.html",
    ]
    assert result.articles[0].summary == "See photos."


def test_parse_feed_items_without_usable_link_are_skipped_and_counted() -> None:
    result = parse(fixture("missing_links.xml"))
    guid_only, untitled = result.articles
    assert guid_only.url == "https://missing.example/guid-only"
    assert guid_only.guid == "https://missing.example/guid-only?utm_source=rss"
    assert result.warning == "3 item(s) without a usable link or guid skipped"
    # An untitled item borrows the start of its summary, cut at a word.
    assert untitled.title.endswith("word boundary…")
    assert len(untitled.title) <= 121


# --- hostile bodies -----------------------------------------------------------------------


def test_parse_feed_billion_laughs_is_not_expanded() -> None:
    result = parse(fixture("billion_laughs.xml"))
    assert [a.url for a in result.articles] == [
        "https://bomb.example/one",
        "https://bomb.example/two",
    ]
    assert total_text(result) < 1_000
    assert result.warning is not None and "entities are not expanded" in result.warning


def test_parse_feed_billion_laughs_in_utf16_is_not_expanded() -> None:
    body = fixture("billion_laughs.xml").decode().replace('encoding="utf-8"', 'encoding="utf-16"')
    result = parse(codecs.BOM_UTF16_LE + body.encode("utf-16-le"))
    assert len(result.articles) == 2
    assert total_text(result) < 1_000


def test_quadratic_blowup_fixture_expands_in_bare_feedparser() -> None:
    # Guards the next test: the fixture is a real bomb for feedparser on its own.
    body = fixture("quadratic_blowup.xml")
    raw = feedparser.parse(io.BytesIO(body))
    assert len(raw.entries[0].title) > 100 * len(body)


def test_parse_feed_quadratic_blowup_is_not_expanded() -> None:
    body = fixture("quadratic_blowup.xml")
    result = parse(body)
    assert [a.url for a in result.articles] == ["https://bomb.example/quadratic"]
    assert total_text(result) < len(body)


def test_parse_feed_gzip_body_without_header_is_inflated() -> None:
    result = parse(gzip.compress(fixture("rss20.xml")))
    assert len(result.articles) == 3
    assert result.warning is not None and "gzip" in result.warning


def test_parse_feed_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"<rss>" + b" " * 5_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(ParseError, match="inflates to more than"):
        parse(bomb, max_bytes=1_000_000)


def test_parse_feed_corrupt_gzip_is_refused() -> None:
    with pytest.raises(ParseError, match="does not inflate"):
        parse(b"\x1f\x8b\x08\x00garbage that is not deflate data")


def test_parse_feed_oversize_body_is_refused() -> None:
    body = fixture("rss20.xml")
    with pytest.raises(ParseError, match="over the 1,000-byte limit") as info:
        parse(body, max_bytes=1_000)
    assert "mekong-wire" in str(info.value) and FEED_URL in str(info.value)


def test_parse_feed_body_that_names_a_file_is_not_opened(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(fixture("rss20.xml"))
    with pytest.raises(ParseError, match="not a feed"):
        parse(str(secret).encode())


def test_parse_feed_body_that_is_a_url_is_not_fetched() -> None:
    # Port 9 on loopback: were the body fetched, the error would be a connection failure.
    with pytest.raises(ParseError, match="no XML markup"):
        parse(b"http://127.0.0.1:9/feed.xml")


# --- not feeds, broken feeds ------------------------------------------------------------


def test_parse_feed_html_page_is_refused_with_a_hint() -> None:
    with pytest.raises(ParseError) as info:
        parse(fixture("html_page.html"), content_type="text/html; charset=utf-8")
    error = info.value
    # The page advertises its feed; the error names it.
    assert "it advertises feeds: https://news.example.org/rss/latest.xml" in error.message
    assert "mekong-wire" in error.message and FEED_URL in error.message


def test_parse_feed_html_page_without_feed_links_gets_a_hint() -> None:
    page = b"<!doctype html><html><head><title>Front</title></head><body>News</body></html>"
    with pytest.raises(ParseError) as info:
        parse(page, content_type="text/html")
    assert "not a feed (looks like an HTML page)" in info.value.message
    assert info.value.hint and "newswatch sources add" in info.value.hint


def test_parse_feed_html_page_names_the_feeds_it_advertises() -> None:
    page = (
        b"<!doctype html><html><head><title>Mekong Wire</title>"
        b'<link rel="alternate" type="application/rss+xml" href="/feed/">'
        b'<link rel="alternate" type="application/atom+xml" href="https://cdn.example/atom.xml">'
        b'<link rel="stylesheet" href="/style.css"></head><body><p>News</p></body></html>'
    )
    with pytest.raises(ParseError) as info:
        parse(page, content_type="text/html")
    message = info.value.message
    assert f"{FEED_URL} is an HTML page; it advertises feeds: " in message
    assert "https://news.example.org/feed/, https://cdn.example/atom.xml" in message
    assert "use one as the source url" in message
    assert "style.css" not in message


@pytest.mark.parametrize("body", [b"", b"   \r\n\t "])
def test_parse_feed_empty_body_is_refused(body: bytes) -> None:
    with pytest.raises(ParseError, match="empty body"):
        parse(body)


@pytest.mark.parametrize(
    "body",
    [b"Service temporarily unavailable", bytes(range(256)) * 4, b'{"items": []}'],
)
def test_parse_feed_garbage_is_refused(body: bytes) -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse(body)


def test_parse_feed_xml_that_is_not_a_feed_is_refused() -> None:
    with pytest.raises(ParseError, match=r"root element <urlset>"):
        parse(b'<?xml version="1.0"?><urlset><url><loc>https://x.example/</loc></url></urlset>')


def test_parse_feed_empty_valid_feed_returns_no_articles() -> None:
    result = parse(fixture("empty_channel.xml"))
    assert result == FeedResult(articles=[], title="Quiet Feed", warning=None)


def test_parse_feed_truncated_keeps_complete_items_with_warning() -> None:
    result = parse(fixture("truncated.xml"))
    assert [a.title for a in result.articles] == ["First complete item", "Second complete item"]
    assert result.warning is not None
    assert result.warning.startswith("feed is not well-formed XML (line 16)")
    assert "parsed leniently" in result.warning


def test_parse_feed_truncated_before_any_item_is_refused() -> None:
    with pytest.raises(
        ParseError, match=r"broken feed without items: not well-formed XML \(line 6\)"
    ):
        parse(fixture("truncated_early.xml"))


def test_parse_feed_error_line_numbers_survive_doctype_removal() -> None:
    result = parse(fixture("broken_after_doctype.xml"))
    assert result.warning is not None
    assert "(line 11): mismatched tag" in result.warning
    assert result.articles[0].title == "Kept"


def test_parse_feed_xml_declaration_after_a_comment_is_tolerated() -> None:
    result = parse(fixture("misplaced_declaration.xml"))
    assert result.warning is None
    assert [a.title for a in result.articles] == ["Still parsed strictly"]


# --- encodings ----------------------------------------------------------------------------

ENCODED_TITLE = {
    "windows-1251": "Похищение в Пойпете",
    "iso-8859-7": "Απαγωγή στην Καμπότζη",
    "tis-620": "ค้ามนุษย์ที่ชายแดนกัมพูชา",
    "big5": "柬埔寨詐騙園區",
    "gb2312": "柬埔寨诈骗园区",
    "shift_jis": "カンボジアの詐欺拠点",
    "euc-kr": "캄보디아 사기 조직",
    "koi8-r": "Торговля людьми",
    "windows-1252": "Café “Sihanoukville” – €5",
}


def encoded_feed(title: str, codec: str, *, declare: bool) -> bytes:
    declaration = f'<?xml version="1.0" encoding="{codec}"?>' if declare else ""
    text = (
        f'{declaration}<rss version="2.0"><channel><title>{title}</title>'
        f"<item><title>{title}</title><link>https://enc.example/1</link>"
        f"<description>{title} {title}</description></item></channel></rss>"
    )
    return text.encode(codec)


@pytest.mark.parametrize("codec", sorted(ENCODED_TITLE))
def test_parse_feed_decodes_declared_legacy_encodings(codec: str) -> None:
    title = ENCODED_TITLE[codec]
    result = parse(encoded_feed(title, codec, declare=True))
    assert (result.title, result.articles[0].title) == (title, title)


@pytest.mark.parametrize("codec", sorted(ENCODED_TITLE))
def test_parse_feed_decodes_http_charset(codec: str) -> None:
    title = ENCODED_TITLE[codec]
    body = encoded_feed(title, codec, declare=False)
    result = parse(body, content_type=f"application/rss+xml; charset={codec}")
    assert result.articles[0].title == title


# A few sentences per item: guessing needs some text, as any real feed has.
UNDECLARED_TEXT = {
    "windows-1251": "Полиция освободила сорок человек из мошеннического комплекса в Сиануквиле."
    " По словам следователей, работников удерживали силой.",
    "koi8-r": "Полиция освободила сорок человек из мошеннического комплекса в Сиануквиле."
    " По словам следователей, работников удерживали силой.",
    "iso-8859-7": "Η αστυνομία απελευθέρωσε σαράντα εργάτες από ένα συγκρότημα απάτης στη"
    " Σιανούκβιλ. Σύμφωνα με τους ερευνητές, οι εργάτες κρατούνταν με τη βία.",
    "tis-620": "ตำรวจช่วยเหลือแรงงานสี่สิบคนจากอาคารแห่งหนึ่งในสีหนุวิลล์"
    " เจ้าหน้าที่ระบุว่าแรงงานถูกบังคับให้ทำงานหลอกลวงทางออนไลน์",
    "big5": "警方在西哈努克城的一處詐騙園區救出四十名工人。"
    "調查人員表示，這些工人被強迫從事網路詐騙。",
    "gb2312": "警方在西哈努克城的一处诈骗园区救出四十名工人。"
    "调查人员表示，这些工人被强迫从事网络诈骗。",
    "euc-kr": "경찰은 시아누크빌의 사기 조직 건물에서 노동자 사십 명을 구출했다. 수사관들은 이들이"
    " 온라인 사기에 강제로 동원되었다고 밝혔다.",
    "shift_jis": "警察はシアヌークビルの詐欺拠点から労働者四十人を救出した。捜査当局によると、"
    "労働者たちはオンライン詐欺を強制されていた。",
}


@pytest.mark.parametrize("codec", sorted(UNDECLARED_TEXT))
def test_parse_feed_guesses_undeclared_legacy_encodings(codec: str) -> None:
    text = UNDECLARED_TEXT[codec]
    items = "".join(
        f"<item><title>{text[:25]}</title><link>https://enc.example/{n}</link>"
        f"<description>{text}</description></item>"
        for n in range(3)
    )
    body = f'<rss version="2.0"><channel><title>{text[:15]}</title>{items}</channel></rss>'
    result = parse(body.encode(codec))
    assert result.title == text[:15].strip()
    assert [(a.title, a.summary) for a in result.articles] == [(text[:25].strip(), text)] * 3
    assert result.warning is not None and "encoding guessed" in result.warning


def test_parse_feed_http_charset_beats_xml_declaration() -> None:
    title = ENCODED_TITLE["windows-1251"]
    body = encoded_feed(title, "windows-1251", declare=False)
    body = b'<?xml version="1.0" encoding="iso-8859-1"?>' + body
    result = parse(body, content_type="text/xml; charset=windows-1251")
    assert result.articles[0].title == title


def test_parse_feed_utf8_bytes_declared_latin1_are_read_as_utf8() -> None:
    title = "Trafic d’êtres humains à Bavet"
    body = encoded_feed(title, "utf-8", declare=False)
    result = parse(b'<?xml version="1.0" encoding="ISO-8859-1"?>' + body)
    assert result.articles[0].title == title
    assert result.warning is not None and "the bytes are UTF-8" in result.warning


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32-le", "utf-8-sig"])
def test_parse_feed_decodes_unicode_encodings(codec: str) -> None:
    title = "ព្រះសីហនុ และ กัมพูชา"
    declared = codec.removesuffix("-sig").removesuffix("-be").removesuffix("-le")
    text = (
        f'<?xml version="1.0" encoding="{declared}"?><rss version="2.0"><channel>'
        f"<item><title>{title}</title><link>https://enc.example/u</link></item></channel></rss>"
    )
    assert parse(text.encode(codec)).articles[0].title == title


def mangle(text: str) -> str:
    """UTF-8 read as windows-1252 (its undefined bytes as latin-1), as misconfigured CMSes do."""
    chars = []
    for byte in text.encode("utf-8"):
        try:
            chars.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            chars.append(chr(byte))
    return "".join(chars)


@pytest.mark.parametrize(
    "title", ["Похищение в Пойпете", "ค้ามนุษย์ที่ชายแดน", "ការជួញដូរមនុស្ស", "Trafic d’êtres humains"]
)
def test_parse_feed_repairs_whole_feed_double_encoding(title: str) -> None:
    result = parse(encoded_feed(mangle(title), "utf-8", declare=True))
    assert mangle(title) != title
    assert result.articles[0].title == title
    assert result.warning is not None and "double-encoded" in result.warning


def test_parse_feed_repairs_common_mojibake_in_an_otherwise_clean_feed() -> None:
    title = "Police say it’s “over” – café raid"
    mixed = title.replace("’", mangle("’")).replace("é", mangle("é"))
    body = encoded_feed(mixed, "utf-8", declare=True).replace(
        b"<channel>", "<channel><description>Ünïcödé déjà vu à Phnom Penh</description>".encode()
    )
    assert parse(body).articles[0].title == title


def test_parse_feed_leaves_genuine_latin1_text_alone() -> None:
    # "é\xa0»" has the shape of a UTF-8 sequence seen through windows-1252 (it would
    # become "頻"), but this is ordinary French typography.
    title = "Un enfant « doué\xa0» à l’école, déjà"
    result = parse(encoded_feed(title, "utf-8", declare=True))
    assert result.articles[0].title == title.replace("\xa0", " ")
    assert result.warning is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Il est doué\xa0» ici", "Il est doué\xa0» ici"),  # a lone lookalike stays
        ("Fuß“ und Straße", "Fuß“ und Straße"),  # would become an NKo letter
        ("it" + mangle("’") + "s", "it’s"),
        (mangle("ค้ามนุษย์"), "ค้ามนุษย์"),
    ],
)
def test_repair_double_utf8(text: str, expected: str) -> None:
    assert repair_double_utf8(text)[0] == expected


# --- helpers and concurrency ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fragment", "keep_lines", "expected"),
    [
        ("<p>One</p><p>Two<br>Three</p>", True, "One\nTwo\nThree"),
        ("<p>One</p><p>Two<br>Three</p>", False, "One Two Three"),
        ("A &amp; B &lt;3 &#8217; &nbsp;C", False, "A & B <3 ’ C"),
        ("<style>p{}</style><script>x()</script>visible", False, "visible"),
        ("line one\n\nline two", True, "line one\nline two"),
        ("<b>bold\nacross lines</b>", True, "bold across lines"),
        ("broken <![foo[ section ]]> text", False, "broken text"),
        ("", True, ""),
    ],
)
def test_html_to_text(fragment: str, keep_lines: bool, expected: str) -> None:
    assert html_to_text(fragment, keep_lines=keep_lines) == expected


def test_parse_feed_is_thread_safe() -> None:
    names = ["rss20.xml", "rss091.xml", "rss10.rdf", "atom.xml", "tracking.xml", "crlf_titles.xml"]
    bodies = [fixture(name) for name in names] * 8
    expected = [parse(body) for body in bodies]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(parse, bodies))
    assert results == expected
