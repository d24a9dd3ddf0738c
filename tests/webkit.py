"""Helpers for web interface tests: the real server in the test loop, a cookie-keeping client,
and a database with hostile feed text in it."""

from __future__ import annotations

import contextlib
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from alerts.outbox import store as outbox
from alerts.records import Hit
from crawler.db import Database, open_database, utcnow, write_transaction
from crawler.models import Article
from crawler.store import store_articles
from crawler.stories import StoryIndex
from scheduler.config import Config, load_config
from scheduler.health import HealthState
from scheduler.metrics import Metrics
from scheduler.web.app import create_app
from scheduler.web.server import WebServer
from scheduler.web.site import Site
from tests.loopthread import LoopThread

HOSTILE_TITLE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> Scam raid'
HOSTILE_URL = "javascript:window.pwned=3"


@contextlib.contextmanager
def serving(
    loop_thread: LoopThread, site: Site, *, pages: bool = True, port: int = 0
) -> Iterator[WebServer]:
    """Serve ``site`` on 127.0.0.1 from the test loop until the block ends."""
    server = WebServer(create_app(site, pages=pages), "127.0.0.1", port)
    loop_thread.run(server.start())
    try:
        yield server
    finally:
        loop_thread.run(server.stop())
        loop_thread.run(site.aclose())


@contextlib.contextmanager
def health_server(
    loop_thread: LoopThread,
    probe: Callable[[], HealthState],
    metrics: Metrics | None = None,
    *,
    port: int = 0,
) -> Iterator[WebServer]:
    """/healthz and /metrics only, as the older ``[service] health`` serves them."""
    config = Config(path=Path("config.toml"), folder=Path("."))
    with serving(
        loop_thread, Site(lambda: config, probe=probe, metrics=metrics), pages=False, port=port
    ) as server:
        yield server


@dataclass
class Reply:
    """One HTTP answer."""

    status: int
    headers: Message  # case-insensitive
    text: str

    def csrf(self) -> str:
        """The CSRF token of the page's forms."""
        found = re.search(r'name="csrf-token" content="([^"]+)"', self.text)
        assert found, "no CSRF token on this page"
        return found.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Client:
    """A browser without JavaScript: keeps cookies, follows redirects (unless asked not to)."""

    base: str
    jar: CookieJar = field(default_factory=CookieJar)

    def _open(self, request: urllib.request.Request, follow: bool) -> Reply:
        handlers: list[Any] = [urllib.request.HTTPCookieProcessor(self.jar)]
        if not follow:
            handlers.append(_NoRedirect())
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(request, timeout=60) as response:
                return Reply(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.headers, exc.read().decode())

    def get(
        self, path: str, *, follow: bool = True, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """GET ``path``."""
        request = urllib.request.Request(self.base + path, headers=dict(headers or {}))
        return self._open(request, follow)

    def post(
        self,
        path: str,
        fields: Mapping[str, Any] | list[tuple[str, str]],
        *,
        follow: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """POST a url-encoded form (pass ``csrf`` in ``fields`` yourself)."""
        pairs = list(fields.items()) if isinstance(fields, Mapping) else fields
        body = urllib.parse.urlencode(pairs, doseq=True).encode()
        request = urllib.request.Request(
            self.base + path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )
        return self._open(request, follow)

    def token(self, path: str = "/") -> str:
        """The CSRF token of this client's session (read from a page)."""
        return self.get(path).csrf()


CONFIG = """\
# The team's newswatch: comments like this one must survive edits from the web.
[service]
database = "newswatch.db"   # next to this file
interval = "1h"
timeout = "5s"

[sources.kt]
type = "rss"
url = "http://127.0.0.1:9/kt"

# The Phnom Penh Post
[sources.pp]
type = "rss"
url = "http://127.0.0.1:9/pp"

# --- Rules ---
[rules.scam]
query = "scam AND raid"   # raids on scam compounds
channels = ["box"]

[rules.casino]
query = "casino"
channels = ["box"]
languages = ["en"]

[channels.box]
type = "mbox"
path = "alerts.mbox"
"""


def write_web_config(folder: Path, *, web: Mapping[str, str] | None = None) -> Path:
    """A config with two sources, two rules and an mbox channel (and ``[web]``), with
    comments that edits must keep."""
    text = CONFIG
    if web:
        text += "\n[web]\n" + "".join(f'{key} = "{value}"\n' for key, value in web.items())
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def seed(db: Database) -> dict[str, int]:
    """Articles (one with a hostile title and URL, one story carried by two outlets), matches,
    and a failed delivery. Returns article ids by label."""
    now = utcnow()

    def article(
        slug: str, title: str, source: str, hours: int, body: str, url: str | None = None
    ) -> Article:
        when = now - timedelta(hours=hours)
        return Article(url or f"https://news.example/{slug}", source, title, body, when, when, slug)

    story = (
        "Police raided a suspected scam compound in Sihanoukville on Friday and rescued forty "
        "workers from Thailand, Indonesia and Kenya who said they had been forced to run online "
        "fraud schemes. Officers seized computers and phones, and detained the managers of the "
        "compound, which had operated behind a casino hotel for more than a year, a spokesman "
        "for the provincial police said on Saturday."
    )
    hostile = "A scam raid was reported. <script>window.pwned = 4</script> Nothing else is known."
    articles = [
        article("hostile", HOSTILE_TITLE, "kt", 1, hostile, HOSTILE_URL),
        article("story-kt", "Scam compound raided in Sihanoukville", "kt", 2, story),
        article(
            "story-pp", "Sihanoukville scam compound raided", "pp", 3, story + " More follows."
        ),
        article("casino", "Casino licence suspended", "pp", 30, "The casino lost its licence."),
        article("quiet", "Rice harvest", "pp", 50, "Farmers expect a good rice harvest."),
    ]
    labels = [a.guid for a in articles]
    ids = dict(zip(labels, store_articles(db, articles, StoryIndex(db)), strict=True))
    with write_transaction(db):
        for slug, body in (("hostile", hostile), ("story-kt", story), ("story-pp", story)):
            at = body.index("scam")
            hits = [Hit("body", at, at + 4, "scam")]
            outbox.record_match(db, rule="scam", article_id=ids[slug], hits=hits, channels=["box"])
        hits = [Hit("title", 0, 6, "casino")]
        outbox.record_match(
            db, rule="casino", article_id=ids["casino"], hits=hits, channels=["box"]
        )
    failed = outbox.due_deliveries(db)[0]
    outbox.mark_failed_attempt(db, failed, "connection refused", permanent=True)
    return ids


@dataclass
class WebSite:
    """A running web interface over a seeded database, and a client for it."""

    config_path: Path
    db: Database
    ids: dict[str, int]
    server: WebServer
    site: Site
    client: Client
    reloads: list[Config]
    loop: LoopThread

    @property
    def config(self) -> Config:
        return self.site.config


@contextlib.contextmanager
def web_site(
    tmp_path: Path,
    loop_thread: LoopThread,
    *,
    read_only: bool = False,
    web: Mapping[str, str] | None = None,
) -> Iterator[WebSite]:
    """Serve a seeded database, writable (as inside the service) unless ``read_only``."""
    path = write_web_config(tmp_path, web=web)
    holder = {"config": load_config(path)}
    db = open_database(holder["config"].service.database)
    ids = seed(db)
    reloads: list[Config] = []

    def reload() -> None:
        holder["config"] = load_config(path)
        reloads.append(holder["config"])

    site = Site(
        lambda: holder["config"],
        writer=None if read_only else (lambda: db),
        on_config_saved=reload,
    )
    with serving(loop_thread, site) as server:
        yield WebSite(
            path, db, ids, server, site, Client(server.url("").rstrip("/")), reloads, loop_thread
        )
    db.close()
