"""The programs newswatch is compared with: rss2email 3.14 and the naive loop.

rss2email runs from its own virtual environment (``--r2e``, default
``/work/venvs/r2e/bin/r2e``; install with ``pip install rss2email==3.14``) with ``run
--no-send``: it fetches and parses every feed and builds each entry's message, but neither
stores articles nor matches rules, as in issue 12.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from benchmarks.procs import Measured, run_measured

HERE = Path(__file__).resolve().parent
DEFAULT_R2E = Path("/work/venvs/r2e/bin/r2e")


def find_r2e(given: str | None) -> Path | None:
    """The r2e executable to use, or None when there is none."""
    for candidate in (given, str(DEFAULT_R2E), shutil.which("r2e")):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def write_r2e_config(folder: Path, urls: list[str]) -> tuple[Path, Path]:
    """An rss2email config with every feed, and the path of its (not yet written) data file."""
    lines = [
        "[DEFAULT]",
        "to = bench@example.org",
        "from = r2e@example.org",
        "feed-timeout = 60",
        "same-server-fetch-interval = 0",
        "verbose = warning",
    ]
    for index, url in enumerate(urls):
        lines += ["", f"[feed.f{index:04d}]", f"url = {url}"]
    config = folder / "r2e.cfg"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config, folder / "r2e.json"  # rss2email creates it on its first run


def run_r2e(r2e: Path, folder: Path, urls: list[str], name: str) -> Measured:
    """One ``r2e run --no-send`` over every feed (the data file keeps ETags between runs)."""
    config, data = folder / "r2e.cfg", folder / "r2e.json"
    if not config.exists():
        config, data = write_r2e_config(folder, urls)
    env = {"HOME": str(folder), "XDG_RUNTIME_DIR": str(folder), "no_proxy": "*"}
    cmd = [str(r2e), "-c", str(config), "-d", str(data), "run", "--no-send"]
    return run_measured(cmd, folder, name, env=env, timeout=3600)


def run_naive(folder: Path, urls: list[str], rules_json: Path, name: str = "naive") -> Measured:
    """benchmarks/naive.py in a child process; its JSON report is on its stdout."""
    url_file = folder / "naive-urls.txt"
    url_file.write_text("\n".join(urls) + "\n", encoding="utf-8")
    db = folder / "naive.db"
    db.unlink(missing_ok=True)
    cmd = [sys.executable, str(HERE / "naive.py"), "--urls", str(url_file)]
    cmd += ["--rules", str(rules_json), "--db", str(db)]
    return run_measured(cmd, folder, name, env={"PATH": "/usr/bin:/bin", "no_proxy": "*"})


def naive_report(measured: Measured) -> dict:
    lines = measured.stdout.read_text().strip().splitlines()
    if measured.returncode != 0 or not lines:
        raise RuntimeError(f"naive loop failed:\n{measured.text()[-2000:]}")
    return json.loads(lines[-1])
