"""The registry of source kinds: every config type has one, each on a crawl of its kind."""

from __future__ import annotations

import pytest

from crawler.sources import SOURCE_KINDS, source_kind
from crawler.sources.rss import FeedCrawl, RssKind
from crawler.sources.site import SiteCrawl, SiteKind
from scheduler.config_models import SOURCE_TYPES


def test_every_config_source_type_has_a_kind():
    assert set(SOURCE_TYPES) == set(SOURCE_KINDS)


@pytest.mark.parametrize("name", sorted(SOURCE_KINDS))
def test_kinds_are_registered_under_their_type_and_share_their_crawl(name):
    kind = SOURCE_KINDS[name]
    assert kind.type == name
    assert isinstance(kind, RssKind | SiteKind)
    assert isinstance(kind.crawl, FeedCrawl if isinstance(kind, RssKind) else SiteCrawl)


def test_html_and_sitemap_sources_share_one_crawl():
    assert SOURCE_KINDS["html"].crawl is SOURCE_KINDS["sitemap"].crawl


def test_unknown_type_names_the_known_kinds():
    with pytest.raises(
        KeyError, match="no source kind 'atom' \\(known: google-news, html, rss, sitemap\\)"
    ):
        source_kind("atom")
