"""Make the fixture database ``release-dfa0e51.db`` with the code of a given release.

The file stands for a database written by the release before schema versions (commit
dfa0e51): test_schema.py checks that the current code upgrades it in place and loses
nothing. It is made by running that release's real command line: one ``newswatch once``
against feeds served from 127.0.0.1 (two outlets carrying one story, and a source that
answers 404), with an immediate rule (sent to an mbox), a digest rule (held for Monday's
digest), a rule routed to a webhook nobody listens on (retrying), operations alerts for
the broken source, and then ``newswatch mute``. Only the command line is used, so the
script works with any release's code::

    git worktree add /tmp/nw-dfa0e51 dfa0e51
    python tests/data/store/make_release_db.py --code /tmp/nw-dfa0e51 \\
        --out tests/data/store/release-dfa0e51.db
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RAID = (
    "Police raided a suspected online scam compound in Sihanoukville on Friday, freeing "
    "more than two hundred workers from several countries who said they had been lured "
    "with offers of office jobs and then forced to defraud strangers over the internet. "
    "Officers seized hundreds of phones and computers, arrested the managers of the "
    "compound and handed the rescued workers to the immigration department, which said "
    "it would send them home once their embassies confirmed their identities. The raid "
    "followed complaints from families abroad who had not heard from relatives for weeks."
)
RICE = (
    "Rice prices in Battambang held steady this week as farmers brought in the last of "
    "the wet season harvest, traders said, with export demand from neighbouring countries "
    "matching the larger supply and mills running at full capacity for the first time in "
    "two years."
)
FEEDS = {
    "/kt.xml": [
        ("Police raid scam compound in Sihanoukville", "kt-1", "raid", RAID),
        ("Rice prices steady", "kt-2", "rice", RICE),
    ],
    "/pp.xml": [
        ("Hundreds freed from Sihanoukville compound", "pp-1", "freed", RAID + " More soon."),
    ],
}


def rss(path: str) -> bytes:
    """An RSS 2.0 document for one of :data:`FEEDS`."""
    host = "kt" if path == "/kt.xml" else "pp"
    stamp = format_datetime(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    items = "".join(
        f"<item><title>{title}</title><link>https://{host}.example.org/{slug}</link>"
        f"<guid>{guid}</guid><pubDate>{stamp}</pubDate><description>{text}</description></item>"
        for title, guid, slug, text in FEEDS[path]
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{host}</title><link>https://{host}.example.org/</link>{items}</channel></rss>"
    ).encode()


class Feeds(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        body = rss(self.path) if self.path in FEEDS else b"gone"
        self.send_response(200 if self.path in FEEDS else 404)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


CONFIG = """\
[service]
database = "newswatch.db"
interval = "1h"
timeout = "5s"
timezone = "UTC"
failure_alert_after = 1
ops_channels = ["ops"]

[sources.kt]
type = "rss"
url = "{base}/kt.xml"

[sources.pp]
type = "rss"
url = "{base}/pp.xml"

[sources.gone]
type = "rss"
url = "{base}/gone.xml"

[rules.scam]
query = "scam OR freed"
channels = ["box"]

[rules.weekly]
query = "compound"
mode = "digest"
digest = "0 8 * * 1"
send_empty = true
channels = ["box"]

[rules.rice]
query = "rice"
channels = ["hook"]

[channels.box]
type = "mbox"
path = "alerts.mbox"

[channels.ops]
type = "mbox"
path = "ops.mbox"

[channels.hook]
type = "webhook"
url = "http://127.0.0.1:9/nobody-listens"
format = "json"
"""


def newswatch(code: Path, folder: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env["PYTHONPATH"] = str(code)
    cmd = [sys.executable, "-m", "newswatch", *args, "--config", str(folder / "config.toml")]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=code, timeout=120)
    print("$ newswatch", " ".join(args), "->", result.returncode, result.stdout.strip())
    if result.returncode != 0:
        raise SystemExit(result.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, required=True, help="the release's source tree")
    parser.add_argument("--out", type=Path, required=True, help="where to write the database")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Feeds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        (folder / "config.toml").write_text(CONFIG.format(base=base), encoding="utf-8")
        newswatch(args.code.resolve(), folder, "once")
        newswatch(args.code.resolve(), folder, "mute", "scam", "--for", "3650d")
        server.shutdown()
        # Fold the write-ahead log into the file, so the one file holds everything.
        conn = sqlite3.connect(folder / "newswatch.db")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        shutil.copyfile(folder / "newswatch.db", args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
