"""parse_feed against the shared corpus of real and ill-formed feeds.

Every corpus file must either parse or be refused with ParseError. Real feeds are checked
against feeds/real/INDEX.tsv; feedparser's own fixtures carry an ``Expect:`` line (a
feedparser assertion) from which the encoding and text expectations below are taken.
"""

from __future__ import annotations

import codecs
import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.canonical import canonicalize_url
from crawler.defuse import decode_body
from crawler.errors import ParseError
from crawler.feeds import FeedResult, parse_feed
from tests.corpus import CORPUS

FEEDS = CORPUS / "feeds"
REAL = FEEDS / "real"
FEEDPARSER = FEEDS / "illformed" / "feedparser"
ABSENT = f"shared corpus not found at {FEEDS}"

SOURCE = "corpus"
FEED_URL = "https://feeds.example.net/corpus.xml"
FETCHED = datetime(2024, 3, 9, tzinfo=UTC)

_HEADER = re.compile(rb"^\s*Header:\s*Content-type:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_EXPECT_ENCODING = re.compile(r"encoding == '([^']+)'")
MOJIBAKE = re.compile("Ã[\x80-\xbf]|Â[\xa0-\xbf]|â€|Ð[\x80-\xbf]|Ñ[\x80-\xbf]|\ufffd")
SCRIPTS = {
    "ru": re.compile("[\u0400-\u04ff]"),
    "el": re.compile("[\u0370-\u03ff]"),
    "ur": re.compile("[\u0600-\u06ff]"),
    "hi": re.compile("[\u0900-\u097f]"),
}
LATIN_ACCENTED = re.compile("[À-ÖØ-öø-ÿ]")
ACCENTED_LANGUAGES = {"fr", "de", "pt", "es", "it", "af"}
# Where the feed legitimately yields fewer articles than INDEX.tsv counts items.
COUNT_EXCEPTIONS = {
    "codehollow__Rss20LeFigaro.xml": 49,  # two items share one link: deduplicated in-feed
}


def _params(paths: list[Path]) -> list[object]:
    if not FEEDS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT), id="corpus-absent")]
    return [pytest.param(path, id=str(path.relative_to(FEEDS))) for path in paths]


def _names(table: dict[str, str]) -> list[object]:
    """Parameters for a table keyed by paths under FEEDPARSER (one skip if it is absent)."""
    if not FEEDPARSER.is_dir():
        return [pytest.param("", marks=pytest.mark.skip(reason=ABSENT), id="corpus-absent")]
    return list(table)


def _all_files() -> list[Path]:
    if not FEEDS.is_dir():
        return []
    illformed = sorted(p for p in (FEEDS / "illformed").rglob("*") if p.is_file())
    real = sorted(p for p in REAL.iterdir() if p.is_file() and p.suffix != ".tsv")
    return illformed + real


def _expect_line(body: bytes) -> str:
    """The ``Expect:`` line of a feedparser fixture, read in whatever encoding it is in."""
    for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "latin-1"):
        try:
            text = body.decode(codec)
        except UnicodeDecodeError:
            continue
        match = re.search(r"Expect:\s*(.*)", text)
        if match:
            return match.group(1)
    return ""


def content_type(body: bytes) -> str | None:
    """The simulated Content-Type a feedparser fixture declares in its comment."""
    match = _HEADER.search(body[:2048])
    return match.group(1).decode("latin-1") if match else None


def parse(path: Path) -> FeedResult:
    body = path.read_bytes()
    return parse_feed(
        body, source=SOURCE, url=FEED_URL, fetched=FETCHED, content_type=content_type(body)
    )


@pytest.mark.parametrize("path", _params(_all_files()))
def test_parse_feed_on_corpus_file_parses_or_refuses_cleanly(path: Path) -> None:
    try:
        result = parse(path)
    except ParseError as exc:
        assert exc.message.startswith(f"source {SOURCE!r} ({FEED_URL}): ")
        assert exc.hint
        return
    urls = [article.url for article in result.articles]
    assert len(set(urls)) == len(urls)
    for article in result.articles:
        assert article.url.startswith(("http://", "https://"))
        assert canonicalize_url(article.url) == article.url
        assert "\n" not in article.title and "\r" not in article.title
        assert article.title == article.title.strip()
        assert (article.source, article.fetched) == (SOURCE, FETCHED)
        if article.published is None:
            assert article.date_source == "fetched"
        else:
            assert article.date_source == "feed"
            assert article.published.utcoffset() == timedelta(0)


def _index_rows() -> list[dict[str, str]]:
    if not (REAL / "INDEX.tsv").is_file():
        return []
    with (REAL / "INDEX.tsv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _index_params() -> list[object]:
    rows = _index_rows()
    if not rows:
        return [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT), id="corpus-absent")]
    return [pytest.param(row, id=row["file"]) for row in rows]


@pytest.mark.parametrize("row", _index_params())
def test_parse_feed_on_real_feed_matches_index(row: dict[str, str]) -> None:
    result = parse(REAL / row["file"])
    expected = COUNT_EXCEPTIONS.get(row["file"], int(row["items_or_entries"]))
    assert len(result.articles) == expected
    titles = [article.title for article in result.articles]
    assert all(titles)
    assert result.title
    text = " ".join([result.title, *titles, *(a.summary for a in result.articles)])
    assert not MOJIBAKE.search(text), MOJIBAKE.search(text)
    script = SCRIPTS.get(row["lang"])
    if script is not None:
        assert script.search(" ".join([result.title, *titles]))
    if row["lang"] in ACCENTED_LANGUAGES:
        assert LATIN_ACCENTED.search(text)


def _encoding_cases() -> list[Path]:
    if not FEEDPARSER.is_dir():
        return []
    paths = sorted((FEEDPARSER / "encoding").glob("*.xml"))
    paths += sorted((FEEDPARSER / "illformed" / "chardet").glob("*.xml"))
    return [p for p in paths if _EXPECT_ENCODING.search(_expect_line(p.read_bytes()))]


@pytest.mark.parametrize("path", _params(_encoding_cases()))
def test_decode_body_matches_feedparser_expected_encoding(path: Path) -> None:
    # The fixture says which encoding feedparser settles on; decoding with it gives the
    # reference text (where it decodes at all) and ours must be the same characters.
    body = path.read_bytes()
    expected_codec = _EXPECT_ENCODING.search(_expect_line(body)).group(1)  # type: ignore[union-attr]
    try:
        reference = body.decode(expected_codec).lstrip("\ufeff")
    except UnicodeDecodeError:
        pytest.skip(f"{expected_codec} does not decode this fixture; feedparser falls back")
    decoded = decode_body(body, content_type(body))
    assert decoded.text == reference
    if expected_codec.lower().startswith("utf"):
        assert codecs.lookup(decoded.encoding).name == codecs.lookup(expected_codec).name


CHARDET_SCRIPTS = {
    "big5.xml": "[\u4e00-\u9fff]",
    "gb2312.xml": "[\u4e00-\u9fff]",
    "eucjp.xml": "[\u3040-\u30ff]",
    "shiftjis.xml": "[\u3040-\u30ff]",
    "euckr.xml": "[\uac00-\ud7a3]",
    "koi8r.xml": "[\u0400-\u04ff]",
    "tis620.xml": "[\u0e00-\u0e7f]",
    "windows1255.xml": "[\u0590-\u05ff]",
}


@pytest.mark.parametrize("name", _names(CHARDET_SCRIPTS))
def test_decode_body_guesses_undeclared_legacy_script(name: str) -> None:
    body = (FEEDPARSER / "illformed" / "chardet" / name).read_bytes()
    decoded = decode_body(body)
    assert re.search(CHARDET_SCRIPTS[name], decoded.text)
    assert "encoding guessed" in " ".join(decoded.notes)


FEED_TITLES = {
    "illformed/always_strip_doctype.xml": "found",
    "illformed/chardet/big5.xml": "我希望??很容易?其翻?成中文，并有助于改??件。 感?您??本文。",
    "encoding/euc-kr.xml": "\ub144",
    "encoding/http_i18n.xml": "Iñtërnâtiônàlizætiøn",
    # text/xml without charset means us-ascii by RFC 3023; the UTF-8 declaration wins here.
    "encoding/bozo_http_i18n.xml": "Iñtërnâtiônàlizætiøn",
    "wellformed/xml/escaped_apos.xml": "it's correct",
    "wellformed/xml/empty_xmlns_uri.xml": "empty",
    "wellformed/sanitize/xml_malicious_comment.xml": "safe",
    "wellformed/sanitize/xml_unclosed_comment.xml": "safe",
    "wellformed/sanitize/xml_declaration_unexpected_character.xml": "<!DOCTYPE ~",
}
FIRST_URLS = {
    "illformed/rss_item_link_corrupted_ampersands.xml": "http://link/get?a=1&b=2",
    "entities/query_variable_entry.xml": "http://example/?a=1&b=2&c=",
    "wellformed/rss/item_guid_conflict_link.xml": "http://link.example.com/",
}


@pytest.mark.parametrize("name", _names(FEED_TITLES))
def test_parse_feed_on_feedparser_case_gives_expected_title(name: str) -> None:
    assert parse(FEEDPARSER / name).title == FEED_TITLES[name]


@pytest.mark.parametrize("name", _names(FIRST_URLS))
def test_parse_feed_on_feedparser_case_gives_expected_link(name: str) -> None:
    assert parse(FEEDPARSER / name).articles[0].url == FIRST_URLS[name]


def test_parse_feed_on_corpus_gzip_body_without_content_encoding() -> None:
    path = FEEDS / "illformed" / "other" / "node-feedparser__invalid-characters-gzipped.xml"
    if not path.is_file():
        pytest.skip(ABSENT)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    result = parse(path)
    assert result.title == "NSHipster"
    assert len(result.articles) == 25


def test_parse_feed_on_google_alerts_unwraps_links() -> None:
    path = REAL / "feedjira__google_alerts_atom.xml"
    if not path.is_file():
        pytest.skip(ABSENT)
    result = parse(path)
    assert len(result.articles) == 20
    assert not [a.url for a in result.articles if "google.com" in a.url]
    assert (
        result.articles[1].url == "https://investorplace.com/2019/07/slack-stock-truly-compelling/"
    )
    assert not [a.title for a in result.articles if "<b>" in a.title]
