"""Article extraction on real corpus pages and on small hand-written pages."""

from __future__ import annotations

import gzip
import json
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import lxml.html
import pytest

from crawler.errors import ParseError
from crawler.extract import (
    MAX_BODY_BYTES,
    MAX_ELEMENTS,
    Extracted,
    decode_html,
    extract_article,
)
from tests.corpus import CORPUS

ARTICLES = CORPUS / "articles"
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}"
)

# Pages whose trafilatura eval snippets are all met; the others are tracked by the benchmark.
CLEAN_EVAL_PAGES = [
    "bbc.com.52241221.html",
    "nytimes.com.blackouts.html",
    "independent.co.uk.penalty.html",
    "telegraph.co.uk.plumber.html",
    "politico.com.retirement.html",
    "cbsnews.com.carolina.html",
    "latimes.com.bloomberg.html",
    "economist.com.thinking.html",
    "japantimes.co.jp.surgical.html",
    "abc13.com-Copperfield.html",
    "world.kbs.co.kr-Temperatures.html",
    "dw.com-elephants.html",
]
NON_LATIN_PAGES = [
    "arabic_article",
    "burmese_article",
    "chinese_article_001",
    "chinese_article_002",
    "japanese_article2",
    "thai_article",
]

ARTICLE_PARAGRAPHS = [
    "Police in Sihanoukville raided a compound on Tuesday where, according to officers, "
    "more than two hundred people had been held and forced to run online fraud schemes.",
    "Several of those rescued said recruiters had promised them office jobs in Phnom Penh "
    "with good salaries, free housing and help with their visas before they travelled.",
    "Instead, their passports were taken on arrival and they were told to repay invented "
    "debts by working twelve-hour shifts, a pattern described by aid groups in Bavet too.",
    "The provincial court is expected to hear the case next month, a spokesman said, "
    "while embassies arrange for the workers to be sent home to their own countries.",
]
COMMENT_TEXT = "First! This reader comment must never count as article text."


def _page(*, head: str = "", comments: str = "", lang: str | None = "en") -> bytes:
    """A small news page; ``comments`` puts a reader thread "inside" or "after" the article."""
    article = "".join(f"<p>{para}</p>" for para in ARTICLE_PARAGRAPHS)
    thread = (
        '<section id="comments" class="comments-area"><h2>3 comments</h2>'
        '<ol class="comment-list"><li class="comment"><div class="comment-author">reader42</div>'
        f'<div class="comment-content"><p>{COMMENT_TEXT}</p></div></li>'
        '<li class="comment"><div class="comment-content"><p>Another reader adds that the '
        "raid was long overdue and names nobody in particular.</p></div></li></ol></section>"
    )
    lang_attr = f' lang="{lang}"' if lang else ""
    html = (
        f"<!DOCTYPE html><html{lang_attr}><head><meta charset=utf-8>"
        f"<title>Compound raided in Sihanoukville</title>{head}</head><body>"
        '<nav><a href="/">Home</a> <a href="/world">World</a></nav>'
        "<article><h1>Compound raided in Sihanoukville</h1>"
        f"{article}{thread if comments == 'inside' else ''}</article>"
        f"{thread if comments == 'after' else ''}"
        "<footer>Copyright Example News</footer></body></html>"
    )
    return html.encode("utf-8")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _corpus_extract(path: Path, **kwargs: str) -> Extracted:
    return extract_article(path.read_bytes(), url=f"https://example.org/{path.name}", **kwargs)


# --- article body on real pages -------------------------------------------------------------


@needs_corpus
@pytest.mark.parametrize("name", CLEAN_EVAL_PAGES)
def test_extract_article_keeps_body_and_drops_boilerplate(name: str) -> None:
    evaldata = json.loads((ARTICLES / "trafilatura" / "evaldata.json").read_text("utf-8"))
    ((url, expected),) = ((u, e) for u, e in evaldata.items() if e["file"] == name)
    text = extract_article((ARTICLES / "trafilatura" / "html" / name).read_bytes(), url=url).text
    for snippet in expected["with"]:
        assert snippet in text, f"article sentence missing: {snippet!r}"
    for snippet in expected["without"]:
        assert snippet not in text, f"boilerplate leaked into the text: {snippet!r}"


@needs_corpus
def test_extract_article_matches_zyte_ground_truth_openings() -> None:
    root = ARTICLES / "zyte-benchmark"
    truth = json.loads((root / "ground-truth.json").read_text("utf-8"))
    outlets = ("bbc.", "reuters.com", "theguardian.com", "aljazeera.com")
    picked = {k: v for k, v in truth.items() if any(o in v["url"] for o in outlets)}
    assert len(picked) >= 4, "the corpus should hold pages from these outlets"
    for key, item in picked.items():
        body = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes())
        text = _one_line(extract_article(body, url=item["url"]).text)
        opening = _one_line(item["articleBody"].strip().split("\n")[0])[:120]
        assert opening in text, f"{item['url']}: opening paragraph not extracted"


@needs_corpus
def test_extract_article_splits_paragraphs_with_newlines() -> None:
    result = _corpus_extract(ARTICLES / "newspaper4k" / "html" / "cnn_article.html")
    paragraphs = result.text.split("\n")
    assert len(paragraphs) > 20
    assert all(p == p.strip() and p for p in paragraphs)
    assert '"We dodged a bullet," said Steve Cowan' in paragraphs[2]


# --- decoding -------------------------------------------------------------------------------


@needs_corpus
@pytest.mark.parametrize("name", NON_LATIN_PAGES)
def test_extract_article_decodes_non_latin_scripts(name: str) -> None:
    root = ARTICLES / "newspaper4k"
    text = _corpus_extract(root / "html" / f"{name}.html").text
    expected = (root / "txt" / f"{name}.txt").read_text("utf-8").splitlines()
    sample = [_one_line(line) for line in expected if line.strip()][:4]
    assert sample
    for line in sample:
        assert line in text, f"expected text missing or garbled: {line[:60]!r}"


@needs_corpus
@pytest.mark.parametrize("name", ["qq", "gmw", "pixnet", "yahoo-4"])
def test_extract_article_decodes_readability_cjk_pages(name: str) -> None:
    # qq's source declares <meta charset=gb2312> but the bytes are UTF-8.
    folder = ARTICLES / "readability" / name
    text = _one_line(_corpus_extract(folder / "source.html").text)
    expected = lxml.html.fromstring((folder / "expected.html").read_text("utf-8"))
    paragraphs = [_one_line(p.text_content()) for p in expected.iter("p")]
    # The first paragraph is a dateline the reference keeps and extraction may not.
    long_ones = [p for p in paragraphs if len(p) >= 20][1:4]
    assert long_ones
    for paragraph in long_ones:
        assert paragraph[:20] in text, f"paragraph missing or garbled: {paragraph[:20]!r}"


@needs_corpus
@pytest.mark.parametrize(
    ("name", "codec", "label"),
    [("thai_article", "cp874", "tis-620"), ("chinese_article_001", "gb18030", "gbk")],
)
def test_extract_article_decodes_legacy_encodings(name: str, codec: str, label: str) -> None:
    utf8 = (ARTICLES / "newspaper4k" / "html" / f"{name}.html").read_bytes()
    reference = extract_article(utf8, url="https://example.org/utf8").text
    source = utf8.decode("utf-8")
    undeclared = source.replace('charset="utf-8"', "").replace("charset=utf-8", "")
    assert "charset" not in undeclared[:4096].lower()
    as_meta = undeclared.replace("<head>", f'<head><meta charset="{label}">', 1)
    cases = {
        "http charset": (undeclared.encode(codec, "xmlcharrefreplace"), label),
        "meta charset": (as_meta.encode(codec, "xmlcharrefreplace"), None),
        "detected": (undeclared.encode(codec, "xmlcharrefreplace"), None),
    }
    for case, (body, declared) in cases.items():
        text = extract_article(body, url=f"https://example.org/{case}", encoding=declared).text
        assert text == reference, f"{codec} page decoded wrongly when {case}"


def test_decode_html_honours_bom_and_declared_charset() -> None:
    text = "<html><body><p>Phnom Penh \u2013 \u1797\u17d2\u1793\u17c6\u1796\u17c1\u1789</p>"
    assert decode_html(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    assert decode_html(b"\xff\xfe" + text.encode("utf-16-le"), "iso-8859-1") == text
    latin = "<p>caf\u00e9 cr\u00e8me</p>".encode("cp1252")
    assert decode_html(latin, "windows-1252") == "<p>caf\u00e9 cr\u00e8me</p>"
    assert decode_html(latin, "no-such-charset").startswith("<p>caf")


@needs_corpus
def test_extract_article_reads_khmer_despite_english_lang_attribute() -> None:
    sample = CORPUS / "khmer" / "km" / "khmer-nltk__samples_input.txt"
    lines = [line.strip() for line in sample.read_text("utf-8").splitlines() if line.strip()]
    body = "".join(f"<p>{line}</p>" for line in lines)
    page = f'<html lang="en-US"><head><title>News</title></head><body><article>{body}</article>'
    result = extract_article(page.encode("utf-8"), url="https://example.org/km")
    assert result.language == "km"
    # trafilatura drops the zero-width spaces Khmer uses as word-break hints.
    assert _one_line(lines[1]).replace("\u200b", "") in _one_line(result.text)


# --- comments, metadata ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["after", "inside"])
def test_extract_article_leaves_out_reader_comments(where: str) -> None:
    result = extract_article(_page(comments=where), url="https://example.org/raid")
    assert ARTICLE_PARAGRAPHS[0] in result.text
    assert ARTICLE_PARAGRAPHS[-1] in result.text
    assert COMMENT_TEXT not in result.text
    assert "long overdue" not in result.text
    assert "Home" not in result.text.split("\n")


def test_extract_article_reads_stated_publication_time_as_utc() -> None:
    head = '<meta property="article:published_time" content="2024-03-05T14:30:00+07:00">'
    result = extract_article(_page(head=head), url="https://example.org/raid")
    assert result.published == datetime(2024, 3, 5, 7, 30, tzinfo=UTC)
    assert result.title == "Compound raided in Sihanoukville"
    assert result.language == "en"


def test_extract_article_puts_a_bare_date_at_midnight_utc() -> None:
    head = '<meta name="date" content="2024-03-05">'
    result = extract_article(_page(head=head, lang="en-GB"), url="https://example.org/raid")
    assert result.published == datetime(2024, 3, 5, tzinfo=UTC)
    assert result.language == "en"


def test_extract_article_without_a_date_has_none() -> None:
    result = extract_article(_page(), url="https://example.org/raid")
    assert result.published is None


def test_extract_article_reads_language_from_meta_when_lang_is_absent() -> None:
    head = '<meta property="og:locale" content="vi_VN">'
    result = extract_article(_page(head=head, lang=None), url="https://example.org/raid")
    assert result.language == "vi"
    assert extract_article(_page(lang=None), url="https://example.org/raid").language is None


def test_extract_article_accepts_a_bare_fragment() -> None:
    fragment = "<div>" + "".join(f"<p>{para}</p>" for para in ARTICLE_PARAGRAPHS) + "</div>"
    result = extract_article(fragment.encode("utf-8"), url="https://example.org/fragment")
    assert result.text == "\n".join(ARTICLE_PARAGRAPHS)


@needs_corpus
def test_extract_article_prefers_first_publication_over_revision_time() -> None:
    # Reuters states the revision time in sailthru.date and the first one in datePublished.
    page = ARTICLES / "trafilatura" / "html" / "reuters.com.parasite.html"
    assert _corpus_extract(page).published == datetime(2020, 1, 19, 12, 25, 36, tzinfo=UTC)


@needs_corpus
def test_extract_article_uses_json_ld_body_of_script_rendered_pages() -> None:
    # The SCMP page renders its story from JSON; the HTML holds only a photo caption.
    text = _corpus_extract(ARTICLES / "trafilatura" / "html" / "scmp.com.playbook.html").text
    assert "almost insulting to Hongkongers" in text
    assert "using political shrewdness" in text
    assert "By registering, you agree to" not in text


@needs_corpus
@pytest.mark.parametrize(
    ("name", "published", "language"),
    [
        ("japanese_article", datetime(2018, 6, 18, 20, 50, tzinfo=UTC), "ja"),
        ("wired_001", datetime(2023, 11, 7, 7, 0, tzinfo=UTC), "en"),
        ("thai_article", datetime(2019, 1, 21, tzinfo=UTC), "th"),
        ("arabic_article", datetime(2013, 1, 1, tzinfo=UTC), "ar"),
    ],
)
def test_extract_article_reads_corpus_dates_and_languages(
    name: str, published: datetime, language: str
) -> None:
    result = _corpus_extract(ARTICLES / "newspaper4k" / "html" / f"{name}.html")
    assert result.published == published
    assert result.published.utcoffset().total_seconds() == 0
    assert result.language == language


@needs_corpus
def test_extract_article_reads_author_and_title() -> None:
    result = _corpus_extract(ARTICLES / "newspaper4k" / "html" / "time_001.html")
    assert result.author == "Alejandro de la Garza"
    assert result.title is not None and result.title.startswith("We Need Geoengineering")


# --- bad input ------------------------------------------------------------------------------

URL = "https://example.org/bad-page"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b" \n\t ", id="blank"),
        pytest.param(b"<html><head></head><body></body></html>", id="no-text"),
        pytest.param(b"<html><body><script>var x = 1;</script></body></html>", id="script"),
        pytest.param(random.Random(7).randbytes(20_000), id="random-bytes"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, id="png"),
        pytest.param(b"\x1f\x8b\x08\x00garbage", id="corrupt-gzip"),
        pytest.param(gzip.compress(b"<p>x</p>" * (MAX_BODY_BYTES // 4)), id="gzip-bomb"),
        pytest.param(b"<p>" * (MAX_BODY_BYTES // 3 + 1), id="oversized"),
        pytest.param(b"<p>w " * (MAX_ELEMENTS + 1), id="too-many-elements"),
    ],
)
def test_extract_article_rejects_unusable_input_naming_the_url(body: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        extract_article(body, url=URL)
    assert URL in str(caught.value)


def test_extract_article_survives_pathological_nesting() -> None:
    body = (b"<div>" * 50_000) + b"<p>" + ARTICLE_PARAGRAPHS[0].encode() + b"</p>"
    try:
        result = extract_article(body, url=URL)
    except ParseError as exc:
        assert URL in str(exc)
    else:
        assert "Sihanoukville" in result.text


def test_extract_article_refuses_text_instead_of_bytes() -> None:
    with pytest.raises(TypeError, match="bytes"):
        extract_article("<p>text</p>", url=URL)  # type: ignore[arg-type]


# --- concurrency ----------------------------------------------------------------------------


@needs_corpus
def test_extract_article_gives_same_results_from_threads() -> None:
    paths = [ARTICLES / "newspaper4k" / "html" / f"{name}.html" for name in NON_LATIN_PAGES]
    paths += [ARTICLES / "trafilatura" / "html" / name for name in CLEAN_EVAL_PAGES[:6]]
    sequential = [_corpus_extract(path) for path in paths]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(_corpus_extract, paths * 2))
    assert threaded == sequential * 2
