"""End to end in a real browser: ``newswatch run`` serving the web interface, driven by
Chromium through Playwright, with a local feed server and a local webhook receiver."""

from __future__ import annotations

import html
import mailbox
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.clirunner import db_rows, start_service, stop_service
from tests.httpserver import FeedServer, rss
from tests.peers import WebhookReceiver, free_port
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.browser]

HOSTILE = '<script>window.pwned = 1; alert(1)</script><img src=x onerror="window.pwned = 2">'


@dataclass
class Service:
    """The running service and its peers."""

    url: str
    folder: Path
    feeds: FeedServer
    hook: WebhookReceiver
    items: list[dict[str, str]]

    def publish(self, title: str, description: str = "") -> None:
        """Add an item to the wire feed (the service polls it every 2 seconds)."""
        n = len(self.items) + 1
        item = {"title": html.escape(title), "link": f"https://wire.example/{n}", "guid": f"w{n}"}
        item["description"] = html.escape(description or title)
        self.items.insert(0, item)
        self.feeds.add("/wire.xml", rss(self.items, title="The Wire"))

    def alerts(self) -> list[str]:
        """Subjects of the alerts the mbox channel wrote."""
        path = self.folder / "alerts.mbox"
        if not path.exists():
            return []
        box = mailbox.mbox(path)
        try:
            return [str(message["Subject"]) for message in box]
        finally:
            box.close()


CONFIG = """\
# Written by the browser tests.
[service]
database = "newswatch.db"
interval = "2s"
timeout = "5s"

[web]
listen = "127.0.0.1:{port}"

[sources.wire]
type = "rss"
url = "{feeds}/wire.xml"

[rules.scam]
query = "scam"   # the team's first rule
channels = ["box"]

[rules.casino]
query = "casino"
channels = ["hook"]

[channels.box]
type = "mbox"
path = "alerts.mbox"

[channels.hook]
type = "webhook"
url = "{hook}"
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("browser")
    feeds, hook = FeedServer(), WebhookReceiver()
    feeds.start()
    hook.start()
    hook.respond(404)  # the first webhook alert fails for good
    port = free_port()
    running = Service(f"http://127.0.0.1:{port}", folder, feeds, hook, [])
    running.publish("Scam compound raided in Sihanoukville", "Police raided a scam compound.")
    running.publish(HOSTILE + " scam warning", "A scam " + HOSTILE)
    running.publish("Casino licence suspended", "The casino lost its licence.")
    config = folder / "config.toml"
    config.write_text(CONFIG.format(port=port, feeds=feeds.url("").rstrip("/"), hook=hook.url))
    proc = start_service(config)
    try:
        wait_until(lambda: _status(running.url + "/healthz") == 200, what="the web server")
        wait_until(lambda: len(running.alerts()) >= 2, what="the first alerts")
        wait_until(
            lambda: db_rows(folder / "newswatch.db", "SELECT 1 FROM outbox WHERE state = 'failed'"),
            what="the failed webhook alert",
        )
        yield running
    finally:
        code, _, err = stop_service(proc)
        feeds.stop()
        hook.stop()
    assert code == 0, err


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except OSError:
        return 0


def test_browser_overview_shows_sources_rules_and_problems(service, page):
    from playwright.sync_api import expect

    page.goto(service.url + "/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_role("row", name="wire")).to_contain_text("200 OK")
    expect(page.get_by_role("row", name="scam")).to_contain_text("on")
    expect(page.locator("svg.spark").first).to_be_visible()
    expect(page.get_by_text("404")).to_be_visible()  # the webhook that failed
    assert page.problems == []


def test_browser_feed_markup_does_not_run(service, page):
    from playwright.sync_api import expect

    for path in ("/matches", "/search?q=warning", "/deliveries", "/rules/scam"):
        page.goto(service.url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.pwned") is None, path
    page.goto(service.url + "/matches")
    expect(page.get_by_text("<script>window.pwned = 1", exact=False).first).to_be_visible()
    assert page.problems == []


def test_browser_rule_editor_checks_and_previews_as_you_type(service, page):
    from playwright.sync_api import expect

    page.goto(service.url + "/rules/new")
    query = page.get_by_label("Query")
    query.fill("compound")
    expect(page.locator("#preview")).to_contain_text("1 of 3 articles", timeout=15_000)
    query.press_sequentially(" OR licence")
    expect(page.locator("#preview")).to_contain_text("2 of 3 articles", timeout=15_000)
    expect(page.locator("#preview")).to_contain_text("Casino licence suspended")
    query.fill("compound AND (raid")
    expect(page.locator("#check")).to_contain_text("unclosed '('")
    expect(page.locator("#check")).to_contain_text("line 1, column 14")
    query.fill("the OR news")
    expect(page.locator("#check")).to_contain_text("matches almost every article")
    # The test box.
    query.fill("rescued")
    page.get_by_label("Text", exact=True).fill("Forty workers were rescued on Friday.")
    page.get_by_role("button", name="Test").click()
    expect(page.locator("#tried")).to_contain_text("match (1 hit)")
    expect(page.locator("#tried mark")).to_have_text("rescued")
    assert page.problems == []


def test_browser_saved_rule_alerts_on_the_next_matching_item(service, page):
    from playwright.sync_api import expect

    page.goto(service.url + "/rules/new")
    page.get_by_label("Name").fill("trafficking")
    page.get_by_label("Query").fill("traffick*")
    page.get_by_label("box").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Rule trafficking created")
    text = (service.folder / "config.toml").read_text()
    assert "# the team's first rule" in text and "[rules.trafficking]" in text
    service.publish("Trafficking ring broken up in Poipet")
    wait_until(lambda: any("Trafficking ring" in s for s in service.alerts()), what="the alert")
    assert page.problems == []


def test_browser_add_a_source_from_its_site_address(service, page):
    from playwright.sync_api import expect

    service.feeds.add(
        "/site/",
        '<html><head><title>Mekong Daily</title><link rel="alternate" '
        'type="application/rss+xml" title="Mekong Daily news" href="/site/news.xml"></head>'
        "<body>News</body></html>",
        content_type="text/html; charset=utf-8",
    )
    items = [{"title": "Scam gang arrested", "link": "https://mekong.example/1", "guid": "m1"}]
    service.feeds.add("/site/news.xml", rss(items, title="Mekong Daily news"))
    page.goto(service.url + "/sources/new")
    page.get_by_label("The site's address").fill(service.feeds.url("/site/"))
    page.get_by_role("button", name="Find feeds").click()
    expect(page.locator(".candidates")).to_contain_text("Mekong Daily news")
    page.get_by_role("button", name="Try it").first.click()
    expect(page.locator("ol.hits")).to_contain_text("Scam gang arrested")
    expect(page.locator("ol.hits .tag")).to_have_text("scam")
    page.get_by_label("Name").fill("mekong")
    page.get_by_role("button", name="Save the source").click()
    expect(page.locator(".flash")).to_contain_text("Source mekong added")
    expect(page.get_by_role("row", name="mekong")).to_be_visible()
    wait_until(lambda: any("Scam gang" in s for s in service.alerts()), what="its first alert")
    assert page.problems == []


def test_browser_retry_a_failed_delivery(service, page):
    from playwright.sync_api import expect

    page.goto(service.url + "/deliveries")
    failed = page.locator("section", has=page.get_by_role("heading", name="Failed (1)"))
    expect(failed).to_contain_text("Casino licence suspended")
    failed.get_by_role("button", name="Retry", exact=False).last.click()
    expect(page.locator(".flash")).to_contain_text("queued again")
    service.hook.wait_for(2, timeout=20)
    page.reload()
    expect(page.get_by_text("Nothing failed.")).to_be_visible()
    assert page.problems == []


def test_browser_works_at_phone_width_with_the_keyboard(service, browser):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    tab: Any = context.new_page()
    try:
        tab.goto(service.url + "/")
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, "the page scrolls sideways at phone width"
        tab.keyboard.press("Tab")
        expect(tab.locator(".skip")).to_be_focused()
        tab.keyboard.press("Enter")
        tab.keyboard.press("Tab")
        tab.keyboard.press("Tab")
        focused = tab.evaluate("document.activeElement.tagName")
        assert focused in ("A", "BUTTON", "INPUT", "SELECT", "SUMMARY")
        for path in ("/", "/matches", "/search?q=scam", "/rules", "/rules/scam", "/sources/new"):
            tab.goto(service.url + path)
            assert tab.evaluate("document.documentElement.scrollWidth") <= 375, path
            # Every form control has a label.
            unlabelled = tab.evaluate(
                """() => [...document.querySelectorAll(
                        'input:not([type=hidden]), select, textarea')]
                     .filter(el => !el.labels.length && !el.getAttribute('aria-label'))
                     .map(el => el.name)"""
            )
            assert unlabelled == [], path
    finally:
        context.close()
