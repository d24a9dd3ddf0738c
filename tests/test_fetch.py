"""The Scrapy fetch layer against a real local HTTP server."""

from __future__ import annotations

import gzip

import pytest
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.internet import error as tx_error

from crawler.fetch import (
    CrawlManager,
    FetchRequest,
    describe_failure,
    fetch_feeds,
    parse_retry_after,
)
from crawler.models import Source
from tests.crawlkit import fetch_settings
from tests.httpserver import FeedServer, rss

FEED = rss([{"title": "Raid in Sihanoukville", "link": "http://example.org/a"}])


def fetch(loop_thread, crawls, *requests: FetchRequest):
    return loop_thread.run(fetch_feeds(crawls, list(requests)))


def req(server: FeedServer, path: str, name: str = "s", **kw) -> FetchRequest:
    return FetchRequest(Source(name=name, type="rss", url=server.url(path)), **kw)


def test_fetch_returns_body_and_validators(loop_thread, crawls, http_server):
    http_server.add("/feed", FEED, etag='"v1"', last_modified="Mon, 02 Nov 2026 10:00:00 GMT")
    (result,) = fetch(loop_thread, crawls, req(http_server, "/feed"))
    assert result.ok and result.status == 200
    assert b"Raid in Sihanoukville" in result.body
    assert result.etag == '"v1"'
    assert result.last_modified == "Mon, 02 Nov 2026 10:00:00 GMT"
    (hit,) = http_server.hits("/feed")
    assert hit.headers["User-Agent"] == "newswatch-test/1"


def test_fetch_sends_validators_and_handles_304(loop_thread, crawls, http_server):
    http_server.add("/feed", FEED, etag='"v1"')
    (result,) = fetch(loop_thread, crawls, req(http_server, "/feed", etag='"v1"'))
    assert result.not_modified and result.ok and result.body == b""
    assert http_server.hits("/feed")[0].headers["If-None-Match"] == '"v1"'


def test_fetch_reports_http_errors_and_retry_after(loop_thread, crawls, http_server):
    http_server.add("/gone", "nope", status=404)
    http_server.add("/busy", "slow down", status=429, headers={"Retry-After": "120"})
    gone, busy = fetch(
        loop_thread, crawls, req(http_server, "/gone", "a"), req(http_server, "/busy", "b")
    )
    assert gone.error == "HTTP 404" and not gone.ok
    assert busy.error == "HTTP 429" and busy.retry_after == 120
    assert len(http_server.hits("/busy")) == 1  # 429 is not retried within a poll


def test_fetch_times_out_slow_server(loop_thread, http_server):
    quick = CrawlManager(fetch_settings(timeout=0.5, retries=0))
    http_server.add("/slow", FEED, delay=5)
    (result,) = fetch(loop_thread, quick, req(http_server, "/slow"))
    assert not result.ok and "timed out" in (result.error or "")


def test_fetch_refuses_oversized_and_gzip_bomb(loop_thread, crawls, http_server):
    http_server.add("/huge", b"x" * 400_000)
    http_server.add("/bomb", b"\0" * 50_000_000, gzip=True)
    huge, bomb = fetch(
        loop_thread, crawls, req(http_server, "/huge", "h"), req(http_server, "/bomb", "b")
    )
    assert not huge.ok and huge.body == b""
    assert "size cap" in (huge.error or "")
    assert not bomb.ok and bomb.body == b""
    assert "expands beyond the size cap" in (bomb.error or "")
    assert len(gzip.compress(b"\0" * 50_000_000)) < 200_000  # the bomb itself is under the cap


def test_fetch_obeys_robots_txt(loop_thread, crawls, http_server):
    http_server.add(
        "/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain"
    )
    http_server.add("/private/feed", FEED)
    http_server.add("/public/feed", FEED)
    private, public = fetch(
        loop_thread,
        crawls,
        req(http_server, "/private/feed", "p"),
        req(http_server, "/public/feed", "q"),
    )
    assert private.error == "forbidden by robots.txt"
    assert public.ok
    assert http_server.hits("/private/feed") == []


def test_fetch_connection_refused_is_an_error_not_a_crash(loop_thread, crawls):
    source = Source(name="down", type="rss", url="http://127.0.0.1:9/feed")
    (result,) = fetch(loop_thread, crawls, FetchRequest(source))
    assert not result.ok and result.error


def test_parse_retry_after_accepts_seconds_and_dates():
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (DownloadTimeoutError("Getting x took longer than 3 seconds."), "timed out"),
        (tx_error.TimeoutError(), "timed out"),
        (tx_error.TCPTimedOutError(), "timed out"),
        (DownloadConnectionRefusedError("refused"), "connection refused"),
        (tx_error.ConnectionRefusedError(), "connection refused"),
        (CannotResolveHostError("nowhere.invalid"), "DNS lookup failed"),
        (tx_error.DNSLookupError("nowhere.invalid"), "DNS lookup failed"),
        (ResponseDataLossError(), "connection closed before the whole response arrived"),
        (IgnoreRequest("Forbidden by robots.txt"), "forbidden by robots.txt"),
        (
            DownloadCancelledError("Received 400000 bytes which is larger than download max size"),
            "response larger than the size cap ([service] max_size)",
        ),
        (ValueError("odd"), "ValueError: odd"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
)
def test_describe_failure_classifies_by_exception_type(exc, text):
    assert describe_failure(exc) == text


def test_describe_failure_ignores_class_names_that_merely_look_alike():
    # A class called like Scrapy's timeout is not one.
    lookalike = type("DownloadTimeoutError", (Exception,), {})
    assert describe_failure(lookalike("x")) == "DownloadTimeoutError: x"
