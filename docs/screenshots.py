"""Regenerate the screenshots of docs/web.md: every page of the web interface, in Chromium.

    python docs/screenshots.py                 # writes docs/web/*.png
    python docs/screenshots.py --out /tmp/shots

A demo archive is built in a temporary folder (two weeks of articles from six outlets,
four rules, alerts sent and one failed) through newswatch's own store functions; the web
interface serves it from this process, as the service would, and Debian's Chromium
(/usr/bin/chromium, or $NEWSWATCH_CHROMIUM) is driven through Playwright to each page at
desktop width, and the overview and the matches at phone width too. A small local site
with a feed stands in for a news site on the "add a source" page.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts.outbox import store as outbox  # noqa: E402
from alerts.rules.matcher import Document, Matcher  # noqa: E402
from crawler.db import Database, open_database, utcnow, write_transaction  # noqa: E402
from crawler.fetch import shutdown_reactor  # noqa: E402
from crawler.models import Article  # noqa: E402
from crawler.store import mark_matched, record_poll, store_articles, sync_sources  # noqa: E402
from crawler.stories import StoryIndex  # noqa: E402
from scheduler.config import load_config  # noqa: E402
from scheduler.wiring import build_rules  # noqa: E402

SOURCES = {
    "khmer-times": "https://www.khmertimeskh.com/feed/",
    "phnom-penh-post": "https://www.phnompenhpost.com/rss",
    "camboja-news": "https://cambojanews.com/feed/",
    "kiripost": "https://kiripost.com/feed",
    "cambodianess": "https://cambodianess.com/feed",
    "voa-khmer": "https://www.voacambodia.com/api/feed",
}
RULES = {
    "scam-compounds": '("scam compound" OR "online scam") AND (raid* OR rescue* OR police)',
    "online-gambling": "(casino OR gambling) AND (licence OR online OR crackdown)",
    "trafficking": "traffick* OR (forced AND labour)",
    "land-disputes": '"land dispute" OR eviction* OR (villagers AND land)',
}
STORIES = [
    "Police raid online scam compound in Sihanoukville, rescue {n} foreign workers",
    "Scam compound raided in Bavet; {n} workers freed after police operation",
    "Government suspends {n} online gambling licences in crackdown",
    "Casino operator fined over online gambling licence breach",
    "Court hears trafficking case of {n} workers lured with fake jobs",
    "Villagers in Kampong Speu protest eviction in land dispute with developer",
    "Rice exports rise {n} percent as harvest beats forecasts",
    "New expressway to Bavet cuts travel time by {n} minutes",
    "Mekong water levels fall below seasonal average, says commission",
    "Garment factory workers call for higher minimum wage",
    "Tourism arrivals up {n} percent on last year at Angkor",
    "Ministry opens {n} new rural health centres",
]
BODY = (
    "{title}. Officials said on {day} that the matter was under review and that more "
    "information would follow. Residents and workers interviewed by reporters described "
    "the situation in detail, and observers said the case showed how quickly things were "
    "changing in the province. The police and the relevant ministries were asked for "
    "comment; a spokesman said the authorities were working with partners in the region."
)
CONFIG = """\
# newswatch demo configuration (docs/screenshots.py)
[service]
database = "newswatch.db"
timezone = "Asia/Phnom_Penh"

[web]
listen = "127.0.0.1:8787"

{sources}
{rules}
[channels.team-mail]
type = "mbox"
path = "alerts.mbox"

[channels.team-hook]
type = "webhook"
url = "https://hooks.example.org/newswatch"
"""


def write_config(folder: Path) -> Path:
    sources = "".join(
        f'[sources.{name}]\ntype = "rss"\nurl = "{url}"\n\n' for name, url in SOURCES.items()
    )
    rules = "".join(
        f"[rules.{name}]\nquery = '{query}'\n"
        f'channels = ["team-mail"{", " + chr(34) + "team-hook" + chr(34) if n == 0 else ""}]\n\n'
        for n, (name, query) in enumerate(RULES.items())
    )
    path = folder / "config.toml"
    path.write_text(CONFIG.format(sources=sources, rules=rules), encoding="utf-8")
    return path


def seed(db: Database, config: Any) -> None:
    """Two weeks of articles, matched by the rules, with their alerts."""
    rng = random.Random(4)
    now = utcnow()
    stories = StoryIndex(db)
    sync_sources(db, [(name, "rss", url) for name, url in SOURCES.items()])
    matcher = Matcher.build(build_rules(config))
    routes = {name: tuple(rule.channels) for name, rule in config.rules.items()}
    serial = 0
    for day in range(13, -1, -1):
        for _ in range(rng.randint(4, 9)):
            template = rng.choice(STORIES)
            title = template.format(n=rng.randint(12, 300))
            outlets = rng.sample(list(SOURCES), rng.choice([1, 1, 2, 3]))
            for outlet in outlets:
                serial += 1
                when = now - timedelta(days=day, hours=rng.randint(0, 20), minutes=serial % 60)
                body = BODY.format(title=title, day=when.strftime("%A"))
                article = Article(
                    f"https://{outlet}.example/news/{serial}", outlet, title, body, when, when,
                    f"{outlet}-{serial}", language="en",
                )  # fmt: skip
                (article_id,) = store_articles(db, [article], stories) or (None,)
                if article_id is None:
                    continue
                doc = Document(title, body, outlet, article.url, "en")
                with write_transaction(db):
                    for found in matcher.match(doc):
                        outbox.record_match(
                            db,
                            rule=found.rule,
                            article_id=article_id,
                            hits=found.hits,
                            channels=routes[found.rule],
                            when=when,
                        )
                    mark_matched(db, article_id)
    due = outbox.due_deliveries(db, limit=10_000)
    newest_hook = max((d.id for d in due if d.channel == "team-hook"), default=None)
    for delivery in due:
        if delivery.id == newest_hook:
            error = "HTTP 404 Not Found (check the webhook URL)"
            outbox.mark_failed_attempt(db, delivery, error, permanent=True)
        else:
            outbox.mark_sent(db, delivery.id, when=delivery.created + timedelta(seconds=3))
    for name in SOURCES:
        error = "HTTP 503 Service Unavailable" if name == "kiripost" else None
        status = 503 if error else 200
        record_poll(db, name, status=status, error=error, new_items=2, when=now)


class _DemoSite(BaseHTTPRequestHandler):
    pages = {
        "/": (
            "text/html; charset=utf-8",
            '<html><head><title>Mekong Daily</title><link rel="alternate" '
            'type="application/rss+xml" title="Mekong Daily: news" href="/feed.xml"></head>'
            "<body><h1>Mekong Daily</h1></body></html>",
        ),
        "/feed.xml": (
            "application/rss+xml",
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Mekong Daily: news</title>'
            "<link>http://mekong.example/</link><description>d</description>"
            + "".join(
                f"<item><title>{t}</title><link>http://mekong.example/{n}</link></item>"
                for n, t in enumerate(
                    [
                        "Police raid online scam compound near Poipet, rescue 87 workers",
                        "Flooding closes two schools in Kratie",
                        "Trafficking suspects detained at the Thai border",
                        "Pepper prices hold steady at Kampot market",
                    ]
                )
            )
            + "</channel></rss>",
        ),
        "/robots.txt": ("text/plain", "User-agent: *\nDisallow:\n"),
    }

    def do_GET(self) -> None:  # noqa: N802
        content_type, body = self.pages.get(self.path, ("text/plain", ""))
        data = body.encode()
        self.send_response(200 if self.path in self.pages else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def shoot(base: str, demo_site: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = __import__("os").environ.get("NEWSWATCH_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        desk = browser.new_page(viewport={"width": 1280, "height": 860})

        def snap(name: str, path: str | None = None, page: Any = desk) -> None:
            if path is not None:
                page.goto(base + path)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            print(f"  {name}.png")

        snap("overview", "/")
        snap("matches", "/matches")
        snap("search", "/search?q=casino+AND+licen*&period=30d")
        snap("rules", "/rules")
        desk.goto(base + "/rules/scam-compounds")
        desk.get_by_label("Query").fill('("scam compound" OR "online scam") AND (raid* OR')
        desk.locator("#check .error").wait_for()
        snap("rule-error")
        desk.get_by_label("Query").fill('"scam compound" AND (raid* OR rescue*)')
        desk.get_by_label("Text", exact=True).fill(
            "Police rescued 40 workers from a scam compound in Bavet on Friday."
        )
        desk.get_by_role("button", name="Test").click()
        desk.locator("#tried mark").first.wait_for()
        desk.locator("#preview .summary").wait_for()
        snap("rule-editor")
        snap("sources", "/sources")
        desk.goto(base + "/sources/new")
        desk.get_by_label("The site's address").fill(demo_site)
        desk.get_by_role("button", name="Find feeds").click()
        desk.locator(".candidates").wait_for()
        snap("source-discover")
        desk.get_by_role("button", name="Try it").first.click()
        desk.locator("ol.hits").wait_for()
        snap("source-try")
        snap("deliveries", "/deliveries")
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        snap("overview-phone", "/", phone)
        snap("matches-phone", "/matches", phone)
        browser.close()


async def serve_and_shoot(folder: Path, out: Path) -> None:
    from scheduler.health import HealthState
    from scheduler.web.app import create_app
    from scheduler.web.server import WebServer
    from scheduler.web.site import ServiceView, Site

    config = load_config(folder / "config.toml")
    db = open_database(config.service.database)
    seed(db, config)
    started = utcnow() - timedelta(days=3, hours=4)
    view = ServiceView(
        started_at=started,
        last_poll_at=utcnow() - timedelta(seconds=40),
        polls_completed=1872,
        polling=(),
        health=HealthState(True, "ok: last poll 40s ago"),
        loop_lag_p99=0.0042,
    )
    site = Site(lambda: config, writer=lambda: db, service=lambda: view)
    server = WebServer(create_app(site), "127.0.0.1", 0)
    demo = ThreadingHTTPServer(("127.0.0.1", 0), _DemoSite)
    threading.Thread(target=demo.serve_forever, daemon=True).start()
    await server.start()
    try:
        demo_url = f"http://127.0.0.1:{demo.server_address[1]}/"
        await asyncio.to_thread(shoot, server.url("").rstrip("/"), demo_url, out)
    finally:
        await server.stop()
        await site.aclose()
        demo.shutdown()
        db.close()
        shutdown_reactor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "web")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="newswatch-shots-") as temp:
        folder = Path(temp)
        write_config(folder)
        print(f"writing screenshots to {args.out}")
        asyncio.run(serve_and_shoot(folder, args.out))


if __name__ == "__main__":
    main()
