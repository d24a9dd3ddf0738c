"""Canonical URLs: worked examples and properties."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from crawler.canonical import (
    TRACKING_PARAMS,
    article_link_key,
    canonicalize_url,
    is_tracking_param,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM/a", "http://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com/a#section-2", "http://example.com/a"),
        ("http://example.com/?b=2&a=1&c=3", "http://example.com/?a=1&b=2&c=3"),
        ("http://example.com/?tag=b&tag=a&tag=b", "http://example.com/?tag=a&tag=b&tag=b"),
        ("http://example.com/%7euser/a%2fb", "http://example.com/~user/a%2Fb"),
        ("http://example.com/a b", "http://example.com/a%20b"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://bücher.DE/straße", "http://xn--bcher-kva.de/stra%C3%9Fe"),
        ("http://xn--bcher-kva.de/", "http://xn--bcher-kva.de/"),
        ("  https://example.com/x\n", "https://example.com/x"),
        ("http://example.com/?id=7&utm_source=rss&UTM_Medium=feed&Utm_campaign=x", "http://example.com/?id=7"),
        (
            "https://example.com/n?fbclid=1&gclid=2&dclid=3&gbraid=4&wbraid=5&msclkid=6&id=9",
            "https://example.com/n?id=9",
        ),
        (
            "https://example.com/n?mc_cid=1&mc_eid=2&yclid=3&_ga=4&_gl=5&igshid=6&mkt_tok=7",
            "https://example.com/n",
        ),
        (
            "https://example.com/n?oly_anon_id=1&oly_enc_id=2&vero_id=3&__s=4&ref_src=5&s_cid=6",
            "https://example.com/n",
        ),
        ("https://example.com/n?xtor=RSS-3208&at_medium=RSS&at_campaign=KARANGA", "https://example.com/n"),
        ("https://example.com/n?page=2&utm_source=x#top", "https://example.com/n?page=2"),
    ],
)  # fmt: skip
def test_canonicalize_url_examples(url: str, expected: str) -> None:
    assert canonicalize_url(url) == expected


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("/news/1", "https://Example.com/feeds/rss.xml", "https://example.com/news/1"),
        ("story.html", "https://example.com/feeds/rss.xml", "https://example.com/feeds/story.html"),
        ("../a/./b", "https://example.com/x/y/z", "https://example.com/x/a/b"),
        ("//cdn.example.net/p", "https://example.com/", "https://cdn.example.net/p"),
        ("https://other.example/p", "https://example.com/", "https://other.example/p"),
    ],
)
def test_canonicalize_url_resolves_against_base(url: str, base: str, expected: str) -> None:
    assert canonicalize_url(url, base=base) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://www.google.com/url?rct=j&sa=t&url=https://investorplace.com/2019/07/slack/"
            "&ct=ga&cd=CAIyHGU4&usg=AFQjCNEZ",
            "https://investorplace.com/2019/07/slack/",
        ),
        (
            "https://www.google.com/url?sa=t&url=https%3A%2F%2FNews.Example.org%2Fa%3Fid%3D3"
            "%26utm_source%3Dalerts",
            "https://news.example.org/a?id=3",
        ),
        ("https://google.co.uk/url?q=http://example.com/x&sa=U", "http://example.com/x"),
        # Not a redirect: a search page, and a redirect to something that is not a web page.
        ("https://www.google.com/search?q=http://example.com/", "https://www.google.com/search?q=http%3A%2F%2Fexample.com%2F"),
        ("https://www.google.com/url?url=javascript:alert(1)", "https://www.google.com/url?url=javascript%3Aalert%281%29"),
    ],
)  # fmt: skip
def test_canonicalize_url_unwraps_google_redirects(url: str, expected: str) -> None:
    assert canonicalize_url(url) == expected


@pytest.mark.parametrize(
    "junk",
    ["", "   ", "not a url", "http://[::1", "http://", "mailto:tips@example.com", "tag:x,2024:1"],
)
def test_canonicalize_url_returns_junk_stripped(junk: str) -> None:
    assert canonicalize_url(f" {junk} ") == junk.strip()


def test_canonicalize_url_junk_base_leaves_url_alone() -> None:
    assert canonicalize_url("/a", base="::not a base::") == "/a"


def test_is_tracking_param_names() -> None:
    assert is_tracking_param("utm_source")
    assert is_tracking_param("UTM_Content")
    assert is_tracking_param("FBCLID")
    assert not is_tracking_param("id")
    assert not is_tracking_param("utmost")


# --- properties -------------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
_HOSTS = st.one_of(
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,8}(\.[A-Za-z]{2,4}){1,2}", fullmatch=True),
    st.sampled_from(
        ["bücher.de", "ÉCOLE.fr", "xn--bcher-kva.de", "127.0.0.1", "[::1]", "ភ្នំពេញ.com"]
    ),
)
_TRACKING_KEYS = st.one_of(
    st.sampled_from(sorted(TRACKING_PARAMS)),
    st.sampled_from(sorted(TRACKING_PARAMS)).map(str.upper),
    st.from_regex(r"[uU][tT][mM]_[A-Za-z_]{0,8}", fullmatch=True),
)
# Leading/trailing spaces and controls are stripped from a whole URL, so parameters that
# could end up last must not carry them for order-independence to hold.
_EDGE = "".join(chr(code) for code in range(0x21)) + "\x7f"
_PARAM_TEXT = _TEXT.map(lambda text: text.strip(_EDGE))
_PARAMS = st.lists(st.tuples(_PARAM_TEXT, _PARAM_TEXT), max_size=5)


@st.composite
def urls(draw: st.DrawFn, params: st.SearchStrategy[list[tuple[str, str]]] = _PARAMS) -> str:
    """http(s) URLs with odd hosts, ports, paths, queries and fragments."""
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    port = draw(st.sampled_from(["", ":80", ":443", ":8080", ":"]))
    path = "/".join(draw(st.lists(_TEXT, max_size=4)))
    query = "&".join(f"{k}={v}" for k, v in draw(params))
    fragment = draw(st.one_of(st.just(""), _TEXT.map(lambda f: "#" + f)))
    return f"{scheme}://{draw(_HOSTS)}{port}/{path}" + (f"?{query}" if query else "") + fragment


def _query_keys(url: str) -> list[str]:
    return [key for key, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)]


@given(urls())
@example("http://example.com/%25")
@example("http://example.com/?a=%2526")
def test_canonicalize_url_is_idempotent(url: str) -> None:
    once = canonicalize_url(url)
    assert canonicalize_url(once) == once


@given(st.text(max_size=40), st.one_of(st.none(), st.text(max_size=20), urls()))
def test_canonicalize_url_never_raises_and_is_idempotent_on_any_text(
    text: str, base: str | None
) -> None:
    once = canonicalize_url(text, base=base)
    assert isinstance(once, str)
    assert canonicalize_url(once) == once


@given(urls(st.lists(st.tuples(_TRACKING_KEYS, _TEXT), min_size=1, max_size=4)), _PARAMS)
def test_canonicalize_url_drops_tracking_params(url: str, extra: list[tuple[str, str]]) -> None:
    mixed = url.split("#")[0] + "".join(f"&{k}={v}" for k, v in extra if "#" not in k + v)
    result = canonicalize_url(mixed)
    assert result.startswith(("http://", "https://"))
    assert not [key for key in _query_keys(result) if is_tracking_param(key)]


@given(urls(st.just([])), st.lists(st.tuples(_TEXT, _TEXT), min_size=2, max_size=5), st.randoms())
def test_canonicalize_url_ignores_param_order(
    url: str, params: list[tuple[str, str]], rnd: object
) -> None:
    base = url.split("#")[0].split("?")[0]
    shuffled = list(params)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]

    def build(pairs: list[tuple[str, str]]) -> str:
        return base + "?" + urlencode(pairs)

    assert canonicalize_url(build(params)) == canonicalize_url(build(shuffled))


@given(urls(), _TEXT)
def test_canonicalize_url_drops_fragments(url: str, fragment: str) -> None:
    result = canonicalize_url(url.split("#")[0] + "#" + fragment)
    assert result.startswith(("http://", "https://"))
    assert "#" not in result


@pytest.mark.parametrize(
    "url",
    [
        "https://www.khmertimeskh.com/501470001/police-rescue/",
        "https://khmertimeskh.com/501470001/police-rescue",
        "https://m.khmertimeskh.com/501470001/police-rescue/amp/",
        "https://amp.khmertimeskh.com/501470001/police-rescue?utm_source=rss&amp=1",
    ],
)
def test_article_link_key_is_shared_by_www_mobile_and_amp_addresses(url: str) -> None:
    assert article_link_key(url) == "khmertimeskh.com/501470001/police-rescue"


@pytest.mark.parametrize(
    "value", ["https://www.example.org/", "https://example.org", "urn:uuid:1234", "501470001", ""]
)
def test_article_link_key_is_none_for_home_pages_and_non_addresses(value: str) -> None:
    assert article_link_key(value) is None


def test_article_link_key_keeps_identifying_queries() -> None:
    assert article_link_key("https://www.example.org/?p=501470001") == "example.org?p=501470001"
    assert article_link_key("https://example.org/news?id=1") != article_link_key(
        "https://example.org/news?id=2"
    )
