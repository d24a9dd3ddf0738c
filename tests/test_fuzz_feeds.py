"""Bounded mutation fuzzing of the feed path, seeded from real feeds.

Seeds are the corpus feeds (``../shared/corpus/feeds``, when present) and this project's
own ``tests/data/feeds``. A mutation deletes bytes, inserts markup that feedparser's
element handlers react to (a dictionary, as AFL uses), overwrites bytes or splices in a
piece of another feed. Two properties:

- no exception other than ParseError escapes :func:`crawler.feeds.parse_feed`;
- nothing escapes a source's poll: mutated feeds served as the sources of one batch each
  end as a stored poll or as that source's failure, and a good feed polled alongside is
  stored every time.

Examples are derandomised so CI sees the same inputs every run (about half a minute in
all); ``NEWSWATCH_FUZZ_EXAMPLES=N`` raises the count and ``NEWSWATCH_FUZZ_RANDOM=1`` draws
new inputs, for longer runs by hand. Inputs that once escaped are replayed first.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crawler.db import open_database
from crawler.errors import NewswatchError, ParseError
from crawler.feeds import parse_feed
from crawler.fetch import CrawlManager
from crawler.models import Source
from crawler.poll import PollContext, poll_batch
from crawler.store import sync_sources
from tests.corpus import CORPUS
from tests.crawlkit import fetch_settings
from tests.httpserver import FeedServer, rss

CORPUS_FEEDS = CORPUS / "feeds"
OWN_FEEDS = Path(__file__).parent / "data" / "feeds"
MAX_SEED_BYTES = 16_000  # small seeds keep each example fast
FETCHED = datetime(2026, 3, 9, tzinfo=UTC)
PARSE_EXAMPLES = int(os.environ.get("NEWSWATCH_FUZZ_EXAMPLES", "2000"))
POLL_EXAMPLES = max(1, PARSE_EXAMPLES // 100)
FEEDS_PER_POLL = 16
FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=os.environ.get("NEWSWATCH_FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=list(HealthCheck),
)

# Markup feedparser's handlers react to, and bytes that upset decoders.
TOKENS = [
    b"<", b">", b"</", b"/>", b'"', b"'", b"&", b"&amp;", b"&#", b"<![CDATA[", b"]]>",
    b'<!DOCTYPE x [<!ENTITY e "ee">]>', b"&e;", b"xmlns:", b"\x00", b"\xff", b"\xef\xbb\xbf",
    b"<item>", b"</item>", b"<entry>", b"</entry>", b"<link>", b"</link>", b"<guid>",
    b"<title>", b"<description>", b"<category>", b"<source>", b"<author>", b"<pubDate>",
    b"<image>", b"</image>", b"<width>", b"</width", b"<height>", b"</height", b"<textInput>",
    b'<enclosure url="x"/>', b"<gml:pos>", b"</gml:pos>", b"<georss:point>",
    b"<georss:where>", b'<media:content url="x">', b"<media:player>", b"<media:thumbnail>",
    b'<itunes:image href="x"/>', b"<itunes:category>", b"<dc:date>", b"<content:encoded>",
    b"<psc:chapter>", b"<cc:license>", b"<admin:generatorAgent>",
]  # fmt: skip

# Minimal inputs that make feedparser raise instead of setting bozo (parse_feed must turn
# them into ParseError): the two of the shared corpus (feeds/fuzz) and three more that
# longer runs of this test found, shrunk.
ESCAPED = [
    b"<e</gml:pos>",  # KeyError 'where' in the georss handlers
    b"</width<t",  # TypeError in the <width> / <height> handlers
    b"<item<category</entry>)</category>",  # KeyError 'tags' in the <category> handler
    b"<description<media:player/>",  # KeyError 'media_player' in the mediarss handlers
    b"<item<textInput<a: t>",  # KeyError 'textinput' in the <description> handler
]


CRASH_SITES = [
    "KeyError in feedparser's georss handling",
    "TypeError in feedparser's <width> handling",
    "KeyError in feedparser's <category> handling",
    "KeyError in feedparser's mediarss handling",
    "KeyError in feedparser (mixin.py, _get_context)",
]


@pytest.mark.parametrize(("body", "where"), list(zip(ESCAPED, CRASH_SITES, strict=True)))
def test_parse_feed_names_where_the_parser_crashed(body: bytes, where: str) -> None:
    with pytest.raises(ParseError) as raised:
        parse_feed(body, source="kt", url="https://feeds.example.net/f.xml", fetched=FETCHED)
    assert raised.value.message == f"source 'kt': the feed could not be parsed ({where})"
    assert isinstance(raised.value.__cause__, KeyError | TypeError)


def _seeds() -> list[bytes]:
    folders = [OWN_FEEDS, CORPUS_FEEDS] if CORPUS_FEEDS.is_dir() else [OWN_FEEDS]
    paths = sorted(p for folder in folders for p in folder.rglob("*") if p.is_file())
    seeds = [p.read_bytes() for p in paths if p.suffix not in {".md", ".tsv"}]
    return [seed for seed in seeds if 0 < len(seed) <= MAX_SEED_BYTES]


SEEDS = _seeds()
TRIED: Counter[str] = Counter()


@st.composite
def mutated_feeds(draw: st.DrawFn) -> bytes:
    """A seed feed with one to six mutations."""
    body = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(body)))
        operation = draw(st.sampled_from(["delete", "insert", "overwrite", "splice"]))
        if operation == "delete":
            del body[at : at + draw(st.integers(1, 16))]
        elif operation == "insert":
            body[at:at] = draw(st.sampled_from(TOKENS))
        elif operation == "overwrite":
            body[at : at + 1] = draw(st.binary(min_size=1, max_size=4))
        else:
            donor = draw(st.sampled_from(SEEDS))
            start = draw(st.integers(0, len(donor)))
            body[at:at] = donor[start : start + draw(st.integers(1, 64))]
    return bytes(body)


def _escapes(test):  # type: ignore[no-untyped-def]
    for body in ESCAPED:
        test = example(body)(test)
    return test


@settings(FUZZ_SETTINGS, max_examples=PARSE_EXAMPLES)
@given(mutated_feeds())
@_escapes
def test_fuzz_parse_feed_raises_nothing_but_parse_error(body: bytes) -> None:
    TRIED["parse"] += 1
    try:
        parse_feed(body, source="fuzz", url="https://feeds.example.net/f.xml", fetched=FETCHED)
    except ParseError:
        TRIED["parse refused"] += 1


@pytest.fixture(scope="module")
def crawls() -> CrawlManager:
    return CrawlManager(fetch_settings(retries=0, max_size=10 * 1024 * 1024))


GOOD = rss([{"title": "Raid in Bavet", "link": "https://news.example.org/raid", "guid": "r"}])


@settings(FUZZ_SETTINGS, max_examples=POLL_EXAMPLES)
@given(st.lists(mutated_feeds(), min_size=FEEDS_PER_POLL, max_size=FEEDS_PER_POLL))
def test_fuzz_poll_isolates_every_feed(
    loop_thread, crawls, http_server: FeedServer, bodies: list[bytes]
) -> None:
    sources = [Source("good", "rss", http_server.add("/good", GOOD))]
    for n, body in enumerate(bodies):
        sources.append(Source(f"f{n}", "rss", http_server.add(f"/f{n}", body)))
    db = open_database(":memory:")
    try:
        sync_sources(db, [(s.name, s.type, s.url) for s in sources])
        context = PollContext(db, crawls, interval_of=lambda _: timedelta(minutes=5))
        polls = loop_thread.run(poll_batch(context, sources))
    finally:
        db.close()
    TRIED["poll"] += len(bodies)
    assert [poll.source for poll in polls] == [source.name for source in sources]
    good, *fuzzed = polls
    assert good.failure is None and good.new == 1
    for poll in fuzzed:
        assert poll.failure is None or isinstance(poll.failure, NewswatchError)
        TRIED["poll failed"] += poll.failure is not None


def test_fuzz_seeds_and_counts_are_sane() -> None:
    """Runs after the fuzz tests (file order): they tried what they were asked to."""
    assert len(SEEDS) >= 10
    if TRIED["parse"]:  # unless deselected
        assert TRIED["parse"] >= PARSE_EXAMPLES
    print(f"fuzz: {len(SEEDS)} seeds, inputs tried: {dict(TRIED)}")
